"""Deploy component: put the app bundle on the droplet and run it, over SSH.

Order: wait for cloud-init -> (register the GitLab Runner), copy every bundle file,
(write Alertmanager's Slack webhook), (write the fleet Prometheus' targets) and (store the
results bucket's key) -> compose pull and up -> readiness gate. The webhook and the targets
go to the stack's first droplet only, the one running the fleet Prometheus and Alertmanager.
Each step depends on the one before, so `pulumi up` fails at the first step that fails, and
the gate failing fails the update with compose's state and logs in its output.

A fleet rolls: a droplet's compose up also waits for the previous droplet's readiness gate
(`after`), so one droplet restarts at a time while the load balancer's health check keeps
traffic on the others; a failed gate stops the update there, and the droplets after it keep
the release they run (the engine runs no step whose dependency failed). Behind a balancer the
gate also waits until the balancer has counted its droplet healthy again (`rejoin_seconds`):
without that the next droplet could restart while the balancer still sends nothing to this
one, leaving no droplet in rotation.

Steps that leave something on the droplet undo it on delete (`pulumi destroy`, or a
replacement): the runner is unregistered, the Alertmanager secret and the fleet targets are
removed, and each step's .env keys are taken out. pulumi-command runs `delete` over the
stored connection with the stored environment and stdin (provider/pkg/provider/remote/
commandController.go, Delete, and commandOutputs.go, run), so the delete scripts never read
stdin. Those steps are deleted before their replacement is created (`delete_before_replace`):
Pulumi's default creates the replacement first, and the old step's delete would then take
out the keys the new one had just written.

Every remote step has the droplet's id among its `triggers`. pulumi-command replaces (re-runs)
a Command or CopyToRemote only when a `triggers` entry changes (`provider:"replaceOnChanges"`
in pulumi/pulumi-command provider/pkg/provider/remote/copy.go and command.go), and
CopyToRemote.Update copies again only when the source or the remote path changed, never for a
new connection host (provider/pkg/provider/remote/copyController.go). Without the id a
replaced droplet would get no bundle and no deploy at all.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

import pulumi
from pulumi_command import remote

from infra.bundle import WAIT_SCRIPT, BundleFile, bundle_hash
from infra.cloud_init import REGISTER_RUNNER_PATH
from infra.config import RunnerSettings


@dataclass(frozen=True)
class DeployArgs:
    host: pulumi.Input[str]
    # The droplet's id: a new droplet re-runs every step (see the module docstring).
    droplet_id: pulumi.Input[str]
    # The droplet's SSH host key ("ssh-ed25519 AAAA..."): connections refuse any other host.
    host_key: pulumi.Input[str]
    user: str
    private_key: pulumi.Input[str]
    files: list[BundleFile]
    registry_image: str
    image_tag: str
    # Image name (backend, gateway) -> the digest to pull it by; empty: pulled by tag.
    image_digests: dict[str, str]
    # "user\npassword\n" for deploy.sh's stdin, a secret; None for a public registry.
    registry_login: pulumi.Input[str] | None
    compose_profiles: tuple[str, ...]
    results_mount: str | None
    cloud_init_timeout: int
    runner: RunnerSettings
    runner_name: str
    # A new value re-runs compose up and the gate (pulumi-command re-runs `create` when a
    # trigger changes: https://www.pulumi.com/registry/packages/command/api-docs/remote/command/).
    deploy_id: str = ""
    # Addresses whose X-Forwarded-For the gateway believes (the VPC's range behind the load
    # balancer, whose connections come from its private address); None: nobody's.
    trusted_proxies: pulumi.Input[str] | None = None
    # The previous droplet's readiness gate: compose up here starts only once it passed.
    after: pulumi.Resource | None = None
    # Behind a load balancer: seconds its health check needs to put a droplet that became
    # healthy back in rotation (HealthCheck.rejoin_seconds). The gate waits them out after
    # passing, so the next droplet restarts only once this one takes traffic again; 0: no
    # balancer, nothing to wait for.
    rejoin_seconds: int = 0
    # The droplet's firewall (infra/firewall.py): the first remote step, and so every one
    # after it, waits until it is in place.
    firewall: pulumi.Resource | None = None
    # Slack-format webhook URL for the droplet's Alertmanager, a secret sent on stdin.
    slack_webhook_url: pulumi.Input[str] | None = None
    # The droplet's private VPC address: its Prometheus is published there (METRICS_BIND) for
    # the fleet Prometheus to federate; None keeps it on loopback.
    metrics_bind: pulumi.Input[str] | None = None
    # The fleet Prometheus' file_sd targets (infra/fleet_targets.py), for the droplet that
    # runs it; None on every other droplet.
    fleet_targets: pulumi.Input[str] | None = None
    # Plain storage settings for the backends (CANNY_STORAGE, CANNY_S3_*, CANNY_RETENTION_DAYS):
    # nothing secret, so they travel in the command line and show in plans.
    storage_environment: dict[str, str] = field(default_factory=dict)
    # CANNY_OWNER_KEY_SECRETS, a secret every droplet shares (keys verify on any of them).
    owner_key_secrets: pulumi.Input[str] | None = None
    # "access key id\nsecret\n" of the results bucket's key, a secret, for
    # storage_credentials.sh's stdin; None when results stay on the droplet.
    storage_credentials: pulumi.Input[str] | None = None


def deploy_command(
    args: DeployArgs,
    script: str,
    trusted_proxies: str | None = None,
    metrics_bind: str | None = None,
) -> str:
    """The shell line that runs deploy.sh with its settings (no secret is ever in it)."""
    env = {"COMPOSE_PROFILES": ",".join(args.compose_profiles), **args.storage_environment}
    if args.results_mount:
        env["CANNY_RESULTS_MOUNT"] = args.results_mount
    env["CANNY_TRUSTED_PROXIES"] = trusted_proxies or ""
    env["METRICS_BIND"] = metrics_bind or ""
    for image, digest in args.image_digests.items():
        env[f"{image.upper()}_DIGEST"] = digest
    assignments = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
    return (
        f"{assignments} bash {shlex.quote(script)} "
        f"{shlex.quote(args.registry_image)} {shlex.quote(args.image_tag)}"
    )


def register_runner_command(runner: RunnerSettings, name: str) -> str:
    """sudo runs exactly the root-owned script cloud-init installed; the token goes on stdin."""
    words = [REGISTER_RUNNER_PATH, runner.url, name, runner.executor, runner.docker_image]
    return "sudo -n " + " ".join(shlex.quote(word) for word in words)


def unregister_runner_command(name: str, script: str = REGISTER_RUNNER_PATH) -> str:
    """The registration's delete, through the same sudoers rule as the create. Droplets
    booted before the script had --unregister (prod ignores user data edits) keep the old
    one, which would refuse the call and so fail a destroy or a replacement: there the
    delete says to unregister by hand instead."""
    path, runner = shlex.quote(script), shlex.quote(name)
    by_hand = shlex.quote(
        f"canny: {script} predates --unregister: unregister runner {name} by hand "
        f"(sudo gitlab-runner unregister --name {name})"
    )
    return (
        f"if grep -q -- --unregister {path}; then sudo -n {path} --unregister {runner}; "
        f"else echo {by_hand} >&2; fi"
    )


def gate_command(script: str, rejoin_seconds: int) -> str:
    """gate.sh, told how long the balancer needs to count the droplet healthy again."""
    settle = f"CANNY_GATE_REJOIN_SECONDS={rejoin_seconds} " if rejoin_seconds else ""
    return f"{settle}bash {shlex.quote(script)}"


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")


class Deploy(pulumi.ComponentResource):
    wait: remote.Command
    register_runner: remote.Command | None
    copies: list[remote.CopyToRemote]
    alertmanager_secret: remote.Command | None
    fleet_targets: remote.Command | None
    storage_credentials: remote.Command | None
    owner_key_secrets: remote.Command | None
    compose_up: remote.Command
    gate: remote.Command

    def __init__(self, name: str, args: DeployArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("canny:infra:Deploy", name, None, opts)
        connection = remote.ConnectionArgs(
            host=args.host,
            user=args.user,
            private_key=args.private_key,
            # pulumi-command checks the server's key against this one and offers only its
            # algorithm (provider/pkg/provider/remote/connection.go: ssh.FixedHostKey).
            host_key=args.host_key,
            # A new droplet needs a minute or two before sshd answers.
            dial_error_limit=40,
            per_dial_timeout=15,
        )
        self.wait = remote.Command(
            f"{name}-wait-cloud-init",
            connection=connection,
            create=f"CANNY_CLOUD_INIT_TIMEOUT={args.cloud_init_timeout} bash -s",
            stdin=WAIT_SCRIPT.read_text(encoding="utf-8"),
            triggers=[args.droplet_id],
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[args.firewall] if args.firewall else None
            ),
        )
        after_wait = pulumi.ResourceOptions(parent=self, depends_on=[self.wait])
        self.register_runner = None
        if args.runner.token is not None:
            runner = args.runner
            self.register_runner = remote.Command(
                f"{name}-register-runner",
                connection=connection,
                create=register_runner_command(runner, args.runner_name),
                stdin=args.runner.token.output().apply(lambda token: f"{token}\n"),
                triggers=[args.droplet_id, runner.url, runner.executor, runner.docker_image],
                delete=unregister_runner_command(args.runner_name),
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[self.wait], delete_before_replace=True
                ),
            )
        self.copies = [
            remote.CopyToRemote(
                f"{name}-copy-{_slug(item.remote)}",
                connection=connection,
                source=pulumi.FileAsset(str(item.local)),
                remote_path=item.remote_path,
                triggers=[args.droplet_id, item.sha256()],
                opts=after_wait,
            )
            for item in args.files
        ]
        scripts = {item.remote: item.remote_path for item in args.files}

        def stdin_step(step: str, script: str, stdin: pulumi.Input[str]) -> remote.Command:
            """A bundled script fed on stdin, never a command line (visible in `ps`) or user
            data (served to every process on the droplet); new input runs it again. Its
            `--forget` is the delete: it takes out what the step wrote (file, .env keys)."""
            return remote.Command(
                f"{name}-{step}",
                connection=connection,
                create=f"bash {shlex.quote(scripts[script])}",
                stdin=stdin,
                triggers=[args.droplet_id, stdin],
                delete=f"bash {shlex.quote(scripts[script])} --forget",
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=self.copies, delete_before_replace=True
                ),
            )

        def secret_stdin_step(step: str, script: str, secret: pulumi.Input[str]) -> remote.Command:
            """A stdin step whose input is one secret value: marked secret, so plans and the
            state show it masked, and ended by a newline for the script's `read`."""
            return stdin_step(
                step, script, pulumi.Output.secret(secret).apply(lambda value: f"{value}\n")
            )

        self.alertmanager_secret = None
        if args.slack_webhook_url is not None:
            self.alertmanager_secret = secret_stdin_step(
                "alertmanager-secret", "bin/write_alertmanager_secret.sh", args.slack_webhook_url
            )
        # New droplets (canny:dropletCount) change the targets and re-run this step; the
        # fleet Prometheus picks the new file up without a restart.
        self.fleet_targets = (
            None
            if args.fleet_targets is None
            else stdin_step("fleet-targets", "bin/write_fleet_targets.sh", args.fleet_targets)
        )
        before_up: list[pulumi.Resource] = [*self.copies]
        for step in (self.alertmanager_secret, self.fleet_targets):
            if step is not None:
                before_up.append(step)
        if args.after is not None:
            before_up.append(args.after)
        # Re-run compose and the gate whenever any bundled file changes, not only the tag.
        triggers = [args.droplet_id, bundle_hash(args.files), args.deploy_id]
        # The bucket's key lands in the app's .env, readable by the deploy user alone.
        self.storage_credentials = None
        if args.storage_credentials is not None:
            self.storage_credentials = stdin_step(
                "storage-credentials", "bin/storage_credentials.sh", args.storage_credentials
            )
            before_up.append(self.storage_credentials)
            # A new key (rotation, a replaced bucket) restarts the backends with it.
            triggers.append(args.storage_credentials)
        # The owner-key secrets too; a rotation restarts the backends with the new list.
        self.owner_key_secrets = None
        if args.owner_key_secrets is not None:
            self.owner_key_secrets = secret_stdin_step(
                "owner-key-secrets", "bin/owner_key_secrets.sh", args.owner_key_secrets
            )
            before_up.append(self.owner_key_secrets)
            # Its id, not the secret: a secret among the triggers would hide them all in
            # plans. The step's triggers hold the secret, so a new one replaces the step, and
            # a created Command gets a new random id (pulumi-command provider/pkg/provider/
            # remote: Create returns resource.NewUniqueHex).
            triggers.append(self.owner_key_secrets.id)
        self.compose_up = remote.Command(
            f"{name}-compose-up",
            connection=connection,
            create=pulumi.Output.all(args.trusted_proxies, args.metrics_bind).apply(
                lambda values: deploy_command(args, scripts["bin/deploy.sh"], *values)
            ),
            stdin=args.registry_login,
            triggers=[*triggers, args.trusted_proxies or "", args.metrics_bind or ""],
            opts=pulumi.ResourceOptions(parent=self, depends_on=before_up),
        )
        self.gate = remote.Command(
            f"{name}-readiness-gate",
            connection=connection,
            create=gate_command(scripts["bin/gate.sh"], args.rejoin_seconds),
            triggers=[*triggers, args.image_tag, *args.image_digests.values()],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.compose_up]),
        )
        self.register_outputs({"gate_stdout": self.gate.stdout})
