"""`./run` signs owner keys with one secret per run folder, kept across restarts."""

import stat
from pathlib import Path

from canny.settings import Settings

from localrun.owner_key_secret import SECRET_FILE_NAME, owner_key_secrets


def test_a_run_folder_gets_one_private_secret_that_outlives_a_restart(tmp_path: Path) -> None:
    first = owner_key_secrets(tmp_path, {})
    assert owner_key_secrets(tmp_path, {}) == first, "a restart must keep the browser's key"
    (tmp_path / "other").mkdir()
    assert owner_key_secrets(tmp_path / "other", {}) != first, "each run folder its own"
    mode = stat.S_IMODE((tmp_path / SECRET_FILE_NAME).stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert Settings(owner_key_secrets=first).owner_key_secret_list == (first,), "too weak"


def test_the_environment_wins(tmp_path: Path) -> None:
    given = "given-owner-key-secret-0123456789abcdef,older-owner-key-secret-0123456789abcd"
    assert owner_key_secrets(tmp_path, {"CANNY_OWNER_KEY_SECRETS": given}) == given
    assert not (tmp_path / SECRET_FILE_NAME).exists()
