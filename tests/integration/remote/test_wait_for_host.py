"""ci/wait_for_host.py against a real sshd, with cloud-init played by a stand-in."""

import pytest

from ci.wait_for_host import main


def wait(host, capsys, *, timeout: float = 5.0, port: int | None = None, marker: bool = True):
    marker_path = host.app_dir / "cloud-init.done"
    if marker:
        marker_path.touch()
    log = host.app_dir / "cloud-init-output.log"
    log.write_text("apt: fake package failure\n")
    target = host.target
    status = main(
        [
            target.host,
            "--user", target.user,
            "--port", str(port or target.port),
            "--key-file", str(target.key_file),
            "--timeout", str(timeout),
            "--interval", "0.2",
            "--ready-marker", str(marker_path),
            "--cloud-init-log", str(log),
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize(("cloud_init", "note"), [("done 0", ""), ("done 2", "recoverable")])
def test_ready_when_cloud_init_is_done(remote_host, capsys, cloud_init, note):
    remote_host.control("cloud_init", cloud_init)
    status, out, err = wait(remote_host, capsys)
    assert status == 0, err
    assert out.rstrip().endswith(": ready") and note in out


def test_cloud_init_error_fails_at_once_with_diagnostics(remote_host, capsys):
    remote_host.control("cloud_init", "error 1")
    status, _, err = wait(remote_host, capsys, timeout=60)
    assert status == 1
    assert "cloud-init failed: status error, exit 1" in err
    assert "detail: fake cloud-init detail" in err, "cloud-init status --long missing"
    assert "apt: fake package failure" in err, "the cloud-init log tail is missing"
    polls = [c for c in remote_host.calls("cloud-init") if c["argv"] == ["status"]]
    assert len(polls) == 1, "a failed cloud-init must not be polled until the deadline"


def test_still_running_times_out_with_diagnostics(remote_host, capsys):
    remote_host.control("cloud_init", "running 0")
    status, out, err = wait(remote_host, capsys, timeout=1.5)
    assert status == 1
    assert "not ready after 1.5s (last: cloud-init still running)" in err
    assert "detail: fake cloud-init detail" in err
    assert "cloud-init: running" in out


def test_missing_marker_fails(remote_host, capsys):
    status, _, err = wait(remote_host, capsys, marker=False)
    assert status == 1 and "cloud-init.done is missing" in err


def test_unreachable_host_times_out_naming_the_last_error(remote_host, capsys, free_port):
    status, out, err = wait(remote_host, capsys, timeout=1.0, port=free_port)
    assert status == 1
    assert f"not ready after 1s (last: cannot connect to {remote_host.target.user}@" in err
    assert "(no diagnostics: cannot connect" in err
    assert "waiting for SSH" in out
