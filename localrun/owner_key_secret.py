"""The secret the local backends sign owner keys with (CANNY_OWNER_KEY_SECRETS).

Both backends must share it, and it must outlive a restart of `./run`: the browser keeps
its key for 400 days, and a new secret would refuse that key and hide its gallery. So it is
made once per run folder, kept in a file only this user can read, and never printed. A
CANNY_OWNER_KEY_SECRETS in the environment wins (rotation: see docs/api.md).
"""

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

SECRET_FILE_NAME = "owner-key-secret"  # noqa: S105 (a file name, not a secret)
ENV_NAME = "CANNY_OWNER_KEY_SECRETS"


def owner_key_secrets(run_dir: Path, environ: Mapping[str, str]) -> str:
    if environ.get(ENV_NAME, "").strip():
        return environ[ENV_NAME]
    path = run_dir / SECRET_FILE_NAME
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    # O_EXCL: two runs starting at once never overwrite each other's secret.
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()
