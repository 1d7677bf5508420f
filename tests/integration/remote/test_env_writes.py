"""The stdin steps that write the app's .env, run at once over real SSH, as Pulumi runs them.

They depend only on the bundle's copies (infra/deploy.py), so the engine starts them
together, each over its own SSH connection (pulumi-command dials one per resource:
provider/pkg/provider/remote/commandOutputs.go, `run`). Before .env writes were locked, two
of them could read .env, each rename its own copy over it, and lose the other's key.
"""

import errno
import json
import os
import shlex
import shutil
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from paramiko import SSHClient

from ci.ssh import CommandResult, run, session
from tests.integration.remote.deploy_script import env_file

# Rounds of all the steps at once.
ROUNDS = 30
STEP_TIMEOUT_S = 60
# compose_cli.sh asks `docker compose version` first; the Python stand-in's start-up time
# would spread the steps apart by more than a .env write takes, so a shell one answers here.
INSTANT_DOCKER = "#!/bin/sh\nexit 0\n"
TARGETS = [{"targets": ["10.110.0.11:9090"], "labels": {"droplet": "canny-prod"}}]
# Each step's script and stdin, and the .env keys it writes.
STEPS = {
    "storage_credentials.sh": (
        "DO00RACESENTINEL\nRace-Secret-Sentinel\n",
        {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"},
    ),
    "write_fleet_targets.sh": (json.dumps(TARGETS), {"FLEET_TARGETS_DIR"}),
    "write_alertmanager_secret.sh": ("https://hooks.example/race\n", {"ALERTMANAGER_SECRETS_DIR"}),
    "owner_key_secrets.sh": (
        "race-owner-key-secret-0123456789abcdef\n",
        {"CANNY_OWNER_KEY_SECRETS"},
    ),
}


def release_when_all_arrived(arrivals: Path, gate: Path, count: int) -> int:
    """Wait (bounded) until every step's shell has arrived, then open the FIFO they block on:
    opening its write end wakes every reader at once, and later readers pass straight
    through while it stays open. Returns the write end for the caller to close."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while time.monotonic() < deadline:
        if len(list(arrivals.iterdir())) == count:
            try:
                return os.open(gate, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as error:  # ENXIO: no reader has the FIFO open yet
                if error.errno != errno.ENXIO:
                    raise
        time.sleep(0.01)
    raise AssertionError(f"the steps did not all reach the start within {STEP_TIMEOUT_S}s")


def run_steps_at_once(clients: list[SSHClient], app_dir: Path, work: Path) -> list[CommandResult]:
    """Every script starts at the same moment, each over its own connection: each shell
    waits on a FIFO that is opened for writing once all of them wait."""
    arrivals, gate = work / "arrived", work / "start"
    shutil.rmtree(arrivals, ignore_errors=True)
    arrivals.mkdir()
    gate.unlink(missing_ok=True)
    os.mkfifo(gate)
    results: list[CommandResult] = []

    def step(client: SSHClient, script: str, stdin: str) -> None:
        wait = f"touch {shlex.quote(str(arrivals / script))}; : <{shlex.quote(str(gate))}"
        path = shlex.quote(str(app_dir / "bin" / script))
        command = f"{wait}; PATH={shlex.quote(str(work))}:$PATH bash {path}"
        results.append(run(client, command, stdin=stdin, timeout=STEP_TIMEOUT_S))

    threads = [
        threading.Thread(target=step, args=(client, script, stdin))
        for client, (script, (stdin, _)) in zip(clients, STEPS.items(), strict=True)
    ]
    for thread in threads:
        thread.start()
    write_end = release_when_all_arrived(arrivals, gate, len(threads))
    try:
        for thread in threads:
            thread.join(timeout=STEP_TIMEOUT_S * 2)
    finally:
        os.close(write_end)
    return results


def test_concurrent_env_writers_keep_every_key(remote_host, tmp_path):
    (tmp_path / "docker").write_text(INSTANT_DOCKER, encoding="utf-8")
    (tmp_path / "docker").chmod(0o755)
    expected = set().union(*(keys for _, keys in STEPS.values()))
    env = remote_host.app_dir / ".env"
    broken = []
    with ExitStack() as stack:
        clients = [stack.enter_context(session(remote_host.target)) for _ in STEPS]
        for round_number in range(ROUNDS):
            env.unlink(missing_ok=True)
            results = run_steps_at_once(clients, remote_host.app_dir, tmp_path)
            assert len(results) == len(STEPS), f"round {round_number}: a step did not finish"
            failed = [result.stderr.strip() for result in results if not result.ok]
            missing = expected - set(env_file(remote_host)) if env.exists() else expected
            if failed or missing:
                broken.append((round_number, failed, sorted(missing)))
    assert broken == [], f"{len(broken)} of {ROUNDS} rounds broken: {broken[:3]}"
    leftovers = [path.name for path in remote_host.app_dir.glob(".env.*") if path.suffix != ".lock"]
    assert leftovers == [], f"temporary files left behind: {leftovers}"
