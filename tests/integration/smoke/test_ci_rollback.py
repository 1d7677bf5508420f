"""ci.rollback over real SSH, running the real infra/remote/rollback.sh on a stand-in host."""

import pytest

from ci import rollback
from ci.ssh import SshTarget
from tests.conftest import pick_free_port
from tests.integration.remote.conftest import RemoteHost


def rollback_script(host: RemoteHost, gate_url: str) -> str:
    """A launcher on the host pointing the readiness gate at the stand-in gateway; in prod
    the gate's default (the droplet's own port 80) applies."""
    launcher = host.app_dir / "bin" / "rollback-under-test.sh"
    launcher.write_text(
        f"CANNY_GATE_URL='{gate_url}' CANNY_GATE_TIMEOUT=2 CANNY_GATE_INTERVAL=0.2 "
        f"exec bash {host.app_dir / 'bin' / 'rollback.sh'}\n"
    )
    return str(launcher)


def run_rollback(host: RemoteHost, script: str) -> int:
    target = host.target
    return rollback.main(
        [
            "--host",
            target.host,
            "--port",
            str(target.port),
            "--user",
            target.user,
            "--key-file",
            str(target.key_file),
            "--script",
            script,
            "--timeout",
            "60",
        ]
    )


def deployed(host: RemoteHost, current: str, previous: str | None) -> None:
    (host.app_dir / "image_tag").write_text(current + "\n")
    if previous:
        (host.app_dir / "image_tag.previous").write_text(previous + "\n")
    env = f"REGISTRY_IMAGE=registry.example/canny\nIMAGE_TAG={current}\n"
    (host.app_dir / ".env").write_text(env)


def test_rollback_brings_the_previous_tag_back(
    remote_host: RemoteHost, gateway_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed(remote_host, "bad-sha", previous="good-sha")
    assert run_rollback(remote_host, rollback_script(remote_host, gateway_url)) == 0
    assert (remote_host.app_dir / "image_tag").read_text().strip() == "good-sha"
    ups = [call for call in remote_host.calls() if "up" in call["argv"]]
    assert ups, "compose was not brought up again"
    assert ups[-1]["image_tag"] == "good-sha", f"compose came up on another tag: {ups}"
    assert "runs the previous image tag again" in capsys.readouterr().out


def test_first_deploy_has_nothing_to_roll_back(
    remote_host: RemoteHost, gateway_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed(remote_host, "first-sha", previous=None)
    assert run_rollback(remote_host, rollback_script(remote_host, gateway_url)) == 3
    assert "no previous image tag" in capsys.readouterr().err
    restarts = [call for call in remote_host.compose_calls() if call[:1] in (["pull"], ["up"])]
    assert restarts == [], "nothing may be pulled or restarted"


def test_a_previous_tag_that_never_gets_ready_fails_loudly(
    remote_host: RemoteHost, gateway_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed(remote_host, "bad-sha", previous="also-bad-sha")
    remote_host.control("unhealthy", "backend-1")
    assert run_rollback(remote_host, rollback_script(remote_host, gateway_url)) == 1
    assert "the previous tag is not ready either" in capsys.readouterr().err


def test_an_unreachable_host_fails_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    target = SshTarget("127.0.0.1", "deploy", pick_free_port(), key_file=None)
    assert rollback.rollback(target, timeout=5) == 1
    assert "cannot connect to deploy@127.0.0.1" in capsys.readouterr().err
