"""The stack's settings: every `canny:` config value read once, checked, and typed.

The program builds nothing until this module has accepted the whole config, so a typo or a
dangerous value (prod open to the internet, prod marked ephemeral) fails `pulumi preview`
with one message listing every problem instead of half-creating a stack. StackSettings
composes one model per component (infra/component_config.py) and holds the decisions that
span components; infra/stack_defaults.py holds what differs between prod and test stacks
when the stack file says nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from infra.component_config import (
    SUPPORTED_IMAGES,
    AlertsConfig,
    DeployConfig,
    DnsConfig,
    FirewallConfig,
    HostConfig,
    LoadBalancerConfig,
    NetworkConfig,
    RegistryLogin,
    ResultsStoreConfig,
    RunnerSettings,
    component_keys,
    results_store_problem,
)
from infra.config_types import Secret, problem
from infra.stack_defaults import stack_defaults
from infra.stack_name import PROD_STACK, is_stack_name

__all__ = [
    "PROD_STACK",
    "SUPPORTED_IMAGES",
    "ConfigError",
    "RegistryLogin",
    "RunnerSettings",
    "Secret",
    "StackSettings",
    "load_settings",
    "parse_settings",
    "results_store_problem",
]

NAMESPACE = "canny"
DEPLOY_USER = "deploy"


class ConfigError(ValueError):
    """The stack config is missing values or holds invalid ones; the message lists them all."""


class StackSettings(BaseModel):
    """Every component's config; `host` comes last so its check sees the others' values."""

    model_config = ConfigDict(frozen=True)

    stack: str
    network: NetworkConfig
    firewall: FirewallConfig
    load_balancer: LoadBalancerConfig
    results: ResultsStoreConfig
    alerts: AlertsConfig
    dns: DnsConfig
    deploy: DeployConfig
    runner: RunnerSettings
    host: HostConfig

    @field_validator("stack")
    @classmethod
    def _known_stack(cls, stack: str) -> str:
        if not is_stack_name(stack):
            raise problem(
                f"stack {stack!r}: use `prod`, `test` or `test-<slug>` (lowercase letters, "
                "digits, -)",
                key="",
            )
        return stack

    @field_validator("deploy")
    @classmethod
    def _alertmanager_tells_someone(
        cls, deploy: DeployConfig, info: ValidationInfo
    ) -> DeployConfig:
        """The fleet's Alertmanager (app/monitoring/alertmanager.yml) sends to the Slack-format
        webhook alone: without it every alert would be dropped, with only a log line."""
        alerts = info.data.get("alerts")
        if deploy.monitoring and alerts is not None and alerts.slack_webhook_url is None:
            raise problem(
                "the fleet's Alertmanager would have no receiver and drop every alert: set "
                "canny:slackWebhookUrl (a secret: a Slack, Mattermost or Rocket.Chat incoming "
                "webhook) or canny:monitoring false",
                key="monitoring",
            )
        return deploy

    @field_validator("host")
    @classmethod
    def _fleet_shares_address_and_results(
        cls, host: HostConfig, info: ValidationInfo
    ) -> HostConfig:
        """More droplets need the load balancer (one address for all) and results in Spaces
        (every droplet must list every upload; a Volume attaches to one droplet only)."""
        count, problems = host.droplet_count, []
        balancer, results = info.data.get("load_balancer"), info.data.get("results")
        if count > 1 and balancer is not None and not balancer.enabled:
            problems.append(
                f"{count} droplets need canny:loadBalancer true: only the load balancer gives "
                "them one address"
            )
        if count > 1 and results is not None and not results.spaces:
            problems.append(
                f"{count} droplets need shared results storage: set canny:resultsStore spaces "
                f"(with `{results.results_store}` each droplet would list only its own uploads)"
            )
        if problems:
            raise problem("; ".join(problems), key="dropletCount")
        return host

    @property
    def production(self) -> bool:
        return self.stack == PROD_STACK

    @property
    def name_prefix(self) -> str:
        """Prefix of every resource name, so that several stacks share one account."""
        return f"canny-{self.stack}"

    @property
    def url(self) -> str:
        """The public address: HTTPS when the load balancer terminates TLS for it."""
        scheme = "https" if self.load_balancer.enabled else "http"
        return f"{scheme}://{self.dns.hostname}"

    @property
    def tags(self) -> tuple[str, ...]:
        lifetime = "ephemeral" if self.host.ephemeral else "persistent"
        return ("canny", self.name_prefix, lifetime)

    @property
    def description(self) -> str:
        return f"canny-platform {self.stack} stack"

    @property
    def reserved_ip(self) -> bool:
        """Prod without a load balancer: DNS points at a Reserved IP that never moves."""
        return self.production and not self.load_balancer.enabled

    @property
    def publishes_aaaa(self) -> bool:
        """A droplet's own IPv6 changes when it is replaced, and the load balancer's record
        is IPv4 only; prod's address must not change, so prod publishes no AAAA record."""
        return not self.production and not self.load_balancer.enabled

    def results_volume(self, index: int) -> bool:
        """A Volume attaches to one droplet: the first one, when results live on a Volume."""
        return self.results.on_volume and index == 0

    def host_name(self, index: int) -> str:
        """The first droplet keeps the stack's own name, so a one-droplet stack's resources
        keep theirs when it grows; the others are numbered from 2."""
        return self.name_prefix if index == 0 else f"{self.name_prefix}-{index + 1}"

    def alertmanager_webhook(self, index: int) -> pulumi.Output[str] | None:
        """Alertmanager posts to Slack only where it runs: the monitor droplet."""
        return (
            self.alerts.slack_output() if "monitor" in self.deploy.compose_profiles(index) else None
        )


