"""Fixtures of the deploy rehearsal: local droplets (network namespaces with their own
dockerd and sshd), made once per module and removed even when a test fails."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from infra.rehearse.droplets import Droplet
from infra.rehearse.rehearsal import make_droplets
from tests.conftest import missing_tool

TOOLS = ("ip", "nsenter", "unshare", "dockerd", "sshd", "iptables")


@pytest.fixture(scope="module")
def two_droplets(require_tool: Callable[[str], str]) -> Iterator[list[Droplet]]:
    if os.geteuid() != 0:
        missing_tool("the rehearsal makes network namespaces: it needs root")
    for tool in TOOLS:
        require_tool(tool)
    droplets = make_droplets(2)
    try:
        yield droplets
    finally:
        for droplet in droplets:
            droplet.destroy()
