"""A `pulumi` CLI for the rehearsal: the calls CI's wrapper makes (ci/pulumi_cli.py through
Pulumi's Automation API, as ci/prod_release.py drives it), answered by running the program
under the rehearsal's mocks against the rehearsal's state, so `ci.prod_release` runs
unchanged and its `up`s really run the remote steps on the local droplets.

Two halves, because the rehearsal (droplets, balancer, the engine's state) lives in the test's
process and `pulumi` is a subprocess of the job: `python -m infra.rehearse.pulumi_standin
ARGS...` (the `pulumi` on the job's PATH, `PulumiStandIn.bin_dir`) sends its arguments and
stdin over a Unix socket to `PulumiStandIn.serve`, which answers on the test's main thread
(the balancer's nginx belongs to it: infra/rehearse/environment.py) with stdout, stderr and
the exit status. An unknown command or flag fails with exit 2, as Pulumi's CLI (cobra)
does, so a new call in CI's wrapper shows up here instead of being answered wrongly.

What it implements, after pulumi/pulumi pkg/cmd/pulumi (https://www.pulumi.com/docs/iac/cli/
commands/), with the `--non-interactive` the Automation API puts first on every call
(sdk/python/lib/pulumi/automation/_cmd.py, PulumiCommand.run):
- `version`: the CLI of CI's Pulumi jobs (`PULUMI_IMAGE` in .gitlab-ci.yml), so the
  Automation API talks to the stand-in as it talks to the real CLI in a job;
- `stack ls --json`: the rehearsal's one stack; `stack select --stack S`: fails for any
  other (prod is never created by CI: no `stack init` for it);
- `stack output --json [--show-secrets] --stack S`: the outputs of the last successful
  update; secret outputs print as "[secret]" without `--show-secrets`;
- `stack history --json ... --stack S`: the updates so far, newest first, which Stack.up
  reads after each update;
- `config set --secret --stack S KEY` (value on stdin) and `config set-all --stack S
  --plaintext K=V...`: kept as the stack's config for every later `up`;
- `up`: the program under the rehearsal's mocks (infra/rehearse/rehearsal.py); a failed
  step fails it with exit 255 and the step's output, as `pulumi up` fails an update.
  `--event-log TARGET` (accepted only with PULUMI_DEBUG_COMMANDS=true, as the CLI hides it
  otherwise: pkg/cmd/pulumi/operations/up.go) gets a `resourcePreEvent` with `planning`
  false just before each resource changes (sdk/go/common/apitype/events.go), which is what
  ci.update_outcome reads, and last a `cancelEvent`. TARGET is a file for CLIs up to 3.205
  (the Automation API reads it until that `cancelEvent`: _stack.py, _watch_logs) and, for
  the newer CLI CI runs, `tcp://127.0.0.1:PORT`, the Automation API's Events gRPC service
  (_stack.py, _setup_event_log and _EventsServicer: `StreamEvents`, one JSON-encoded
  engine event per `EventRequest`, proto/events.proto). Not rehearsed: `--refresh` (the
  rehearsal's state is what the droplets run) and `--policy-pack` (the pack has its own
  tests: tests/policy).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml
from pulumi.runtime.proto import events_pb2, events_pb2_grpc

from infra.rehearse.rehearsal import Rehearsal
from infra.rehearse.remote_steps import StepError

SOCKET_VARIABLE = "CANNY_REHEARSAL_PULUMI_SOCKET"
PROJECT = "canny"
GITLAB_CI = Path(__file__).resolve().parents[2] / ".gitlab-ci.yml"
GRPC_EVENTS = "tcp://"
EVENT_STREAM_END_S = 30.0
# Pulumi's exit status for a failed update (and for most command errors).
FAILED = 255
# Cobra's for a command line it does not understand.
USAGE = 2
ACCEPT_POLL_S = 0.5


class UsageError(Exception):
    """A command line the stand-in (like Pulumi) does not accept."""


def ci_pulumi_version() -> str:
    """`vX.Y.Z` of the Pulumi CLI image CI's Pulumi jobs run (`PULUMI_IMAGE`'s tag)."""
    image = yaml.safe_load(GITLAB_CI.read_text())["variables"]["PULUMI_IMAGE"]
    return "v" + str(image).rpartition(":")[2]


class EventSink:
    """Where one `up --event-log TARGET` sends its engine events: appended to a file, or
    streamed to the Automation API's Events service when TARGET is `tcp://HOST:PORT`."""

    def __init__(self, target: str, cwd: Path) -> None:
        self._lock = threading.Lock()
        self._file: Path | None = None
        self._queue: queue.Queue[events_pb2.EventRequest | None] = queue.Queue()
        self._stream: threading.Thread | None = None
        if target.startswith(GRPC_EVENTS):
            channel = grpc.insecure_channel(target.removeprefix(GRPC_EVENTS))
            stub = events_pb2_grpc.EventsStub(channel)
            requests = iter(self._queue.get, None)
            self._stream = threading.Thread(
                target=self._send, args=(channel, stub, requests), daemon=True
            )
            self._stream.start()
        else:
            self._file = cwd / target
            self._file.write_text("")

    @staticmethod
    def _send(channel: grpc.Channel, stub: Any, requests: Any) -> None:
        with channel:
            stub.StreamEvents(requests)

    def write(self, event: dict[str, Any]) -> None:
        line = json.dumps({"timestamp": int(time.time()), **event})
        if self._file is None:
            self._queue.put(events_pb2.EventRequest(event=line))
            return
        with self._lock, self._file.open("a") as log:
            log.write(line + "\n")

    def close(self) -> None:
        """Ends the stream once every event is sent: the update's exit must not come first,
        since the Automation API stops its server when the command exits."""
        if self._stream is None:
            return
        self._queue.put(None)
        self._stream.join(EVENT_STREAM_END_S)
        if self._stream.is_alive():
            raise TimeoutError(f"the engine events were not taken in {EVENT_STREAM_END_S:.0f}s")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(message)


