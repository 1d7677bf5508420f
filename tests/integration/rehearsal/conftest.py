"""Fixtures of the deploy rehearsal: local droplets (network namespaces with their own
dockerd and sshd), made once per module and removed even when a test fails."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from infra.rehearse.droplets import Droplet, free_slots
from infra.rehearse.rehearsal import make_droplets
from tests.conftest import missing_tool

TOOLS = (
    "ip",
    "nsenter",
    "unshare",
    "dockerd",
    "sshd",
    "iptables",
    "nginx",
    "debootstrap",
    "docker-registry",
    "htpasswd",
    "moto_server",
)


@pytest.fixture(scope="session")
def rehearsal_tools(require_tool: Callable[[str], str]) -> None:
    """Root and every tool a rehearsal runs (skips, or fails under CI, without them)."""
    if os.geteuid() != 0:
        missing_tool("the rehearsal makes network namespaces: it needs root")
    for tool in TOOLS:
        require_tool(tool)


@pytest.fixture(scope="module")
def two_droplets(rehearsal_tools: None) -> Iterator[list[Droplet]]:
    droplets = make_droplets(free_slots(2))
    try:
        yield droplets
    finally:
        for droplet in droplets:
            droplet.destroy()
