"""The stack's settings: every `canny:` config value read once, checked, and typed.

The program builds nothing until this module has accepted the whole config, so a typo or a
dangerous value (prod open to the internet, prod marked ephemeral) fails `pulumi preview`
with one message listing every problem instead of half-creating a stack.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_digitalocean as digitalocean

from infra.account_key import PublicKeyError, md5_fingerprint
from infra.results_bucket import SPACES_REGIONS

NAMESPACE = "canny"
PROD_STACK = "prod"
DEPLOY_USER = "deploy"

# Stack names become DNS labels (<stack>.test.<domain>) and resource names.
_STACK = re.compile(r"^(prod|test|test-[a-z0-9](?:[a-z0-9-]{0,40}[a-z0-9])?)$")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"^(?=.{{1,253}}$)({_LABEL}\.)+[a-z]{{2,63}}$")
_LABELS = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_SIZE = re.compile(r"^[a-z][a-z0-9_]*(-[a-z0-9_]+)+$")
# The images infra/cloud-init.template.yaml and infra/boot/canny-boot.sh are written for
# (apt, systemd, Debian's package names and the repositories' `debian` paths).
SUPPORTED_IMAGES = frozenset({"debian-12-x64"})
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REGISTRY_IMAGE = re.compile(r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+$")
_PLACEHOLDERS = {"", "changethis", "changeme", "change-me", "secret", "password", "todo", "xxx"}
_RUNNER_EXECUTORS = {"docker", "shell"}
_PUBLIC_KEY_TYPES = ("ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-")
# Regions that take new droplets, volumes and reserved IPs: the provider's list minus the
# datacenters closed to new resources (ams2, nyc2, sfo1; "limited availability" in
# https://docs.digitalocean.com/platform/regional-availability/, see also
# pachadotdev/analogsea#180 for sfo1).
CLOSED_REGIONS = frozenset({"ams2", "nyc2", "sfo1"})
REGIONS = frozenset(region.value for region in digitalocean.Region) - CLOSED_REGIONS
CLOUD_INIT_TIMEOUT_DEFAULT = 900

KNOWN_KEYS = frozenset(
    {
        "domain",
        "subdomain",
        "region",
        "size",
        "image",
        "adminCidrs",
        "allowSshFromAnywhere",
        "prodFollowsUserData",
        "sshPublicKey",
        "sshKeyName",
        "sshPrivateKey",
        "ephemeral",
        "volumeSizeGb",
        "cloudInitTimeout",
        "registryImage",
        "imageTag",
        "deployId",
        "registryUser",
        "registryPassword",
        "monitoring",
        "runnerUrl",
        "runnerExecutor",
        "runnerDockerImage",
        "runnerToken",
        "dropletCount",
        "loadBalancer",
        "resultsStore",
        "alertEmails",
        "slackWebhookUrl",
        "resultsRetentionDays",
    }
)
MAX_DROPLETS = 10
# Where results live: `volume` on the droplet (a DigitalOcean Volume on prod), `spaces` in
# a Spaces bucket shared by every droplet (infra/results_bucket.py), which is what more
# than one droplet needs.
RESULTS_STORES = ("volume", "spaces")
RETENTION_DAYS_DEFAULT = 30
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,63}$")


class ConfigError(ValueError):
    """The stack config is missing values or holds invalid ones; the message lists them all."""


@dataclass(frozen=True)
class Secret:
    """A config secret that never shows up in a repr, a log line or a plain output."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('[secret]')"

    def output(self) -> pulumi.Output[str]:
        return pulumi.Output.secret(self.value)


@dataclass(frozen=True)
class RegistryLogin:
    user: Secret
    password: Secret


@dataclass(frozen=True)
class RunnerSettings:
    url: str
    executor: str
    docker_image: str
    token: Secret | None


