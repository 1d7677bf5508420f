// Decide which pipelines `workflow:rules` let GitLab create, or which jobs a pipeline gets,
// with gitlab-ci-local's own rule evaluator (`gitlab-ci-local --list` does not apply
// workflow rules at all).
//
//   node workflow_rules.mjs GITLAB_CI_LOCAL_SRC_DIR < {"cases": {name: {rules, variables}}}
//
// Prints {name: when}; GitLab creates the pipeline (or job) unless `when` is "never". Rules
// are evaluated top down and the first match decides (https://docs.gitlab.com/ci/yaml/workflow/).
import { pathToFileURL } from "node:url";
import path from "node:path";

const sourceDir = process.argv[2];
const { Utils } = await import(pathToFileURL(path.join(sourceDir, "utils.js")).href);
// Read stdin as a stream: readFileSync(0) fails with EAGAIN on a pipe whose writer has not
// written everything yet, which a large batch of cases hits.
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { cases } = JSON.parse(Buffer.concat(chunks).toString("utf-8"));
const decided = {};
for (const [name, { rules, variables }] of Object.entries(cases)) {
  const result = Utils.getRulesResult(
    { rules, variables, cwd: ".", argv: {} },
    { branches: { default: "develop" } },
  );
  decided[name] = result.when;
}
process.stdout.write(JSON.stringify(decided));
