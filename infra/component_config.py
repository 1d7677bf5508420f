"""One config model per component, read from the stack's `canny:` keys.

Each model's fields are the config keys its component needs (the camelCase alias is the key's
name); its validators hold the checks and its properties every prod-versus-test decision, so
infra/__main__.py only wires. The style follows mitodl/ol-infrastructure: pydantic models
with validators as the components' config (src/ol_infrastructure/lib/ol_types.py, `AWSBase`)
and per-environment defaults kept apart from the models
(src/ol_infrastructure/lib/stack_defaults.py; here infra/stack_defaults.py).
"""

from __future__ import annotations

import ipaddress
import re

import pulumi
import pulumi_digitalocean as digitalocean
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from infra.config_types import (
    ConfigBool,
    OptionalSecret,
    OptionalText,
    Secret,
    StringList,
    Text,
    problem,
    required_secret,
    required_text,
    whole_number,
)
from infra.image_tag import is_image_digest, is_image_tag
from infra.results_bucket import SPACES_REGIONS

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"^(?=.{{1,253}}$)({_LABEL}\.)+[a-z]{{2,63}}$")
_LABELS = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_SIZE = re.compile(r"^[a-z][a-z0-9_]*(-[a-z0-9_]+)+$")
_REGISTRY_IMAGE = re.compile(r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+$")
_ANY_TEXT = re.compile(r".")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,63}$")
# Only `docker`: a `shell` job runs as the gitlab-runner user on the droplet itself, where
# the metadata service (the droplet's user data, with its SSH host key) is one request away;
# the DOCKER-USER rule (infra/cloud_init.py) stops containers only.
RUNNER_EXECUTORS = frozenset({"docker"})
# Values the stack files ship as examples, which prod refuses: the domains RFC 2606 (section
# 3) reserves for documentation, and the address ranges RFC 5737 (IPv4) and RFC 3849 (IPv6)
# reserve for it. Prod with them would put DNS records in a domain nobody owns, lock every
# admin out of SSH, and send alerts nowhere.
PLACEHOLDER_DOMAINS = ("example.com", "example.net", "example.org")
DOCUMENTATION_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
# The images infra/cloud-init.template.yaml and infra/boot/canny-boot.sh are written for
# (apt, systemd, Debian's package names and the repositories' `debian` paths).
SUPPORTED_IMAGES = frozenset({"debian-12-x64"})
# The droplet that runs the fleet Prometheus and Alertmanager (compose profile `monitor`).
MONITOR_INDEX = 0
# Regions that take new droplets, volumes and reserved IPs: the provider's list minus the
# datacenters closed to new resources (ams2, nyc2, sfo1; "limited availability" in
# https://docs.digitalocean.com/platform/regional-availability/, see also
# pachadotdev/analogsea#180 for sfo1).
CLOSED_REGIONS = frozenset({"ams2", "nyc2", "sfo1"})
REGIONS = frozenset(region.value for region in digitalocean.Region) - CLOSED_REGIONS
CLOUD_INIT_TIMEOUT_DEFAULT = 900
MAX_DROPLETS = 10
# Where results live: `disk`, the droplet's own disk (test stacks: gone with the droplet);
# `volume`, a DigitalOcean Volume that outlives the droplet (prod); `spaces`, a Spaces bucket
# shared by every droplet (infra/results_bucket.py), which is what more than one droplet needs.
RESULTS_STORES = ("disk", "volume", "spaces")
RETENTION_DAYS_DEFAULT = 30
_IMAGE_TAG_HINT = "CI sets the commit SHA: pulumi config set canny:imageTag <sha>"