@dataclass(frozen=True)
class Settings:
    stack: str
    domain: str
    subdomain: str
    region: str
    size: str
    image: str
    admin_cidrs: tuple[str, ...]
    ssh_public_key: str | None
    ssh_key_name: str | None
    ssh_private_key: Secret
    ephemeral: bool
    volume_size_gb: int
    # Seconds the deploy waits for the droplet's first boot before it fails with diagnostics.
    cloud_init_timeout: int
    # Prod's droplet ignores edits of its user data unless this is set (only while replacing
    # it on purpose): with ignore_changes the engine would give the replacement the old value.
    prod_follows_user_data: bool
    registry_image: str
    image_tag: str
    registry_login: RegistryLogin | None
    monitoring: bool
    runner: RunnerSettings
    # Set by CI per deploy job (ci/pulumi_cli.py): a new value re-runs compose up and the
    # gate, so retrying a failed deploy really deploys even when nothing else changed.
    deploy_id: str = ""
    droplet_count: int = 1
    # A DigitalOcean Load Balancer with a Let's Encrypt certificate in front of the droplets.
    load_balancer: bool = False
    results_store: str = "volume"
    alert_emails: tuple[str, ...] = ()
    # Slack-format incoming webhook for DigitalOcean's alerts and the droplets' Alertmanager.
    slack_webhook_url: Secret | None = None
    # Days a result is kept (S3 lifecycle rule, the backend's sweep); 0 keeps everything.
    results_retention_days: int = RETENTION_DAYS_DEFAULT

    @property
    def is_production(self) -> bool:
        return self.stack == PROD_STACK

    @property
    def name_prefix(self) -> str:
        """Prefix of every resource name, so that several stacks share one account."""
        return f"canny-{self.stack}"

    @property
    def record_name(self) -> str:
        """The DNS record name relative to the domain ("@" is the apex)."""
        if self.is_production:
            return self.subdomain or "@"
        return f"{self.stack}.test"

    @property
    def hostname(self) -> str:
        record = self.record_name
        return self.domain if record == "@" else f"{record}.{self.domain}"

    def registry_stdin(self) -> pulumi.Output[str] | None:
        """deploy.sh reads the registry login from stdin: user line, password line."""
        if self.registry_login is None:
            return None
        login = self.registry_login
        return pulumi.Output.secret(f"{login.user.value}\n{login.password.value}\n")

    @property
    def url(self) -> str:
        """The public address: HTTPS when the load balancer terminates TLS for it."""
        return f"{'https' if self.load_balancer else 'http'}://{self.hostname}"

    @property
    def results_on_volume(self) -> bool:
        """Prod keeps results on a DigitalOcean Volume unless they live in Spaces."""
        return self.is_production and self.results_store == "volume"

    @property
    def tags(self) -> tuple[str, ...]:
        return ("canny", self.name_prefix, "ephemeral" if self.ephemeral else "persistent")


