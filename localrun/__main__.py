"""`python -m localrun`: the whole app on 127.0.0.1, backends supervised, until Ctrl-C,
SIGTERM or SIGHUP (what ./run execs)."""

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from localrun import processes
from localrun.nginx_config import REPO_ROOT
from localrun.readiness import StartupError
from localrun.run_lock import AlreadyRunningError
from localrun.stack import LocalStack
from localrun.supervisor import CrashLoopError, Supervisor

DEFAULT_RUN_DIR = REPO_ROOT / ".run"


class StopRequestedError(Exception):
    """SIGTERM or SIGHUP arrived: stop like Ctrl-C does."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./run", description="Run the gateway, the backends and the upload page locally."
    )
    parser.add_argument("--port", type=int, default=8080, help="gateway port (default 8080)")
    parser.add_argument(
        "--monitoring", action="store_true", help="also run Prometheus and the exporters"
    )
    parser.add_argument(
        "--monitoring-port", type=int, default=9090, help="Prometheus port (default 9090)"
    )
    parser.add_argument(
        "--alertmanager-port",
        type=int,
        default=9093,
        help="Alertmanager port with --monitoring (default 9093)",
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=DEFAULT_RUN_DIR,
        help="state, logs and results (default .run/ in the checkout)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGINT too, not only through KeyboardInterrupt: Python installs that only when SIGINT
    # is not ignored at its start, and a run started in the background by a script (`./run &`
    # in a non-interactive shell) inherits SIGINT ignored, so Ctrl-C or `kill -INT` did nothing.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _request_stop)
    stack = LocalStack(args.run_dir, args.port)
    monitoring: list[subprocess.Popen] = []
    try:
        stack.start()
        if args.monitoring:
            monitoring = _start_monitoring(
                stack, args.run_dir, args.monitoring_port, args.alertmanager_port
            )
        _announce(
            stack, (args.monitoring_port, args.alertmanager_port) if args.monitoring else None
        )
        return _supervise(stack)
    except (AlreadyRunningError, StartupError, CrashLoopError) as error:
        print(f"./run: {error}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, StopRequestedError):
        print("\nstopping...", flush=True)
        return 0
    finally:
        # A second Ctrl-C must not cut the cleanup short and leave processes behind.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        for process in monitoring:
            processes.stop(process)
        stack.stop()


def _request_stop(signum: int, frame: FrameType | None) -> None:
    raise StopRequestedError(signal.Signals(signum).name)


def _start_monitoring(
    stack: LocalStack, run_dir: Path, port: int, alertmanager_port: int
) -> list[subprocess.Popen]:
    # Imported only when asked for: monitoring is optional and lives in its own module.
    from localrun.monitoring import start_monitoring

    return start_monitoring(
        run_dir.resolve(),
        [backend.address for backend in stack.backends],
        stack.status_address,
        stack.access_log,
        port,
        alertmanager_port,
    )


def _announce(stack: LocalStack, monitoring_ports: tuple[int, int] | None) -> None:
    lines = [
        f"canny-platform is running at {stack.url}",
        f"  results: {stack.results_dir}",
        f"  logs:    {stack.logs_dir}",
    ]
    if monitoring_ports is not None:
        prometheus_port, alertmanager_port = monitoring_ports
        lines.append(f"  Prometheus: http://127.0.0.1:{prometheus_port}")
        lines.append(f"  Alertmanager: http://127.0.0.1:{alertmanager_port}")
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


def _supervise(stack: LocalStack) -> int:
    """Restart backends that exit (see localrun.supervisor) until a stop signal, a crash
    loop, or nginx exiting: the gateway is the one process the app cannot run without."""
    supervisor = Supervisor(stack, report=_report)
    while True:
        supervisor.check()
        if stack.nginx_has_exited():
            print(f"./run: nginx exited; see {stack.logs_dir}", file=sys.stderr)
            return 1
        time.sleep(0.2)


def _report(message: str) -> None:
    print(f"./run: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