DropletSize = required_text(_SIZE, "a droplet size slug such as s-1vcpu-2gb")
SshKeyName = required_text(
    _ANY_TEXT, "the name of the deploy key already in the DigitalOcean account (docs/deploy.md)"
)
VolumeSize = whole_number(1, 16384)
DropletCount = whole_number(1, MAX_DROPLETS)
Domain = required_text(_DOMAIN, "a lowercase domain such as example.com")
RetentionDays = whole_number(0, 36500)
CloudInitTimeout = whole_number(60, 7200)
SshPrivateKey = required_secret("the deploy connects over SSH with it")
RegistryImage = required_text(
    _REGISTRY_IMAGE, "an image path such as registry.gitlab.com/group/app"
)
ImageTag = required_text(_ANY_TEXT, _IMAGE_TAG_HINT)


def is_placeholder_domain(domain: str) -> bool:
    return any(domain == name or domain.endswith(f".{name}") for name in PLACEHOLDER_DOMAINS)


def is_documentation_network(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    """Inside a documentation range (a wider network that merely contains one is not)."""
    return any(
        network.version == reserved.version and network.subnet_of(reserved)
        for reserved in DOCUMENTATION_NETWORKS
    )


def results_store_problem(store: str, region: str, production: bool) -> str | None:
    """Why a results store cannot serve the stack, or None when it can.

    `volume` once also named a test stack's own disk; such a stack file now gets an error
    naming `disk` rather than a Volume it never asked for (and pays for)."""
    if store not in RESULTS_STORES:
        return f"{store!r} is not one of {', '.join(RESULTS_STORES)}"
    if store == "volume" and not production:
        return (
            "test stacks get no Volume: `disk` keeps results on the droplet's own disk (what "
            "`volume` meant on test stacks before), `spaces` in a bucket"
        )
    if store == "disk" and production:
        return (
            "prod's results must outlive its droplet: `volume` keeps them on a DigitalOcean "
            "Volume, `spaces` in a bucket"
        )
    if store == "spaces" and region not in SPACES_REGIONS:
        return f"region {region!r} has no Spaces; use one of {', '.join(sorted(SPACES_REGIONS))}"
    return None


class ComponentConfig(BaseModel):
    """Config keys are the fields' camelCase names; other keys are some other model's.

    `production` is not a config key: infra/config.py passes it from the stack's name.
    """

    # validate_default: a required key defaults to None, which its field type refuses with a
    # hint ("missing; ...") instead of pydantic's bare "Field required".
    model_config = ConfigDict(
        alias_generator=to_camel, frozen=True, extra="ignore", validate_default=True
    )

    production: bool


class NetworkConfig(ComponentConfig):
    region: Text = ""

    @field_validator("region")
    @classmethod
    def _accepted_region(cls, region: str) -> str:
        if region not in REGIONS:
            accepted = ", ".join(sorted(REGIONS))
            raise problem(f"{region!r} is not an accepted region; accepted: {accepted}")
        return region

    @property
    def environment(self) -> str:
        """The DigitalOcean Project's environment, as the console shows it."""
        return "Production" if self.production else "Staging"

    @property
    def needs_default_vpc(self) -> bool:
        """Test stacks come and go: their VPC must never be the first, undeletable one of its
        region (infra/preconditions.py). Prod is never destroyed, so it may be first."""
        return not self.production


class HostConfig(ComponentConfig):
    region: Text = ""
    size: DropletSize = None
    image: Text = ""
    ssh_key_name: SshKeyName = None
    # No longer read: the key is uploaded once, outside the stack. Kept as a field to say so.
    ssh_public_key: OptionalText = None
    volume_size_gb: VolumeSize = 10
    # Prod's droplet ignores edits of its user data unless this is set (only while replacing
    # it on purpose): with ignore_changes the engine would give the replacement the old value.
    prod_follows_user_data: ConfigBool = False
    droplet_count: DropletCount
    ephemeral: ConfigBool

    @field_validator("image")
    @classmethod
    def _supported_image(cls, image: str) -> str:
        if image not in SUPPORTED_IMAGES:
            raise problem(
                f"{image!r} is not supported: the cloud-init template is written for "
                f"{', '.join(sorted(SUPPORTED_IMAGES))} (Debian 12)"
            )
        return image

    @field_validator("ssh_public_key")
    @classmethod
    def _key_is_a_prerequisite(cls, public_key: str | None) -> str | None:
        """Uploading from the stack raced: two stacks starting together both found the key
        missing and uploaded it, and DigitalOcean refused the second (infra/host.py)."""
        if public_key is not None:
            raise problem(
                "stacks no longer upload the deploy key: upload it once to the account "
                "(`doctl compute ssh-key import canny-deploy --public-key-file KEY.pub`), "
                "set canny:sshKeyName to its name and remove this setting (docs/deploy.md)"
            )
        return public_key

    @field_validator("ephemeral")
    @classmethod
    def _prod_is_never_ephemeral(cls, ephemeral: bool, info: ValidationInfo) -> bool:
        if ephemeral and info.data.get("production"):
            raise problem("prod can never be ephemeral: it holds the users' results")
        return ephemeral

    @property
    def follows_user_data(self) -> bool:
        return not self.production or self.prod_follows_user_data

    @property
    def protect(self) -> bool:
        """A mistaken `pulumi destroy` must not take prod's droplets."""
        return self.production

    @property
    def backups(self) -> bool:
        return self.production

    @property
    def delete_before_replace(self) -> bool:
        """Prod's Volume and Reserved IP move to a replacement only once the old droplet is
        gone (infra/host.py says why)."""
        return self.production


class FirewallConfig(ComponentConfig):
    allow_ssh_from_anywhere: ConfigBool = False
    admin_cidrs: StringList = None

    @field_validator("admin_cidrs")
    @classmethod
    def _admin_networks(cls, cidrs: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if not cidrs:
            raise problem("must name at least one CIDR that may reach SSH")
        problems, open_to_all = [], False
        for cidr in cidrs:
            try:
                network = ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                problems.append(f"{cidr!r} is not a CIDR such as 203.0.113.7/32")
                continue
            open_to_all = open_to_all or network.prefixlen == 0
            if info.data.get("production") and is_documentation_network(network):
                problems.append(
                    f"{cidr!r} is a documentation range (RFC 5737/3849), a placeholder: list "
                    "the networks admins and `pulumi up` really connect from"
                )
        if (
            open_to_all
            and info.data.get("production")
            and not info.data.get("allow_ssh_from_anywhere")
        ):
            problems.append(
                "prod would accept SSH from the whole internet; list admin networks or set "
                "canny:allowSshFromAnywhere true to accept that deliberately"
            )
        if problems:
            raise problem("; ".join(problems))
        return cidrs


class LoadBalancerConfig(ComponentConfig):
    enabled: ConfigBool = Field(alias="loadBalancer")

    @property
    def protect(self) -> bool:
        """Prod's balancer holds the address DNS points at, which a replacement would change."""
        return self.production


class DnsConfig(ComponentConfig):
    stack: str
    domain: Domain = None
    subdomain: Text = ""

    @field_validator("domain")
    @classmethod
    def _prod_owns_its_domain(cls, domain: str, info: ValidationInfo) -> str:
        if info.data.get("production") and is_placeholder_domain(domain):
            raise problem(
                f"{domain!r} is a placeholder (RFC 2606): set your own domain, one on "
                "DigitalOcean DNS (docs/deploy.md)"
            )
        return domain

    @field_validator("subdomain")
    @classmethod
    def _dns_labels(cls, subdomain: str) -> str:
        if subdomain and not _LABELS.match(subdomain):
            raise problem(f"{subdomain!r} is not a DNS name such as www or app.eu")
        return subdomain

    @property
    def record_name(self) -> str:
        """The DNS record name relative to the domain ("@" is the apex)."""
        if self.production:
            return self.subdomain or "@"
        return f"{self.stack}.test"

    @property
    def hostname(self) -> str:
        record = self.record_name
        return self.domain if record == "@" else f"{record}.{self.domain}"

    @property
    def ttl(self) -> int:
        """Prod's address changes rarely; a test stack's with every new droplet."""
        return 3600 if self.production else 300

    @property
    def protect(self) -> bool:
        return self.production


class AlertsConfig(ComponentConfig):
    # Verified addresses of the DigitalOcean account's team, or the alerts never arrive: "The
    # Email has to be one that is verified on that DigitalOcean account" (DigitalOcean API
    # reference, uptime alerts and monitoring alert policies, `notifications.email`).
    alert_emails: StringList = ()
    # Slack-format incoming webhook for DigitalOcean's alerts and the droplets' Alertmanager.
    slack_webhook_url: OptionalSecret = None

    @field_validator("alert_emails")
    @classmethod
    def _addresses(cls, emails: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        wrong = [
            f"{email!r} is not an email address" for email in emails if not _EMAIL.match(email)
        ]
        if info.data.get("production"):
            wrong += [
                f"{email!r} is a placeholder: list the team's own addresses"
                for email in emails
                if is_placeholder_domain(email.rpartition("@")[2])
            ]
        if wrong:
            raise problem("; ".join(wrong))
        return emails

    @field_validator("slack_webhook_url")
    @classmethod
    def _https_webhook(cls, url: Secret | None) -> Secret | None:
        if url is not None and not url.get_secret_value().startswith("https://"):
            raise problem("must be an https:// incoming webhook URL")
        return url

    @model_validator(mode="after")
    def _prod_tells_someone(self) -> AlertsConfig:
        if self.production and not self.enabled:
            raise problem(
                "prod needs someone to tell when it breaks: list addresses here and/or set "
                "canny:slackWebhookUrl (a secret)",
                key="alertEmails",
            )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.alert_emails) or self.slack_webhook_url is not None

    def slack_output(self) -> pulumi.Output[str] | None:
        return self.slack_webhook_url.output() if self.slack_webhook_url else None


class ResultsStoreConfig(ComponentConfig):
    region: Text = ""
    results_store: Text
    # Days a result is kept (S3 lifecycle rule, the backend's sweep); 0 keeps everything.
    results_retention_days: RetentionDays = RETENTION_DAYS_DEFAULT

    @field_validator("results_store")
    @classmethod
    def _store_serves_region(cls, store: str, info: ValidationInfo) -> str:
        reason = results_store_problem(
            store, info.data.get("region", ""), bool(info.data.get("production"))
        )
        if reason:
            raise problem(reason)
        return store

    @property
    def spaces(self) -> bool:
        return self.results_store == "spaces"

    @property
    def outlives_stack(self) -> bool:
        """Prod's bucket is versioned, protected and kept on destroy; a test stack's is
        emptied and deleted with the stack."""
        return self.production

    @property
    def on_volume(self) -> bool:
        """Only prod accepts `volume` (results_store_problem)."""
        return self.results_store == "volume"


class RunnerSettings(BaseModel):
    """The GitLab Runner each droplet registers (when a runner token is set)."""

    model_config = ConfigDict(
        alias_generator=lambda name: to_camel(f"runner_{name}"),
        frozen=True,
        extra="ignore",
        validate_default=True,
    )

    url: Text = "https://gitlab.com"
    executor: Text = "docker"
    docker_image: Text = "debian:bookworm-slim"
    token: OptionalSecret = None

    @field_validator("url")
    @classmethod
    def _https(cls, url: str) -> str:
        if not url.startswith("https://"):
            raise problem(f"{url!r} must be an https:// GitLab address")
        return url

    @field_validator("executor")
    @classmethod
    def _known_executor(cls, executor: str) -> str:
        if executor not in RUNNER_EXECUTORS:
            raise problem(f"{executor!r} is not one of {sorted(RUNNER_EXECUTORS)}")
        return executor

    @field_validator("token")
    @classmethod
    def _authentication_token(cls, token: Secret | None) -> Secret | None:
        if token is not None and not token.get_secret_value().startswith("glrt-"):
            raise problem("must be a runner authentication token (glrt-...)")
        return token


class RegistryLogin(BaseModel):
    model_config = ConfigDict(frozen=True)

    user: Secret
    password: Secret


class DeployConfig(ComponentConfig):
    ssh_private_key: SshPrivateKey = None
    registry_image: RegistryImage = None
    image_tag: ImageTag = None
    registry_user: OptionalSecret = None
    registry_password: OptionalSecret = None
    monitoring: ConfigBool = True
    # Seconds the deploy waits for the droplet's first boot before it fails with diagnostics.
    cloud_init_timeout: CloudInitTimeout = CLOUD_INIT_TIMEOUT_DEFAULT
    # Set by CI per deploy job (ci/pulumi_cli.py): a new value re-runs compose up and the
    # gate, so retrying a failed deploy really deploys even when nothing else changed.
    deploy_id: Text = ""
    # The digests a release's images were tested with (ci/release_images.py): set by CI,
    # both or neither; the droplet then pulls <image>:<tag>@<digest>, by digest.
    backend_digest: OptionalText = None
    gateway_digest: OptionalText = None

    @field_validator("backend_digest", "gateway_digest")
    @classmethod
    def _digest(cls, digest: str | None) -> str | None:
        if digest is not None and not is_image_digest(digest):
            raise problem(f"{digest!r} is not an image digest (sha256:<64 hex digits>)")
        return digest

    @field_validator("gateway_digest")
    @classmethod
    def _digest_pair(cls, digest: str | None, info: ValidationInfo) -> str | None:
        if (info.data.get("backend_digest") is None) != (digest is None):
            raise problem("set it together with canny:backendDigest, or neither")
        return digest

    def image_digests(self) -> dict[str, str]:
        """Image name -> pinned digest; empty when the release is deployed by tag."""
        if self.backend_digest is None or self.gateway_digest is None:
            return {}
        return {"backend": self.backend_digest, "gateway": self.gateway_digest}

    @field_validator("image_tag")
    @classmethod
    def _release_tag(cls, tag: str) -> str:
        if not is_image_tag(tag):
            raise problem(f"{tag!r} is invalid; {_IMAGE_TAG_HINT}")
        if tag == "latest":
            raise problem("`latest` is not a release; deploy an immutable tag")
        return tag

    @field_validator("registry_password")
    @classmethod
    def _login_pair(cls, password: Secret | None, info: ValidationInfo) -> Secret | None:
        if (info.data.get("registry_user") is None) != (password is None):
            raise problem("set it together with canny:registryUser, or neither")
        return password

    @property
    def registry_login(self) -> RegistryLogin | None:
        if self.registry_user is None or self.registry_password is None:
            return None
        return RegistryLogin(user=self.registry_user, password=self.registry_password)

    def registry_stdin(self) -> pulumi.Output[str] | None:
        """deploy.sh reads the registry login from stdin: user line, password line."""
        login = self.registry_login
        if login is None:
            return None
        user, password = login.user.get_secret_value(), login.password.get_secret_value()
        return pulumi.Output.secret(f"{user}\n{password}\n")

    def compose_profiles(self, index: int) -> tuple[str, ...]:
        """Every droplet runs its own Prometheus (`monitoring`); the first one also runs the
        fleet Prometheus and Alertmanager (`monitor`) that federate them all."""
        if not self.monitoring:
            return ()
        return ("monitoring", "monitor") if index == MONITOR_INDEX else ("monitoring",)


def component_keys(*models: type[BaseModel]) -> frozenset[str]:
    """Every config key the models read (their aliases); `production` and `stack` come from
    the stack's name, not from its config."""
    return frozenset(
        field.alias or name
        for model in models
        for name, field in model.model_fields.items()
        if name not in ("production", "stack")
    )
