"""The one way CI jobs call the Pulumi CLI: `python -m ci.pulumi_cli COMMAND --stack NAME`
(or `--branch BRANCH`, which names the stack the way infra.stack_name does).

It selects the stack (creating only test stacks: a missing prod means a wrong backend or
token, and creating it would build a second production), gives test stacks the shared
Pulumi.test.yaml, pins the image tag to the commit being deployed (and, given them, the
images to the digests its build jobs pushed: ci.image_digests), runs the policy pack on
every preview and update, never prompts, writes the stack's URL to a dotenv file for
GitLab, and refuses to destroy or remove prod however it is asked to. Destroying a stack
that is already gone (the reaper got there first) succeeds.

Pulumi's answers are read from its machine output only (`--json`: `stack ls`, `whoami`,
`stack output`, `preview`), never from the tables and text it prints for people.

Secrets come from CI/CD variables and are set as Pulumi secrets on every preview and up,
value on stdin only: review stacks are created on the fly and share one config file, so
they could not carry secrets of their own, and the variables stay the one place to rotate.
Prod and the test stacks read their own variables (`<NAME>_PROD`, `<NAME>_TEST`:
ci/stack_credentials.py), prod's are required, and in a GitLab job prod is reached only
from the protected `production` branch.
"""

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from ci import (
    image_digests,
    preview_diff,
    pulumi_oidc,
    stack_credentials,
    state_backend,
    update_outcome,
)
from infra import stack_name
from infra.image_tag import is_image_tag
from infra.stack_defaults import stack_defaults

COMMANDS = ("preview", "up", "destroy", "stack-rm")
DESTRUCTIVE = frozenset({"destroy", "stack-rm"})
IMAGE_TAG_KEY = "canny:imageTag"
# `pulumi preview|up --policy-pack DIR` runs the pack during the operation and a mandatory
# violation fails it (https://www.pulumi.com/docs/iac/using-pulumi/crossguard/get-started/).
POLICY_PACK = "infra/policy"
REGISTRY_IMAGE_KEY = "canny:registryImage"
# A new value per update re-runs compose up and the gate (infra/deploy.py), so retrying a
# failed deploy job (a new CI_JOB_ID) really deploys again.
DEPLOY_ID_KEY = "canny:deployId"
# Outputs of infra/__main__.py that later jobs need, and their dotenv names.
DOTENV_OUTPUTS = {"url": "DEPLOY_URL", "ip": "DEPLOY_IP"}
# The digitalocean provider manages a SpacesBucket through the S3 API with a Spaces key, read
# from these environment variables unless the stack config has digitalocean:spacesAccessId
# and digitalocean:spacesSecretKey (terraform-provider-digitalocean docs/index.md,
# digitalocean/provider.go; bridged as-is by pulumi-digitalocean). Passed by environment
# only: masked CI/CD variables (<NAME>_PROD / <NAME>_TEST), never a command line.
SPACES_VARIABLES = ("SPACES_ACCESS_KEY_ID", "SPACES_SECRET_ACCESS_KEY")
SPACES_CONFIG_KEYS = ("digitalocean:spacesAccessId", "digitalocean:spacesSecretKey")
RESULTS_STORE_KEY = "canny:resultsStore"


class RefusedError(Exception):
    """A request the wrapper will not pass on to Pulumi."""


def check_allowed(command: str, stack: str, environ: Mapping[str, str]) -> str:
    """Return the validated bare stack name, or raise RefusedError.

    PULUMI_STACK is checked too although the wrapper never forwards it: a destroy job
    that was pointed at prod by any means is a mistake worth stopping loudly.
    """
    try:
        name = stack_name.validate(stack)
    except ValueError as error:
        raise RefusedError(str(error)) from error
    if command in DESTRUCTIVE:
        for source, value in (("--stack", stack), ("PULUMI_STACK", environ.get("PULUMI_STACK"))):
            if value and stack_name.is_prod(value):
                raise RefusedError(f"refusing to {command} the prod stack (named by {source})")
    return name


def image_tag(explicit: str | None, environ: Mapping[str, str]) -> str:
    tag = explicit or environ.get("CI_COMMIT_SHA", "")
    if not tag:
        raise RefusedError("no image tag: pass --image-tag or set CI_COMMIT_SHA")
    if not is_image_tag(tag):
        raise RefusedError(f"{tag!r} is not a valid image tag")
    return tag