@dataclass
class Reply:
    stdout: str = ""
    stderr: str = ""
    code: int = 0


def _parser(*flags: str, values: Sequence[str] = (), repeated: Sequence[str] = ()) -> _Parser:
    # Cobra takes no abbreviated flags: `--config` is not `--config-file`.
    parser = _Parser(add_help=False, allow_abbrev=False)
    for flag in flags:
        parser.add_argument(flag, action="store_true")
    for flag in values:
        parser.add_argument(flag)
    for flag in repeated:
        parser.add_argument(flag, action="append", default=[])
    return parser


STACK_LS = _parser("--json")
STACK_SELECT = _parser(values=("--stack",))
STACK_OUTPUT = _parser("--json", "--show-secrets", values=("--stack",))
STACK_HISTORY = _parser("--json", "--show-secrets", values=("--stack", "--page-size", "--page"))
CONFIG_SET = _parser("--secret", "--non-interactive", values=("--stack", "--config-file"))
CONFIG_SET.add_argument("key")
CONFIG_SET_ALL = _parser(values=("--stack", "--config-file"), repeated=("--plaintext",))
UP = _parser(
    "--yes",
    "--skip-preview",
    "--refresh",
    values=(
        "--stack",
        "--config-file",
        "--color",
        "--event-log",
        "--policy-pack",
        "--exec-kind",
    ),
)


