// Decide which pipelines `workflow:rules` lets GitLab create, with gitlab-ci-local's own
// rule evaluator (`gitlab-ci-local --list` does not apply workflow rules at all).
//
//   node workflow_rules.mjs GITLAB_CI_LOCAL_SRC_DIR < {"rules": [...], "pipelines": {name: variables}}
//
// Prints {name: when}; GitLab creates the pipeline unless `when` is "never". Rules are
// evaluated top down and the first match decides (https://docs.gitlab.com/ci/yaml/workflow/).
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import path from "node:path";

const sourceDir = process.argv[2];
const { Utils } = await import(pathToFileURL(path.join(sourceDir, "utils.js")).href);
const { rules, pipelines } = JSON.parse(readFileSync(0, "utf-8"));
const decided = {};
for (const [name, variables] of Object.entries(pipelines)) {
  const result = Utils.getRulesResult(
    { rules, variables, cwd: ".", argv: {} },
    { branches: { default: "develop" } },
  );
  decided[name] = result.when;
}
process.stdout.write(JSON.stringify(decided));
