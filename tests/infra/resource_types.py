"""Pulumi type tokens the infra tests look resources up by: the policy pack's own
(infra/policy/rules.py) and the few only tests need, written once."""

from infra.offline import RANDOM_PASSWORD
from infra.policy.rules import (
    DNS_RECORD,
    DROPLET,
    FIREWALL,
    LOAD_BALANCER,
    RESERVED_IP,
    SPACES_BUCKET,
    SPACES_KEY,
    VOLUME,
    VPC,
)

COMMAND = "command:remote:Command"
COPY = "command:remote:CopyToRemote"
RESERVED_IP_ASSIGNMENT = "digitalocean:index/reservedIpAssignment:ReservedIpAssignment"
SSH_KEY = "digitalocean:index/sshKey:SshKey"
CERTIFICATE = "digitalocean:index/certificate:Certificate"
UPTIME_CHECK = "digitalocean:index/uptimeCheck:UptimeCheck"
UPTIME_ALERT = "digitalocean:index/uptimeAlert:UptimeAlert"
MONITOR_ALERT = "digitalocean:index/monitorAlert:MonitorAlert"

__all__ = [
    "CERTIFICATE",
    "COMMAND",
    "COPY",
    "DNS_RECORD",
    "DROPLET",
    "FIREWALL",
    "LOAD_BALANCER",
    "MONITOR_ALERT",
    "RANDOM_PASSWORD",
    "RESERVED_IP",
    "RESERVED_IP_ASSIGNMENT",
    "SPACES_BUCKET",
    "SPACES_KEY",
    "SSH_KEY",
    "UPTIME_ALERT",
    "UPTIME_CHECK",
    "VOLUME",
    "VPC",
]
