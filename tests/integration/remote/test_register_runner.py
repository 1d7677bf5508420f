"""infra/remote/register_runner.sh over real SSH with a stand-in gitlab-runner: the token
arrives on stdin only, and a registered runner is left alone."""

import json

from tests.integration.remote.runner_registration import TOKEN, register


def test_registers_with_the_token_from_stdin_only(remote_host):
    result = register(remote_host, f"{TOKEN}\n")
    assert result.ok, result.stderr
    (call,) = remote_host.calls("gitlab-runner")
    assert call["token_env"] == TOKEN, "gitlab-runner reads the token from CI_SERVER_TOKEN"
    assert call["argv"] == [
        "register", "--non-interactive", "--config", str(remote_host.app_dir / "config.toml"),
        "--url", "https://gitlab.example.com", "--name", "canny-prod",
        "--executor", "docker", "--docker-image", "debian:bookworm-slim",
    ]  # fmt: skip
    shown = json.dumps(call["argv"]) + result.stdout + result.stderr
    assert TOKEN not in shown, "the token leaked into argv or the output"


def test_a_registered_runner_is_left_alone(remote_host):
    assert register(remote_host, f"{TOKEN}\n").ok
    again = register(remote_host, "glrt-Another-Token\n")
    assert again.ok, again.stderr
    assert "already registered" in again.stdout
    assert len(remote_host.calls("gitlab-runner")) == 1, "registered twice"


def test_another_runner_name_is_registered_beside(remote_host):
    assert register(remote_host, f"{TOKEN}\n").ok
    other = "https://gitlab.example.com canny-prod-2 docker debian:bookworm-slim"
    assert register(remote_host, f"{TOKEN}\n", other).ok
    assert len(remote_host.calls("gitlab-runner")) == 2


def test_a_shell_executor_is_refused(remote_host):
    """A shell job runs on the droplet as gitlab-runner, next to the metadata service."""
    result = register(remote_host, f"{TOKEN}\n", "https://gitlab.example.com n shell debian:12")
    assert result.exit_status == 64 and "executor shell refused" in result.stderr
    assert not remote_host.calls("gitlab-runner")


def test_no_token_on_stdin_is_refused(remote_host):
    result = register(remote_host, "")
    assert result.exit_status == 64 and "no runner token on stdin" in result.stderr
    assert not remote_host.calls("gitlab-runner")
