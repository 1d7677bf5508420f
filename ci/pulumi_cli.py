"""The one way CI jobs call the Pulumi CLI: `python -m ci.pulumi_cli COMMAND --stack NAME`
(or `--branch BRANCH`, which names the stack the way infra.stack_name does).

It selects the stack (creating only test stacks: a missing prod means a wrong backend or
token, and creating it would build a second production), gives test stacks the shared
Pulumi.test.yaml, pins the image tag to the commit being deployed (and, given them, the
images to the digests its build jobs pushed: ci.image_digests), runs the policy pack on
every preview and update, never prompts, writes the stack's URL to a dotenv file for
GitLab, and refuses to destroy or remove prod however it is asked to. Destroying a stack
that is already gone (the reaper got there first) succeeds.

Pulumi is driven through its Automation API (ci.pulumi_automation), which reads the CLI's
machine output; the preview's JSON is saved as the job's artifact.

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
from pulumi import automation as auto

from ci import (
    image_digests,
    preview_diff,
    pulumi_automation,
    pulumi_oidc,
    stack_credentials,
    state_backend,
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


def config_set_line(stack: str, key: str) -> list[str]:
    """`pulumi config set --secret KEY` without a value: Pulumi then reads it from stdin.

    Not the Automation API's `set_config`: it passes the value as an argument
    (sdk/python/lib/pulumi/automation/_local_workspace.py, set_config: `"--", value.value`),
    which any process on the runner can read in /proc/PID/cmdline."""
    line = ["pulumi", "config", "set", "--secret", "--stack", stack, "--non-interactive"]
    return [*line, *_config_file_args(stack), key]


def _config_file_args(stack: str) -> list[str]:
    config_file = stack_name.config_file(stack)
    return ["--config-file", config_file] if config_file else []


def config_pins(
    tag: str | None,
    registry_image: str | None = None,
    deploy_id: str | None = None,
    digests: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The plain config values that pin what an update deploys (no secret among them)."""
    pins = {IMAGE_TAG_KEY: tag, **image_digests.config_values(digests or {})}
    pins |= {REGISTRY_IMAGE_KEY: registry_image, DEPLOY_ID_KEY: deploy_id}
    return {key: value for key, value in pins.items() if value}


def set_pins(workspace: auto.LocalWorkspace, stack: str, pins: Mapping[str, str]) -> None:
    """Save the pins in the stack's config file before the preview or update reads it, as
    `pulumi up --config` did ("Config to use during the update and save to the stack config
    file": https://www.pulumi.com/docs/iac/cli/commands/pulumi_up/). The arguments are those
    of the Automation API's `set_all_config` (_local_workspace.py: `config set-all --stack S
    --plaintext K=V`) plus the `--config-file` it cannot pass, which set-all inherits from
    `pulumi config` (https://www.pulumi.com/docs/iac/cli/commands/pulumi_config_set-all/,
    "Options inherited from parent commands"): test stacks share Pulumi.test.yaml, which
    the update reads through Stack.up(config_file=...)."""
    args = ["config", "set-all", "--stack", stack, *_config_file_args(stack)]
    for key, value in pins.items():
        args += ["--plaintext", f"{key}={value}"]
    workspace.pulumi_command.run(args, workspace.work_dir, {})


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


def existing_stacks(workspace: auto.LocalWorkspace) -> set[str]:
    """Bare names of this project's stacks in the logged-in backend."""
    return {stack_name.bare_name(summary.name) for summary in workspace.list_stacks()}


def backend_url(workspace: auto.LocalWorkspace) -> str:
    """Where the state lives, for messages about missing stacks."""
    return str(workspace.who_am_i().url)


def dotenv_lines(stack: str, outputs: Mapping[str, auto.OutputValue]) -> list[str]:
    """Stack.up hands back every output decrypted (automation/_local_workspace.py,
    stack_outputs: `stack output --json --show-secrets`), each marked secret or not: only
    plain ones may reach the dotenv, which GitLab shows to every later job."""
    lines = [f"DEPLOY_STACK={stack}"]
    for output, variable in DOTENV_OUTPUTS.items():
        found = outputs.get(output)
        value = found.value if found is not None and not found.secret else None
        if not isinstance(value, str) or not value or "\n" in value:
            raise ValueError(f"stack output {output!r} is missing, secret or not a plain string")
        lines.append(f"{variable}={value}")
    return lines


def _run(args: Sequence[str], env: Mapping[str, str], stdin: str) -> None:
    """Run one pulumi command with a secret on stdin, which is never printed."""
    print("+ " + " ".join(args), flush=True)
    result = subprocess.run(args, env=env, text=True, input=stdin, check=False)
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, args)


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