def check_protected_ref(stack: str, environ: Mapping[str, str]) -> None:
    """In a GitLab job, prod only from the protected `production` branch. GitLab sets
    GITLAB_CI, CI_COMMIT_BRANCH and CI_COMMIT_REF_PROTECTED ("true" on a protected branch or
    tag) in every job (https://docs.gitlab.com/ci/variables/predefined_variables/); the
    pipeline's rules say the same, this stops a job a branch added or edited."""
    if not stack_name.is_prod(stack) or environ.get("GITLAB_CI") != "true":
        return
    branch = environ.get("CI_COMMIT_BRANCH")
    if branch != stack_name.PROD_BRANCH or environ.get("CI_COMMIT_REF_PROTECTED") != "true":
        raise RefusedError(
            f"prod is deployed only from the protected branch {stack_name.PROD_BRANCH!r}, not from "
            f"{branch or environ.get('CI_COMMIT_REF_NAME')!r} (protected: "
            f"{environ.get('CI_COMMIT_REF_PROTECTED', 'unknown')}); docs/security.md"
        )


def secret_values(stack: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Config key -> secret value, for each of the stack's side's secret variables set."""
    try:
        return stack_credentials.config_secrets(stack, environ, secrets_from_esc(stack))
    except stack_credentials.CredentialError as error:
        raise RefusedError(str(error)) from error


def _stack_document(stack: str, directory: Path) -> dict[str, object]:
    path = directory / stack_name.stack_file(stack)
    if not path.is_file():
        return {}
    document = yaml.safe_load(path.read_text()) or {}
    return document if isinstance(document, dict) else {}


def stack_config(stack: str, directory: Path = Path()) -> dict[str, object]:
    """The `config:` of the stack's file (Pulumi.test.yaml or Pulumi.<stack>.yaml), or {}."""
    config = _stack_document(stack, directory).get("config")
    return config if isinstance(config, dict) else {}


def secrets_from_esc(stack: str, directory: Path = Path()) -> bool:
    """Prod's stack file imports an ESC environment (its `environment:` block:
    https://www.pulumi.com/docs/esc/guides/pulumi-iac/), which then supplies prod's secrets."""
    return stack_name.is_prod(stack) and bool(_stack_document(stack, directory).get("environment"))


def check_spaces_credentials(stack: str, env: Mapping[str, str]) -> None:
    """Refuse before Pulumi runs when the stack's bucket could not be managed: half a key
    pair in the environment Pulumi gets, or a stack with results in Spaces and no key at all
    (the provider would fail mid-update, after other resources changed)."""
    variables = [stack_credentials.side_variable(name, stack) for name in SPACES_VARIABLES]
    present = [name for name in SPACES_VARIABLES if env.get(name)]
    if len(present) == 1:
        given = stack_credentials.side_variable(present[0], stack)
        (missing,) = set(variables) - {given}
        raise RefusedError(f"{given} is set but {missing} is not: set both (docs/security.md)")
    if present:
        return
    config = stack_config(stack)
    store = config.get(RESULTS_STORE_KEY, stack_defaults(stack)["resultsStore"])
    if store != "spaces":
        return
    if all(key in config for key in SPACES_CONFIG_KEYS):
        return
    raise RefusedError(
        f"stack {stack} keeps results in Spaces ({RESULTS_STORE_KEY}: spaces), which needs a "
        f"Spaces key: set the masked CI/CD variables {' and '.join(variables)} "
        "(docs/security.md)"
    )


def _with_config_file(stack: str, args: list[str]) -> list[str]:
    config_file = stack_name.config_file(stack)
    return [*args, "--config-file", config_file] if config_file else args


def config_set_line(stack: str, key: str) -> list[str]:
    """`pulumi config set --secret KEY` without a value: Pulumi then reads it from stdin."""
    common = _with_config_file(stack, ["--stack", stack, "--non-interactive"])
    return ["pulumi", "config", "set", "--secret", *common, key]


def command_lines(
    command: str,
    stack: str,
    tag: str | None,
    registry_image: str | None = None,
    deploy_id: str | None = None,
    event_log: Path | None = None,
    digests: Mapping[str, str] | None = None,
) -> list[list[str]]:
    """The exact pulumi invocations for one wrapper command, in order (secrets excluded).

    `up` on prod refreshes first (`--refresh`): a change made outside Pulumi (a resized
    droplet, a firewall rule edited in the console) is read back before the update plans,
    so the update neither undoes it blindly nor fails on it
    (https://www.pulumi.com/docs/iac/cli/commands/pulumi_up/ "--refresh"). `event_log`
    asks for Pulumi's engine events (ci.update_outcome)."""
    common = ["--stack", stack, "--non-interactive"]
    with_config = _with_config_file(stack, common)
    pin = ["--config", f"{IMAGE_TAG_KEY}={tag}", *image_digests.config_args(digests or {})]
    if registry_image:
        pin += ["--config", f"{REGISTRY_IMAGE_KEY}={registry_image}"]
    create = [] if stack_name.is_prod(stack) else ["--create"]
    select = ["pulumi", "stack", "select", *create, *common]
    policy = ["--policy-pack", POLICY_PACK]
    if command == "preview":
        return [select, ["pulumi", "preview", *with_config, "--json", *policy, *pin]]
    if command == "up":
        if deploy_id:
            pin += ["--config", f"{DEPLOY_ID_KEY}={deploy_id}"]
        refresh = ["--refresh"] if stack_name.is_prod(stack) else []
        events = update_outcome.event_log_args(event_log)
        up = ["pulumi", "up", *with_config, "--yes", "--color", "never", *refresh, *events]
        return [select, [*up, *policy, *pin]]
    if command == "destroy":
        return [["pulumi", "destroy", *with_config, "--yes", "--color", "never"]]
    # No --force: Pulumi then refuses to forget a stack that still owns resources.
    return [["pulumi", "stack", "rm", *common, "--yes"]]


def pulumi_environment(environ: Mapping[str, str], stack: str) -> dict[str, str]:
    """The stack is only ever named on the command line, so PULUMI_STACK is dropped; the
    credentials are the stack's side's only, under the names Pulumi reads, and prod's state
    token may come from the job's GitLab ID token (ci/pulumi_oidc.py); an S3 state backend
    gets the region it needs (ci.state_backend)."""
    try:
        env = stack_credentials.pulumi_environment(stack, environ, secrets_from_esc(stack))
        if stack_name.is_prod(stack) and pulumi_oidc.wanted(environ):
            env["PULUMI_ACCESS_TOKEN"] = pulumi_oidc.exchange(environ)
    except (stack_credentials.CredentialError, pulumi_oidc.ExchangeError) as error:
        raise RefusedError(str(error)) from error
    env.pop("PULUMI_STACK", None)
    # The ID token has done its work once exchanged: Pulumi and the program never need it.
    env.pop(pulumi_oidc.ID_TOKEN_VARIABLE, None)
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    try:
        # After the mapping: the side's backend URL is PULUMI_BACKEND_URL here.
        env.update(state_backend.region_environment(env))
    except state_backend.MissingRegionError as error:
        raise RefusedError(str(error)) from error
    return env


def preview_summary(preview_json: str) -> list[str]:
    """One line per kind of change, from the `changeSummary` of `pulumi preview --json`
    (the PreviewDigest that pulumi/pulumi pkg/backend/display/json.go prints)."""
    changes = json.loads(preview_json).get("changeSummary") or {}
    return [f"{operation}: {count}" for operation, count in sorted(changes.items())]


def existing_stacks(env: Mapping[str, str]) -> set[str]:
    """Bare names of this project's stacks in the logged-in backend (`stack ls --json`)."""
    listing = json.loads(_run(["pulumi", "stack", "ls", "--json"], env, capture=True))
    return {stack_name.bare_name(entry["name"]) for entry in listing}


def backend_url(env: Mapping[str, str]) -> str:
    """Where the state lives (`whoami --json`: its `url`), for messages about missing stacks."""
    return str(json.loads(_run(["pulumi", "whoami", "--json"], env, capture=True)).get("url"))


def stack_outputs(stack: str, env: Mapping[str, str]) -> dict[str, object]:
    return json.loads(
        _run(["pulumi", "stack", "output", "--stack", stack, "--json"], env, capture=True)
    )


def dotenv_lines(stack: str, outputs: Mapping[str, object]) -> list[str]:
    lines = [f"DEPLOY_STACK={stack}"]
    for output, variable in DOTENV_OUTPUTS.items():
        value = outputs.get(output)
        if not isinstance(value, str) or not value or value == "[secret]" or "\n" in value:
            raise ValueError(f"stack output {output!r} is missing or not a plain string: {value!r}")
        lines.append(f"{variable}={value}")
    return lines


def _run(
    args: Sequence[str], env: Mapping[str, str], capture: bool = False, stdin: str = ""
) -> str:
    """Run one pulumi command; stdin carries secret values, which are never printed."""
    print("+ " + " ".join(args), flush=True)
    result = subprocess.run(
        args, env=env, text=True, capture_output=capture, input=stdin, check=False
    )
    if result.returncode != 0:
        if capture:
            sys.stdout.write(result.stdout)
            sys.stderr.write(result.stderr)
        raise subprocess.CalledProcessError(result.returncode, args)
    return result.stdout if capture else ""


def run_pulumi(args: Sequence[str], env: Mapping[str, str]) -> None:
    """One pulumi command whose output goes to the job log (for the other ci modules)."""
    _run(args, env)


def _write_preview(stack: str, output: str, preview_file: Path) -> None:
    preview_file.write_text(output)
    summary = preview_summary(output) or ["(the preview has no change summary)"]
    print(f"preview of stack {stack} (full diff in {preview_file}):")
    for line in summary:
        print(f"    {line}")
    changes = preview_diff.diff_lines(output) or ["(no resource changes)"]
    print("changes (property names only; values are in the artifact, secrets masked):")
    for line in changes:
        print(f"    {line}")


def _write_dotenv(stack: str, env: Mapping[str, str], dotenv: Path) -> None:
    outputs = stack_outputs(stack, env)
    dotenv.write_text("\n".join(dotenv_lines(stack, outputs)) + "\n")
    print(f"wrote {dotenv}: DEPLOY_URL={outputs['url']}")


def run(
    command: str,
    stack: str,
    environ: Mapping[str, str],
    explicit_tag: str | None = None,
    preview_file: Path = Path("preview.json"),
    dotenv: Path = Path("deploy.env"),
    deploy_id: str | None = None,
    event_log: Path | None = None,
    digests: Mapping[str, str] | None = None,
) -> None:
    """Raise RefusedError before anything runs, CalledProcessError when pulumi fails.

    `deploy_id` defaults to the job's CI_JOB_ID (none outside CI); `event_log` (up only)
    is where Pulumi writes its engine events; `digests` (image name -> digest) pins the
    images."""
    name = check_allowed(command, stack, environ)
    check_protected_ref(name, environ)
    deploys = command in ("preview", "up")
    tag = image_tag(explicit_tag, environ) if deploys else None
    env = pulumi_environment(environ, name) | update_outcome.event_log_environment(event_log)
    secrets = secret_values(name, environ) if deploys else {}
    if name not in existing_stacks(env):
        if command in DESTRUCTIVE:
            print(f"stack {name} does not exist (already destroyed and removed): nothing to do")
            return
        if stack_name.is_prod(name):
            raise RefusedError(
                f"stack {name} does not exist in the backend {backend_url(env)}; CI never "
                "creates prod: check PULUMI_ACCESS_TOKEN / PULUMI_BACKEND_URL and the stack name"
            )
    if command != "stack-rm":
        check_spaces_credentials(name, env)
    *setup, main_step = command_lines(
        command,
        stack,
        tag,
        environ.get("CI_REGISTRY_IMAGE"),
        deploy_id or environ.get("CI_JOB_ID"),
        event_log,
        digests,
    )
    for args in setup:
        _run(args, env)
    for key, value in secrets.items():
        _run(config_set_line(stack, key), env, stdin=value)
    if command == "preview":
        _write_preview(name, _run(main_step, env, capture=True), preview_file)
        return
    _run(main_step, env)
    if command == "up":
        _write_dotenv(stack, env, dotenv)


def read_digests(path: Path) -> dict[str, str]:
    """The build jobs' digest files (a folder) or release_images' record (a file)."""
    if path.is_dir():
        return image_digests.from_build_files(path)
    return image_digests.from_release_record(path)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ci.pulumi_cli", description=__doc__)
    parser.add_argument("command", choices=COMMANDS)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("-s", "--stack", help="prod, test or test-<branch slug>")
    target.add_argument("--branch", help="the git branch whose stack to use")
    parser.add_argument("--image-tag", help="image tag to deploy (default: $CI_COMMIT_SHA)")
    parser.add_argument(
        "--image-digests",
        type=Path,
        help="pin the images: the build jobs' digest folder or release_images' record",
    )
    parser.add_argument("--preview-file", type=Path, default=Path("preview.json"))
    parser.add_argument("--dotenv", type=Path, default=Path("deploy.env"))
    return parser.parse_args(argv)


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    args = parse_args(argv)
    try:
        stack = args.stack or stack_name.stack_for_branch(args.branch)
        digests = read_digests(args.image_digests) if args.image_digests else None
        run(
            args.command,
            stack,
            environ,
            args.image_tag,
            args.preview_file,
            args.dotenv,
            digests=digests,
        )
    except RefusedError as error:
        print(f"pulumi_cli: refused: {error}", file=sys.stderr)
        return 3
    except subprocess.CalledProcessError as error:
        print(f"pulumi_cli: {' '.join(error.cmd)} exited with {error.returncode}", file=sys.stderr)
        return 1
    except FileNotFoundError:
        print("pulumi_cli: the pulumi CLI is not on PATH", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"pulumi_cli: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
