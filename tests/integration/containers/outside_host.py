"""A host outside the droplet, as the internet is from a droplet: a network namespace the test
makes, joined to this machine by a veth pair. A container reaches its address only through
its default route and the host's forwarding (egress); a container on a Compose network with
`internal: true` has no default route and cannot reach it at all. Its addresses are the
test's own (a /30 in 10.247.0.0/16 that no route of this machine uses yet).
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

SUBNET_POOL = ipaddress.ip_network("10.247.0.0/16")
COMMAND_TIMEOUT_S = 30


@dataclass(frozen=True)
class OutsideHost:
    namespace: str
    # The namespace's side of the veth pair: where its servers listen.
    address: str
    nsenter: str

    def launcher(self) -> tuple[str, ...]:
        """Prefix that runs a command inside the namespace's network only (`nsenter --net`,
        not `ip netns exec`, which also remounts /sys: shared/TOOLS.md)."""
        return (self.nsenter, f"--net=/var/run/netns/{self.namespace}")


def _ip(ip: str, *args: str) -> str:
    result = subprocess.run(
        [ip, *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result.stdout


def _free_subnet(ip: str) -> ipaddress.IPv4Network:
    """A /30 of the pool that no address or route of this machine overlaps."""
    used = [
        ipaddress.ip_network(word, strict=False)
        for line in _ip(ip, "-4", "route", "show", "table", "all").splitlines()
        for word in line.split()[:1]
        if word[:1].isdigit()
    ]
    candidates = list(SUBNET_POOL.subnets(new_prefix=30))
    start = os.getpid() % len(candidates)
    for subnet in candidates[start:] + candidates[:start]:
        if not any(subnet.overlaps(route) for route in used):
            return subnet
    raise RuntimeError(f"no free /30 left in {SUBNET_POOL}")


@contextmanager
def outside_host(ip: str, nsenter: str) -> Iterator[OutsideHost]:
    """The namespace and its veth pair for the duration of the block, removed after."""
    tag = f"{os.getpid() % 100000}"
    namespace, host_side, inside = f"canny-out-{tag}", f"cob{tag}", f"coi{tag}"
    subnet = _free_subnet(ip)
    host_address, address = (str(host) for host in subnet.hosts())
    _ip(ip, "netns", "add", namespace)
    try:
        _ip(ip, "link", "add", host_side, "type", "veth", "peer", "name", inside)
        _ip(ip, "link", "set", inside, "netns", namespace)
        _ip(ip, "addr", "add", f"{host_address}/30", "dev", host_side)
        _ip(ip, "link", "set", host_side, "up")
        inside_ip = (ip, "-n", namespace)
        _ip(*inside_ip, "addr", "add", f"{address}/30", "dev", inside)
        _ip(*inside_ip, "link", "set", inside, "up")
        _ip(*inside_ip, "link", "set", "lo", "up")
        yield OutsideHost(namespace, address, nsenter)
    finally:
        # Deleting the namespace deletes its end of the pair, and with it the host's end.
        _ip(ip, "netns", "del", namespace)