def _write_dotenv(stack: str, outputs: Mapping[str, auto.OutputValue], dotenv: Path) -> None:
    dotenv.write_text("\n".join(dotenv_lines(stack, outputs)) + "\n")
    print(f"wrote {dotenv}: DEPLOY_URL={outputs['url'].value}")


def _remove(workspace: auto.LocalWorkspace, stack: str) -> None:
    # No force: Pulumi then refuses to forget a stack that still owns resources
    # (_local_workspace.py remove_stack adds --force only when asked).
    print(f"+ pulumi stack rm {stack}", flush=True)
    workspace.remove_stack(stack)


def _destroy(workspace: auto.LocalWorkspace, stack: str) -> None:
    print(f"+ pulumi destroy --stack {stack}", flush=True)
    auto.Stack.select(stack, workspace).destroy(
        color="never",
        show_secrets=False,
        config_file=stack_name.config_file(stack),
        on_output=pulumi_automation.to_log,
        on_error=pulumi_automation.to_error_log,
    )


def _deploy(
    command: str,
    stack: auto.Stack,
    preview_file: Path,
    dotenv: Path,
    on_event: auto.OnEvent | None,
) -> None:
    """Preview or update the selected, pinned stack. `up` on prod refreshes first
    (`--refresh`): a change made outside Pulumi (a resized droplet, a firewall rule edited
    in the console) is read back before the update plans, so the update neither undoes it
    blindly nor fails on it (https://www.pulumi.com/docs/iac/cli/commands/pulumi_up/
    "--refresh")."""
    config_file = stack_name.config_file(stack.name)
    print(f"+ pulumi {command} --stack {stack.name}", flush=True)
    if command == "preview":
        result = stack.preview(json=True, policy_packs=[POLICY_PACK], config_file=config_file)
        _write_preview(stack_name.bare_name(stack.name), result.stdout, preview_file)
        return
    update = stack.up(
        policy_packs=[POLICY_PACK],
        refresh=stack_name.is_prod(stack.name),
        config_file=config_file,
        color="never",
        # Not read: the history of the update it returns would hold the decrypted config.
        show_secrets=False,
        on_output=pulumi_automation.to_log,
        on_error=pulumi_automation.to_error_log,
        on_event=on_event,
    )
    _write_dotenv(stack.name, update.outputs, dotenv)


def run(
    command: str,
    stack: str,
    environ: Mapping[str, str],
    explicit_tag: str | None = None,
    preview_file: Path = Path("preview.json"),
    dotenv: Path = Path("deploy.env"),
    deploy_id: str | None = None,
    on_event: auto.OnEvent | None = None,
    digests: Mapping[str, str] | None = None,
) -> None:
    """Raise RefusedError before anything runs, auto.CommandError (CalledProcessError for a
    secret) when pulumi fails.

    `deploy_id` defaults to the job's CI_JOB_ID (none outside CI); `on_event` (up only) gets
    Pulumi's engine events as they come (ci.update_outcome); `digests` (image name ->
    digest) pins the images."""
    name = check_allowed(command, stack, environ)
    check_protected_ref(name, environ)
    deploys = command in ("preview", "up")
    tag = image_tag(explicit_tag, environ) if deploys else None
    env = pulumi_environment(environ, name)
    secrets = secret_values(name, environ) if deploys else {}
    workspace = pulumi_automation.workspace(env)
    exists = name in existing_stacks(workspace)
    if not exists:
        if command in DESTRUCTIVE:
            print(f"stack {name} does not exist (already destroyed and removed): nothing to do")
            return
        if stack_name.is_prod(name):
            raise RefusedError(
                f"stack {name} does not exist in the backend {backend_url(workspace)}; CI never "
                "creates prod: check PULUMI_ACCESS_TOKEN / PULUMI_BACKEND_URL and the stack name"
            )
    if command == "stack-rm":
        _remove(workspace, stack)
        return
    check_spaces_credentials(name, env)
    if command == "destroy":
        _destroy(workspace, stack)
        return
    # Only test stacks get here without a stack: prod was refused above.
    selected = (auto.Stack.select if exists else auto.Stack.create)(stack, workspace)
    job_id = (deploy_id or environ.get("CI_JOB_ID")) if command == "up" else None
    set_pins(workspace, stack, config_pins(tag, environ.get("CI_REGISTRY_IMAGE"), job_id, digests))
    for key, value in secrets.items():
        _run(config_set_line(stack, key), env, stdin=value)
    _deploy(command, selected, preview_file, dotenv, on_event)


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
    except auto.CommandError as error:
        print(f"pulumi_cli: pulumi failed:{error}", file=sys.stderr)
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