@dataclass
class PulumiStandIn:
    """`with PulumiStandIn(rehearsal, folder) as pulumi:` then `pulumi.serve(process)`."""

    rehearsal: Rehearsal
    folder: Path
    config: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    # `stack history --json` entries (pkg/cmd/pulumi/stack/stack_history.go), newest first.
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def bin_dir(self) -> Path:
        return self.folder / "bin"

    @property
    def socket_path(self) -> Path:
        return self.folder / "pulumi.sock"

    def __enter__(self) -> PulumiStandIn:
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        shim = self.bin_dir / "pulumi"
        shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m infra.rehearse.pulumi_standin "$@"\n')
        shim.chmod(0o755)
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(self.socket_path))
        self._server.listen()
        self._server.settimeout(ACCEPT_POLL_S)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.close()
        self.socket_path.unlink(missing_ok=True)

    def environment(self, environ: dict[str, str]) -> dict[str, str]:
        """`environ` with this `pulumi` first on PATH and its socket named."""
        path = f"{self.bin_dir}{os.pathsep}{environ.get('PATH', os.defpath)}"
        return environ | {"PATH": path, SOCKET_VARIABLE: str(self.socket_path)}

    def serve(self, process: subprocess.Popen, timeout_s: float) -> int:
        """Answer `process`'s pulumi calls until it exits; its exit status. Killed (and an
        error raised) when it runs longer than `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise TimeoutError(f"{process.args} ran longer than {timeout_s:.0f}s")
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            with connection:
                request = json.loads(_receive(connection))
                reply = self.answer(request["argv"], Path(request["cwd"]), request)
                connection.sendall(json.dumps(reply.__dict__).encode())
        return process.returncode

    def answer(self, argv: list[str], cwd: Path, request: dict[str, Any]) -> Reply:
        argv = argv[1:] if argv[:1] == ["--non-interactive"] else argv
        try:
            if argv == ["version"]:
                return Reply(ci_pulumi_version() + "\n")
            if argv[:2] == ["stack", "ls"]:
                _json_only(STACK_LS.parse_args(argv[2:]))
                return Reply(json.dumps([{"name": self.rehearsal.stack, "current": True}]))
            if argv[:2] == ["stack", "select"]:
                self._stack(STACK_SELECT.parse_args(argv[2:]).stack)
                return Reply()
            if argv[:2] == ["stack", "output"]:
                args = _json_only(STACK_OUTPUT.parse_args(argv[2:]))
                self._stack(args.stack)
                hidden = set() if args.show_secrets else self.secret_outputs
                shown = {
                    key: "[secret]" if key in hidden else value
                    for key, value in self.outputs.items()
                }
                return Reply(json.dumps(shown, indent=2))
            if argv[:2] == ["stack", "history"]:
                args = _json_only(STACK_HISTORY.parse_args(argv[2:]))
                self._stack(args.stack)
                size = int(args.page_size) if args.page_size else len(self.history)
                return Reply(json.dumps(self.history[:size]))
            if argv[:2] == ["config", "set"]:
                args = CONFIG_SET.parse_args(argv[2:])
                self._stack(args.stack)
                self.config[args.key] = request["stdin"]
                return Reply()
            if argv[:2] == ["config", "set-all"]:
                args = CONFIG_SET_ALL.parse_args(argv[2:])
                self._stack(args.stack)
                self.config.update(_pairs(args.plaintext))
                return Reply()
            if argv[:1] == ["up"]:
                return self._up(UP.parse_args(argv[1:]), cwd, request)
            raise UsageError(f"unknown command {' '.join(argv)!r} (not rehearsed)")
        except UsageError as error:
            return Reply(stderr=f"error: {error}\n", code=USAGE)

    def _stack(self, name: str | None) -> None:
        if name != self.rehearsal.stack:
            raise UsageError(f"no stack named {name!r} found")

    def _up(self, args: argparse.Namespace, cwd: Path, request: dict[str, Any]) -> Reply:
        self._stack(args.stack)
        if args.event_log and not request["debug_commands"]:
            raise UsageError("unknown flag: --event-log")
        if not args.yes:
            raise UsageError(
                "--yes must be passed in to proceed when running in non-interactive mode"
            )
        events = EventSink(args.event_log, cwd) if args.event_log else None
        try:
            return self._run_update(events)
        finally:
            if events is not None:
                events.write({"cancelEvent": {}})
                events.close()

    def _run_update(self, events: EventSink | None) -> Reply:
        lines: list[str] = []
        log = self.rehearsal.log

        def record(line: str) -> None:
            lines.append(line)
            log(line)

        self.rehearsal.log = record
        try:
            result = self.rehearsal.up(
                str(self.config["canny:imageTag"]),
                config=self.config,
                announce=lambda type_token, name, op: self._event(events, type_token, name, op),
            )
        except StepError as error:
            self._record("failed")
            return Reply("\n".join(lines) + "\n", f"error: update failed: {error}\n", FAILED)
        finally:
            self.rehearsal.log = log
        self.outputs = dict(result.run.outputs)
        self.secret_outputs = set(result.run.secret_outputs)
        self._record("succeeded")
        lines.append(f"Update succeeded: {len(result.ran())} remote steps ran")
        return Reply("\n".join(lines) + "\n")

    def _record(self, result: str) -> None:
        started = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        update = {"kind": "update", "startTime": started, "message": "", "result": result}
        self.history.insert(0, update | {"environment": {}, "config": {}})

    def _event(self, events: EventSink | None, type_token: str, name: str, op: str) -> None:
        if events is None:
            return
        urn = f"urn:pulumi:{self.rehearsal.stack}::{PROJECT}::{type_token}::{name}"
        metadata = {"op": op, "urn": urn, "type": type_token}
        events.write({"resourcePreEvent": {"metadata": metadata, "planning": False}})


def _json_only(args: argparse.Namespace) -> argparse.Namespace:
    """CI reads Pulumi's machine output only; the tables for people are not rehearsed."""
    if not args.json:
        raise UsageError("only --json output is rehearsed")
    return args


def _pairs(assignments: Sequence[str]) -> dict[str, str]:
    pairs = {}
    for assignment in assignments:
        key, separator, value = assignment.partition("=")
        if not separator:
            raise UsageError(f"{assignment!r} is not KEY=VALUE")
        pairs[key] = value
    return pairs


def _receive(connection: socket.socket) -> bytes:
    """Everything the peer sent until it shut down its side."""
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def main(argv: Sequence[str]) -> int:
    """The `pulumi` the job runs: its call, answered by the rehearsal."""
    # Only `config set` is given a value on stdin; every other call inherits the job's.
    secret = [arg for arg in argv if arg != "--non-interactive"][:2] == ["config", "set"]
    stdin = sys.stdin.read() if secret else ""
    request = {
        "argv": list(argv),
        "cwd": os.getcwd(),
        "stdin": stdin,
        "debug_commands": os.environ.get("PULUMI_DEBUG_COMMANDS") == "true",
    }
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(os.environ[SOCKET_VARIABLE])
        connection.sendall(json.dumps(request).encode())
        connection.shutdown(socket.SHUT_WR)
        reply = json.loads(_receive(connection))
    sys.stdout.write(reply["stdout"])
    sys.stderr.write(reply["stderr"])
    return int(reply["code"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