COMPONENTS = {
    name: field.annotation
    for name, field in StackSettings.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
}
KNOWN_KEYS = component_keys(*COMPONENTS.values())


def _config_key(location: tuple[int | str, ...]) -> str:
    """A failed default is located by field name, a given value by its key: name the key."""
    model, name = COMPONENTS.get(str(location[0])), str(location[-1])
    if model is not None and name in model.model_fields:
        return model.model_fields[name].alias or name
    return name


def _messages(error: ValidationError) -> list[str]:
    """One line per problem: `canny:<key>: <message>`, or the bare message for the stack."""
    lines = []
    for item in error.errors(include_url=False):
        context = item.get("ctx") or {}
        key = context.get("key")
        if key is None:
            key = _config_key(item["loc"])
        lines.append(f"{NAMESPACE}:{key}: {item['msg']}" if key else item["msg"])
    return lines


def parse_settings(stack: str, raw: Mapping[str, Any]) -> StackSettings:
    """Build the settings from raw config values keyed without the namespace; raise ConfigError
    listing every problem."""
    problems = [
        f"{NAMESPACE}:{key}: unknown setting (known: {', '.join(sorted(KNOWN_KEYS))})"
        for key in sorted(set(raw) - KNOWN_KEYS)
    ]
    values = {**stack_defaults(stack), **raw, "production": stack == PROD_STACK, "stack": stack}
    try:
        settings = StackSettings.model_validate(
            {"stack": stack} | {name: values for name in COMPONENTS}
        )
    except ValidationError as error:
        problems += _messages(error)
    if problems:
        raise ConfigError(f"stack {stack!r} config is not usable:\n  " + "\n  ".join(problems))
    return settings


def _raw_namespace_config() -> dict[str, str]:
    """Every `canny:` value the engine passed in, including misspelled keys.

    Public calls only: `pulumi up` passes the stack's whole config as JSON in PULUMI_CONFIG
    (pulumi/pulumi sdk/python/cmd/pulumi-language-python/main.go), which
    `pulumi.runtime.get_config_env` (in pulumi.runtime's `__all__`) returns, so misspelled
    keys can be listed; each value is read with `pulumi.Config(NAMESPACE).get`, which also
    sees values set through `pulumi.runtime.set_all_config`
    (https://www.pulumi.com/docs/iac/concepts/config/#code). Plain strings rather than
    `get_secret`: the checks name the problems of secrets too, and Secret keeps them secret.
    """
    prefix = f"{NAMESPACE}:"
    passed = {
        key[len(prefix) :] for key in pulumi.runtime.get_config_env() if key.startswith(prefix)
    }
    config = pulumi.Config(NAMESPACE)
    values = {key: config.get(key) for key in KNOWN_KEYS | passed}
    return {key: value for key, value in values.items() if value is not None}


def load_settings(stack: str | None = None) -> StackSettings:
    """Read the running stack's config; the program calls this once, before any resource."""
    return parse_settings(stack or pulumi.get_stack(), _raw_namespace_config())
