"""infra/boot/openpgp_fingerprint.py, the boot's gpg-free key check, against gpg itself."""

import subprocess
import sys

import pytest

from infra.cloud_init import FINGERPRINT_CHECK
from tests.infra.openpgp_keys import KeyMaker


@pytest.fixture(scope="module")
def keys(require_tool, tmp_path_factory):
    maker = KeyMaker(require_tool("gpg"), tmp_path_factory.mktemp("gnupg") / "home")
    return maker, {
        "ed25519": maker.make("one@example.invalid"),
        "rsa": maker.make("two@example.invalid", "rsa3072"),
    }


def check(tmp_path, text: str, *pinned: str) -> subprocess.CompletedProcess:
    path = tmp_path / "key.asc"
    path.write_text(text, encoding="ascii")
    return subprocess.run(
        [sys.executable, str(FINGERPRINT_CHECK), str(path), *pinned],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_the_fingerprint_gpg_shows_is_accepted(keys, tmp_path, kind):
    key = keys[1][kind]
    spaced = " ".join(key.fingerprint[index : index + 4] for index in range(0, 40, 4))
    for written in (key.fingerprint, spaced, key.fingerprint.lower()):
        result = check(tmp_path, key.armored, written)
        assert result.returncode == 0, result.stderr


def test_another_key_is_refused(keys, tmp_path):
    result = check(tmp_path, keys[1]["rsa"].armored, keys[1]["ed25519"].fingerprint)
    assert result.returncode == 1
    assert keys[1]["rsa"].fingerprint in result.stderr, "the refusal names what was found"


def both_keys(keys, layout: str) -> str:
    """The ed25519 and the rsa key in one file: as two armored blocks or in one."""
    maker, made = keys
    if layout == "two blocks":
        return made["ed25519"].armored + made["rsa"].armored
    return maker.export_together("one@example.invalid", "two@example.invalid")


@pytest.mark.parametrize("layout", ["two blocks", "one block"])
def test_a_second_key_beside_the_pinned_one_is_refused(keys, tmp_path, layout):
    """apt trusts every key in a signed-by file: one extra key would be trusted too."""
    pinned, extra = keys[1]["ed25519"], keys[1]["rsa"]
    result = check(tmp_path, both_keys(keys, layout), pinned.fingerprint)
    assert result.returncode == 1 and extra.fingerprint in result.stderr, result.stderr


@pytest.mark.parametrize("layout", ["two blocks", "one block"])
def test_a_rotation_file_with_old_and_new_key_passes_when_both_are_pinned(keys, tmp_path, layout):
    old, new = keys[1]["ed25519"], keys[1]["rsa"]
    result = check(tmp_path, both_keys(keys, layout), old.fingerprint, new.fingerprint)
    assert result.returncode == 0, result.stderr


def test_one_key_of_the_pinned_set_passes(keys, tmp_path):
    """After the rotation the file holds the new key alone."""
    old, new = keys[1]["ed25519"], keys[1]["rsa"]
    result = check(tmp_path, new.armored, old.fingerprint, new.fingerprint)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "text", ["", "<html>404</html>", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!\n"]
)
def test_what_is_not_a_key_is_refused(keys, tmp_path, text):
    result = check(tmp_path, text, keys[1]["ed25519"].fingerprint)
    assert result.returncode == 1 and result.stderr
