"""Which CI/CD variables a stack's Pulumi run reads: prod's and the test stacks' apart.

Prod lives in its own DigitalOcean team, state backend and SSH key pair, so every credential
exists twice, under two CI/CD variable names: `<NAME>_PROD` (Protected, environment scope
`production`) and `<NAME>_TEST` (scopes `test` and `review/*`). A job hands Pulumi only its
own side's values, under the names the Pulumi CLI and the providers read (`<NAME>`), or as
Pulumi secrets set on stdin. Distinct names rather than one name per environment scope: when
no variable with a matching scope exists, GitLab passes the one scoped to "All" (`*`): the
default scope `*` reaches every job and a more specific scope only takes precedence over it
(https://docs.gitlab.com/ci/environments/#limit-the-environment-scope-of-a-cicd-variable;
gitlab-org/gitlab doc/ci/variables/README.md, "Limiting environment scopes"), so a prod
job could run with the test team's token; with distinct names a missing prod value is
missing, and the wrapper refuses before Pulumi runs. docs/security.md has the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from infra import stack_name

PROD_SUFFIX = "_PROD"
TEST_SUFFIX = "_TEST"


class CredentialError(ValueError):
    """A credential is missing, misnamed or not where the job expects it."""


@dataclass(frozen=True)
class Credential:
    """One credential: `name` is what Pulumi or the program reads it as; `config_key`, when
    set, makes it a Pulumi secret instead of an environment variable."""

    name: str
    config_key: str | None = None
    # A GitLab File variable: the CI/CD variable holds the path of a file with the secret.
    is_file: bool = False
    required_on_prod: bool = False

    def variable(self, stack: str) -> str:
        return side_variable(self.name, stack)


def side_variable(name: str, stack: str) -> str:
    """The CI/CD variable holding credential `name` for the stack's side."""
    return name + (PROD_SUFFIX if stack_name.is_prod(stack) else TEST_SUFFIX)


CREDENTIALS = (
    # The DigitalOcean provider reads its token from DIGITALOCEAN_TOKEN and the Spaces key
    # from SPACES_ACCESS_KEY_ID / SPACES_SECRET_ACCESS_KEY (terraform-provider-digitalocean
    # docs/index.md, bridged as-is by pulumi-digitalocean).
    Credential("DIGITALOCEAN_TOKEN", required_on_prod=True),
    Credential("SPACES_ACCESS_KEY_ID"),
    Credential("SPACES_SECRET_ACCESS_KEY"),
    # State: Pulumi Cloud (PULUMI_ACCESS_TOKEN) or a self-managed backend (PULUMI_BACKEND_URL,
    # PULUMI_CONFIG_PASSPHRASE, and for a bucket the S3 key in AWS_*):
    # https://www.pulumi.com/docs/iac/cli/environment-variables/
    Credential("PULUMI_ACCESS_TOKEN"),
    Credential("PULUMI_BACKEND_URL"),
    Credential("PULUMI_CONFIG_PASSPHRASE"),
    Credential("AWS_ACCESS_KEY_ID"),
    Credential("AWS_SECRET_ACCESS_KEY"),
    Credential("CANNY_SSH_KEY_FILE", "canny:sshPrivateKey", is_file=True, required_on_prod=True),
    # Prod's alerts must reach someone on every deploy, not only when an operator once set
    # the URL on their own machine.
    Credential("CANNY_SLACK_WEBHOOK_URL", "canny:slackWebhookUrl", required_on_prod=True),
    Credential("CANNY_REGISTRY_USER", "canny:registryUser"),
    Credential("CANNY_REGISTRY_PASSWORD", "canny:registryPassword"),
    Credential("CANNY_RUNNER_TOKEN", "canny:runnerToken"),
)


def _read(credential: Credential, stack: str, environ: Mapping[str, str]) -> str | None:
    variable = credential.variable(stack)
    value = environ.get(variable)
    if not value or not credential.is_file:
        return value or None
    if not Path(value).is_file():
        raise CredentialError(f"{variable} must be a File-type CI/CD variable (a path)")
    return Path(value).read_text()


def _check_names(stack: str, environ: Mapping[str, str], from_esc: bool) -> None:
    """An unsuffixed variable would be read by whichever side runs: refuse it outright. Prod's
    required secrets must be set unless the stack takes them from an ESC environment."""
    unsuffixed = [credential.name for credential in CREDENTIALS if environ.get(credential.name)]
    if unsuffixed:
        raise CredentialError(
            f"{', '.join(unsuffixed)} set without a side: prod and the test stacks read their "
            f"own, named <NAME>{PROD_SUFFIX} and <NAME>{TEST_SUFFIX} (docs/security.md)"
        )
    missing = [
        credential.variable(stack)
        for credential in CREDENTIALS
        if credential.required_on_prod and stack_name.is_prod(stack) and not from_esc
        if not environ.get(credential.variable(stack))
    ]
    if missing:
        raise CredentialError(
            f"stack {stack} needs {', '.join(missing)}: Protected CI/CD variables scoped to "
            "the production environment (docs/security.md)"
        )


def pulumi_environment(
    stack: str, environ: Mapping[str, str], from_esc: bool = False
) -> dict[str, str]:
    """The job's environment with the stack's side's credentials under the names Pulumi reads,
    and no credential variable of either side left over; raise CredentialError."""
    _check_names(stack, environ, from_esc)
    suffixed = {
        credential.name + suffix
        for credential in CREDENTIALS
        for suffix in (PROD_SUFFIX, TEST_SUFFIX)
    }
    env = {key: value for key, value in environ.items() if key not in suffixed}
    for credential in CREDENTIALS:
        value = environ.get(credential.variable(stack))
        if credential.config_key is None and value:
            env[credential.name] = value
    return env


def config_secrets(
    stack: str, environ: Mapping[str, str], from_esc: bool = False
) -> dict[str, str]:
    """Pulumi config key -> secret value, for the stack's side's secrets that are set."""
    _check_names(stack, environ, from_esc)
    secrets = {}
    for credential in CREDENTIALS:
        if credential.config_key is None:
            continue
        value = _read(credential, stack, environ)
        if value is not None:
            secrets[credential.config_key] = value
    return secrets
