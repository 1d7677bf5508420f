"""How infra/config.py gets the stack's config: public Pulumi calls, every key, misspelled too."""

import contextvars
import json
import os

import pulumi
import pytest

from infra.config import ConfigError, load_settings
from infra.offline import run_program
from tests.infra.stack_settings import stack_config


def test_a_misspelled_key_passed_by_the_engine_stops_the_program() -> None:
    config = stack_config("test", adminCidr='["192.0.2.0/24"]')
    with pytest.raises(ConfigError, match="canny:adminCidr: unknown setting"):
        run_program("test", config)


def test_the_offline_run_leaves_the_environment_as_it_found_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PULUMI_CONFIG", '{"other:key": "kept"}')
    run_program("test", stack_config("test"))
    assert os.environ["PULUMI_CONFIG"] == '{"other:key": "kept"}'
    monkeypatch.delenv("PULUMI_CONFIG")
    run_program("test", stack_config("test"))
    assert "PULUMI_CONFIG" not in os.environ


def test_values_set_through_set_all_config_are_read_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pulumi.runtime.set_all_config` is the other public way config reaches a program."""
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    config = stack_config("test", domain="set-all-config.example")

    def read() -> str:
        pulumi.runtime.set_all_config(
            {
                key: value if isinstance(value, str) else json.dumps(value)
                for key, value in config.items()
            }
        )
        return load_settings("test").dns.domain

    assert contextvars.Context().run(read) == "set-all-config.example"