class _Reader:
    """Reads raw config strings (as Pulumi stores them) and collects every problem."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        self.raw = raw
        self.errors: list[str] = []

    def fail(self, key: str, message: str) -> None:
        self.errors.append(f"{NAMESPACE}:{key}: {message}")

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.raw.get(key)
        if value is None:
            return default
        return str(value).strip()

    def required(self, key: str, pattern: re.Pattern[str], hint: str) -> str:
        value = self.text(key)
        if value is None or value == "":
            self.fail(key, f"missing; {hint}")
            return ""
        if not pattern.match(value):
            self.fail(key, f"{value!r} is invalid; {hint}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.text(key)
        if value is None:
            return default
        if value.lower() not in ("true", "false"):
            self.fail(key, f"{value!r} is not true or false")
            return default
        return value.lower() == "true"

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.text(key)
        if value is None:
            return default
        if not value.isdigit() or not low <= int(value) <= high:
            self.fail(key, f"{value!r} is not a whole number from {low} to {high}")
            return default
        return int(value)

    def string_list(self, key: str) -> tuple[str, ...]:
        value = self.raw.get(key)
        try:
            items = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            items = None
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            self.fail(key, "must be a list of strings")
            return ()
        return tuple(items)

    def secret(self, key: str, required_hint: str | None = None) -> Secret | None:
        value = self.text(key)
        if value is None:
            if required_hint:
                self.fail(key, f"missing secret; {required_hint}")
            return None
        if value.lower() in _PLACEHOLDERS:
            self.fail(key, "is a placeholder; set the real value with `pulumi config set --secret`")
            return None
        return Secret(value)


def _admin_cidrs(reader: _Reader, stack: str) -> tuple[str, ...]:
    cidrs = reader.string_list("adminCidrs")
    if not cidrs and not reader.errors:
        reader.fail("adminCidrs", "must name at least one CIDR that may reach SSH")
    open_to_all = False
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            reader.fail("adminCidrs", f"{cidr!r} is not a CIDR such as 203.0.113.7/32")
            continue
        open_to_all = open_to_all or network.prefixlen == 0
    if open_to_all and stack == PROD_STACK and not reader.boolean("allowSshFromAnywhere", False):
        reader.fail(
            "adminCidrs",
            "prod would accept SSH from the whole internet; list admin networks or set "
            "canny:allowSshFromAnywhere true to accept that deliberately",
        )
    return cidrs


def _ssh_key(reader: _Reader) -> tuple[str | None, str | None]:
    public_key = reader.text("sshPublicKey") or None
    key_name = reader.text("sshKeyName") or None
    if (public_key is None) == (key_name is None):
        reader.fail(
            "sshPublicKey",
            "set exactly one of canny:sshPublicKey (a key to upload) or canny:sshKeyName "
            "(a key already in the DigitalOcean account)",
        )
    elif public_key is not None:
        try:
            md5_fingerprint(public_key)
            valid = public_key.startswith(_PUBLIC_KEY_TYPES)
        except PublicKeyError:
            valid = False
        if not valid:
            reader.fail("sshPublicKey", "is not an OpenSSH public key line")
    return public_key, key_name


def _registry_login(reader: _Reader) -> RegistryLogin | None:
    user = reader.secret("registryUser")
    password = reader.secret("registryPassword")
    if (user is None) != (password is None):
        reader.fail("registryPassword", "set it together with canny:registryUser, or neither")
        return None
    return RegistryLogin(user, password) if user and password else None


def _runner(reader: _Reader) -> RunnerSettings:
    executor = reader.text("runnerExecutor", "docker") or "docker"
    if executor not in _RUNNER_EXECUTORS:
        reader.fail("runnerExecutor", f"{executor!r} is not one of {sorted(_RUNNER_EXECUTORS)}")
    url = reader.text("runnerUrl", "https://gitlab.com") or ""
    if not url.startswith("https://"):
        reader.fail("runnerUrl", f"{url!r} must be an https:// GitLab address")
    token = reader.secret("runnerToken")
    if token is not None and not token.value.startswith("glrt-"):
        reader.fail("runnerToken", "must be a runner authentication token (glrt-...)")
    return RunnerSettings(
        url=url,
        executor=executor,
        docker_image=reader.text("runnerDockerImage", "debian:bookworm-slim") or "",
        token=token,
    )


@dataclass(frozen=True)
class _Fleet:
    droplet_count: int
    load_balancer: bool
    results_store: str


def _fleet(reader: _Reader, stack: str, region: str) -> _Fleet:
    """How many droplets, and whether they sit behind a load balancer.

    Prod defaults to one droplet because its results are on a Volume, which attaches to one
    droplet only; more droplets need the load balancer (one address for all) and results
    in Spaces (every droplet must list every upload).
    """
    count = reader.integer("dropletCount", 1, 1, MAX_DROPLETS)
    load_balancer = reader.boolean("loadBalancer", stack == PROD_STACK)
    store = reader.text("resultsStore", "volume") or ""
    problem = results_store_problem(store, region)
    if problem:
        reader.fail("resultsStore", problem)
    if count > 1 and not load_balancer:
        reader.fail(
            "dropletCount",
            f"{count} droplets need canny:loadBalancer true: only the load balancer gives "
            "them one address",
        )
    if count > 1 and store != "spaces":
        reader.fail(
            "dropletCount",
            f"{count} droplets need shared results storage: set canny:resultsStore spaces "
            "(with `volume` each droplet would list only its own uploads)",
        )
    return _Fleet(count, load_balancer, store)


def _alert_emails(reader: _Reader) -> tuple[str, ...]:
    if reader.raw.get("alertEmails") is None:
        return ()
    emails = reader.string_list("alertEmails")
    for email in emails:
        if not _EMAIL.match(email):
            reader.fail("alertEmails", f"{email!r} is not an email address")
    return emails


def _slack_webhook_url(reader: _Reader) -> Secret | None:
    url = reader.secret("slackWebhookUrl")
    if url is not None and not url.value.startswith("https://"):
        reader.fail("slackWebhookUrl", "must be an https:// incoming webhook URL")
        return None
    return url


def _check_stack(reader: _Reader, stack: str, ephemeral: bool) -> None:
    if not _STACK.match(stack):
        reader.errors.append(
            f"stack {stack!r}: use `prod`, `test` or `test-<slug>` (lowercase letters, digits, -)"
        )
    if stack == PROD_STACK and ephemeral:
        reader.fail("ephemeral", "prod can never be ephemeral: it holds the users' results")


def parse_settings(stack: str, raw: Mapping[str, str]) -> Settings:
    """Build Settings from raw config strings keyed without the namespace; raise ConfigError."""
    reader = _Reader(raw)
    unknown = sorted(set(raw) - KNOWN_KEYS)
    for key in unknown:
        reader.fail(key, f"unknown setting (known: {', '.join(sorted(KNOWN_KEYS))})")
    ephemeral = reader.boolean("ephemeral", stack != PROD_STACK)
    _check_stack(reader, stack, ephemeral)
    region = reader.text("region", "") or ""
    if region not in REGIONS:
        accepted = ", ".join(sorted(REGIONS))
        reader.fail("region", f"{region!r} is not an accepted region; accepted: {accepted}")
    subdomain = reader.text("subdomain", "") or ""
    if subdomain and not _LABELS.match(subdomain):
        reader.fail("subdomain", f"{subdomain!r} is not a DNS name such as www or app.eu")
    public_key, key_name = _ssh_key(reader)
    fleet = _fleet(reader, stack, region)
    alert_emails = _alert_emails(reader)
    slack_webhook_url = _slack_webhook_url(reader)
    if stack == PROD_STACK and not alert_emails and slack_webhook_url is None:
        reader.fail(
            "alertEmails",
            "prod needs someone to tell when it breaks: list addresses here and/or set "
            "canny:slackWebhookUrl (a secret)",
        )
    settings = Settings(
        stack=stack,
        domain=reader.required("domain", _DOMAIN, "a lowercase domain such as example.com"),
        subdomain=subdomain,
        region=region,
        size=reader.required("size", _SIZE, "a droplet size slug such as s-1vcpu-2gb"),
        image=_image(reader),
        admin_cidrs=_admin_cidrs(reader, stack),
        ssh_public_key=public_key,
        ssh_key_name=key_name,
        ssh_private_key=reader.secret("sshPrivateKey", "the deploy connects over SSH with it")
        or Secret(""),
        ephemeral=ephemeral,
        volume_size_gb=reader.integer("volumeSizeGb", 10, 1, 16384),
        cloud_init_timeout=reader.integer("cloudInitTimeout", CLOUD_INIT_TIMEOUT_DEFAULT, 60, 7200),
        prod_follows_user_data=reader.boolean("prodFollowsUserData", False),
        registry_image=reader.required(
            "registryImage", _REGISTRY_IMAGE, "an image path such as registry.gitlab.com/group/app"
        ),
        image_tag=_image_tag(reader),
        registry_login=_registry_login(reader),
        monitoring=reader.boolean("monitoring", True),
        runner=_runner(reader),
        deploy_id=reader.text("deployId", "") or "",
        droplet_count=fleet.droplet_count,
        load_balancer=fleet.load_balancer,
        results_store=fleet.results_store,
        alert_emails=alert_emails,
        slack_webhook_url=slack_webhook_url,
        results_retention_days=reader.integer(
            "resultsRetentionDays", RETENTION_DAYS_DEFAULT, 0, 36500
        ),
    )
    if reader.errors:
        raise ConfigError(f"stack {stack!r} config is not usable:\n  " + "\n  ".join(reader.errors))
    return settings


def results_store_problem(store: str, region: str) -> str | None:
    """Why a results store cannot serve the stack, or None when it can."""
    if store not in RESULTS_STORES:
        return f"{store!r} is not one of {', '.join(RESULTS_STORES)}"
    if store == "spaces" and region not in SPACES_REGIONS:
        return f"region {region!r} has no Spaces; use one of {', '.join(sorted(SPACES_REGIONS))}"
    return None


def _image(reader: _Reader) -> str:
    image = reader.text("image") or ""
    if image not in SUPPORTED_IMAGES:
        reader.fail(
            "image",
            f"{image!r} is not supported: the cloud-init template is written for "
            f"{', '.join(sorted(SUPPORTED_IMAGES))} (Debian 12)",
        )
    return image


def _image_tag(reader: _Reader) -> str:
    tag = reader.required(
        "imageTag", _IMAGE_TAG, "CI sets the commit SHA: pulumi config set canny:imageTag <sha>"
    )
    if tag == "latest":
        reader.fail("imageTag", "`latest` is not a release; deploy an immutable tag")
    return tag


def _raw_namespace_config() -> dict[str, str]:
    """Every `canny:` value the engine passed in, including misspelled keys.

    Public calls only: `pulumi up` passes the stack's whole config as JSON in PULUMI_CONFIG
    (pulumi/pulumi sdk/python/cmd/pulumi-language-python/main.go), which
    `pulumi.runtime.get_config_env` returns, so misspelled keys can be listed; each value is
    read with `pulumi.runtime.get_config`, which also sees values set through
    `pulumi.runtime.set_all_config` (both in pulumi.runtime's `__all__`). Raw strings rather
    than pulumi.Config: the checks below name the problems, secrets included, themselves.
    """
    prefix = f"{NAMESPACE}:"
    passed = {
        key[len(prefix) :] for key in pulumi.runtime.get_config_env() if key.startswith(prefix)
    }
    values = {key: pulumi.runtime.get_config(f"{prefix}{key}") for key in KNOWN_KEYS | passed}
    return {key: value for key, value in values.items() if value is not None}


def load_settings(stack: str | None = None) -> Settings:
    """Read the running stack's config; the program calls this once, before any resource."""
    return parse_settings(stack or pulumi.get_stack(), _raw_namespace_config())
