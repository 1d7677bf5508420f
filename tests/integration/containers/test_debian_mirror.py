"""The base image is bootstrapped from the mirror this machine's apt uses, read from
/etc/apt/sources.list.d/, not from a mirror host written in the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.rehearse.base_image import DEFAULT_MIRROR, debian_mirror

SECURITY_FIRST = """Types: deb
URIs: http://mirror.example.org/debian-security
Suites: bookworm-security
Components: main

Types: deb deb-src
# a comment line
URIs: http://mirror.example.org/debian http://second.example.org/debian
Suites: bookworm bookworm-updates
Components: main
"""


def test_the_bookworm_stanza_of_a_deb822_file_names_the_mirror(tmp_path: Path) -> None:
    (tmp_path / "debian.sources").write_text(SECURITY_FIRST)
    assert debian_mirror(tmp_path) == "http://mirror.example.org/debian"


@pytest.mark.parametrize(
    "line",
    [
        "deb http://proxy.example.net:3142/debian bookworm main",
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://proxy.example.net:3142/debian bookworm main contrib",
    ],
)
def test_a_one_line_list_file_names_the_mirror(tmp_path: Path, line: str) -> None:
    (tmp_path / "debian.list").write_text(f"# bookworm\n{line}\n")
    assert debian_mirror(tmp_path) == "http://proxy.example.net:3142/debian"


def test_without_a_debian_source_debootstrap_s_default_is_used(tmp_path: Path) -> None:
    (tmp_path / "other.sources").write_text(
        "Types: deb\nURIs: http://x.example/ubuntu\nSuites: noble\n"
    )
    assert debian_mirror(tmp_path) == DEFAULT_MIRROR
