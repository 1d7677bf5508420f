"""Read a Pulumi stack file (Pulumi.<stack>.yaml) the way the CLI hands it to the program."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra import stack_name

REPO_ROOT = Path(__file__).resolve().parent.parent


class StackFileError(ValueError):
    """The stack file is missing or not a Pulumi stack file."""


@dataclass(frozen=True)
class StackConfig:
    values: dict[str, Any]
    # Keys stored as `secure:` ciphertext: only the state backend's secrets provider can read them.
    secure_keys: frozenset[str]


def default_config_file(stack: str) -> Path:
    """The file `pulumi` reads for the stack: infra.stack_name decides which (CI passes it
    with --config-file)."""
    try:
        return REPO_ROOT / stack_name.stack_file(stack)
    except ValueError as error:
        raise StackFileError(str(error)) from None


def read_stack_config(path: Path) -> StackConfig:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise StackFileError(f"cannot read stack file {path}: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise StackFileError(f"{path} is not valid YAML: {error}") from error
    config = document.get("config", {}) if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise StackFileError(f"{path}: `config` must be a mapping of key: value")
    values: dict[str, Any] = {}
    secure: set[str] = set()
    for key, value in config.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            secure.add(key)
        else:
            values[key] = value
    return StackConfig(values=values, secure_keys=frozenset(secure))
