"""Alerts component: DigitalOcean watches the stack from outside and tells a person.

An Uptime check on the public URL (from two regions) with alerts for down, slow and, over
HTTPS, a certificate near expiry; and droplet metric alerts for CPU, memory and disk. Both
work when a whole droplet, with its own Prometheus and Alertmanager, is gone.

Arguments: terraform-provider-digitalocean docs/resources/uptime_check.md, uptime_alert.md
(types latency, down, down_global, ssl_expiry; periods 2m..1h) and monitor_alert.md
(types v1/insights/droplet/cpu, memory_utilization_percent, disk_utilization_percent;
windows 5m, 10m, 30m, 1h). Email recipients must be addresses of the DigitalOcean
account's team (https://docs.digitalocean.com/reference/doctl/reference/monitoring/uptime/alert/create/).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as digitalocean

UPTIME_REGIONS = ("eu_west", "us_east")
# Slack ignores the channel for an incoming webhook (it posts where the webhook was made),
# but the provider requires one.
SLACK_CHANNEL = "canny-alerts"
LATENCY_MS = 2000
CERTIFICATE_DAYS_LEFT = 14
# (metric type, percent, what it means) for every droplet.
DROPLET_ALERTS = (
    ("v1/insights/droplet/cpu", 90, "CPU over 90 %"),
    ("v1/insights/droplet/memory_utilization_percent", 90, "memory over 90 %"),
    ("v1/insights/droplet/disk_utilization_percent", 85, "disk over 85 %"),
)


@dataclass(frozen=True)
class AlertsArgs:
    url: str
    droplet_ids: Sequence[pulumi.Input[str]]
    emails: Sequence[str]
    slack_webhook_url: pulumi.Input[str] | None
    # The last droplet's readiness gate. The uptime check starts probing as soon as it
    # exists, and a first `pulumi up` would otherwise create it (it needs nothing else) while
    # the droplets are still booting: "down" alerts for a stack nobody uses yet. Depending
    # on the last gate, it exists only once every droplet has passed its gate, and a failed
    # rollout creates no check at all ("dependsOn ensures that resource creation, update,
    # and deletion operations are executed in the correct order":
    # https://www.pulumi.com/docs/iac/concepts/resources/options/dependson/).
    after: pulumi.Resource | None = None


def _slack(url: pulumi.Input[str] | None, args_type: type) -> list | None:
    return [args_type(channel=SLACK_CHANNEL, url=url)] if url is not None else None


class Alerts(pulumi.ComponentResource):
    uptime_check: digitalocean.UptimeCheck
    uptime_alerts: list[digitalocean.UptimeAlert]
    droplet_alerts: list[digitalocean.MonitorAlert]

    def __init__(
        self, name: str, args: AlertsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("canny:infra:Alerts", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        https = args.url.startswith("https://")
        self.uptime_check = digitalocean.UptimeCheck(
            f"{name}-uptime",
            name=f"{name}-uptime",
            target=args.url,
            type="https" if https else "http",
            regions=list(UPTIME_REGIONS),
            enabled=True,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[args.after] if args.after is not None else None
            ),
        )
        notify = digitalocean.UptimeAlertNotificationArgs(
            emails=list(args.emails) or None,
            slacks=_slack(args.slack_webhook_url, digitalocean.UptimeAlertNotificationSlackArgs),
        )
        uptime = [("down", None, None), ("latency", LATENCY_MS, "greater_than")]
        if https:
            uptime.append(("ssl_expiry", CERTIFICATE_DAYS_LEFT, "less_than"))
        self.uptime_alerts = [
            digitalocean.UptimeAlert(
                f"{name}-uptime-{kind.replace('_', '-')}",
                name=f"{name} {kind}",
                check_id=self.uptime_check.id,
                type=kind,
                threshold=threshold,
                comparison=comparison,
                period="2m" if kind == "down" else "5m",
                notifications=[notify],
                opts=child,
            )
            for kind, threshold, comparison in uptime
        ]
        alerts = digitalocean.MonitorAlertAlertsArgs(
            emails=list(args.emails) or None,
            slacks=_slack(args.slack_webhook_url, digitalocean.MonitorAlertAlertsSlackArgs),
        )
        self.droplet_alerts = [
            digitalocean.MonitorAlert(
                f"{name}-{metric.rsplit('/', 1)[-1].replace('_', '-')}",
                description=f"{name}: droplet {meaning} for 5 minutes",
                type=metric,
                compare="GreaterThan",
                value=percent,
                window="5m",
                enabled=True,
                # Droplets by id only: an alert's `tags` would also watch every other
                # stack's droplet carrying the tag (monitor_alert.md, `entities`, `tags`).
                entities=list(args.droplet_ids),
                alerts=alerts,
                opts=child,
            )
            for metric, percent, meaning in DROPLET_ALERTS
        ]
        self.register_outputs({"uptime_check_id": self.uptime_check.id})
