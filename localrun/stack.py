"""The whole app on 127.0.0.1: gunicorn backends (as many as compose runs) and nginx with the
rendered gateway."""

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from canny.settings import Settings, SettingsError

from localrun import processes
from localrun.backends import backend_count, backend_names
from localrun.nginx_config import (
    REPO_ROOT,
    gateway_body_limit,
    render_template_file,
    results_source_directives,
    trusted_proxy_directives,
    upstream_server_directives,
)
from localrun.owner_key_secret import ENV_NAME as OWNER_KEY_SECRETS_ENV
from localrun.owner_key_secret import owner_key_secrets
from localrun.readiness import StartupError, free_port, log_tail, wait_until_ok
from localrun.run_lock import RunLock

FRONTEND_DIR = REPO_ROOT / "app" / "frontend"
GUNICORN_CONFIG = REPO_ROOT / "app" / "backend" / "gunicorn.conf.py"
# Memory-backed, so it keeps working when the disk of the run folder (and results) is full.
# A fixed name there is safe because _make_private_folder refuses one that is not ours.
SCRATCH_PARENT = Path("/dev/shm")  # noqa: S108


def scratch_dir_for(run_dir: Path) -> Path:
    """Where nginx's temp files (request bodies, buffered responses) and the backends'
    Prometheus multiprocess files live: not on the run folder's disk. A full results disk
    then cannot fail an upload in nginx (it would spool bodies over client_body_buffer_size
    to client_body_temp_path, https://nginx.org/en/docs/http/ngx_http_core_module.html
    #client_body_buffer_size) nor kill workers, whose metric files are mmapped and raise
    SIGBUS when a page cannot be allocated on a full filesystem. One name per run folder,
    so the next start clears what a killed run left. Without /dev/shm it falls back to
    the run folder, without that protection."""
    parent = SCRATCH_PARENT if SCRATCH_PARENT.is_dir() else run_dir
    digest = hashlib.sha256(str(run_dir).encode()).hexdigest()[:16]
    return parent / f"canny-run-{digest}"


@dataclass
class Backend:
    name: str
    port: int
    process: subprocess.Popen | None = field(default=None, repr=False)
    # The process group of a master that died: its workers may still be finishing requests.
    leftover_group: int | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


class LocalStack:
    """Start with `with LocalStack(run_dir, port) as stack:`; everything started is
    stopped on exit. State, logs and (unless given) results live under run_dir.
    Port 0 picks a free one (see `url`)."""

    def __init__(
        self,
        run_dir: Path,
        port: int = 0,
        *,
        results_dir: Path | None = None,
        upload_rate: str = "5r/s",
        upload_burst: int = 20,
        preview_rate: str = "10r/s",
        preview_burst: int = 20,
        connections_per_key: int = 2,
        connections_per_address: int = 8,
        max_upload_bytes: int | None = None,
        trusted_proxies: Sequence[str] = (),
        storage_env: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.run_dir = run_dir.resolve()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.results_dir = (results_dir or self.run_dir / "results").resolve()
        self.logs_dir = self.run_dir / "logs"
        self.state_dir = self.run_dir / "state"
        self.scratch_dir = scratch_dir_for(self.run_dir)
        self.access_log = self.logs_dir / "access.log"
        self.error_log = self.logs_dir / "nginx-error.log"
        self.status_address = f"127.0.0.1:{free_port()}"
        self.backends = [Backend(name, free_port()) for name in backend_names(backend_count())]
        self.upload_rate = upload_rate
        self.upload_burst = upload_burst
        self.preview_rate = preview_rate
        self.preview_burst = preview_burst
        self.connections_per_key = connections_per_key
        self.connections_per_address = connections_per_address
        self.max_upload_bytes = max_upload_bytes or _backend_upload_limit()
        self.trusted_proxies = tuple(trusted_proxies)
        # The backends' CANNY_STORAGE / CANNY_S3_* (and boto3 credential) variables, so
        # several stacks can share one bucket like droplets do; empty: the results folder.
        self.storage_env = dict(storage_env or {})
        self.results_bucket_url = results_bucket_url(self.storage_env)
        self.startup_timeout = startup_timeout
        self._nginx: subprocess.Popen | None = None
        self._lock = RunLock(self.run_dir)

    def __enter__(self) -> "LocalStack":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._lock.acquire(self.url)
        try:
            _require_free_port(self.port)
            shutil.rmtree(self.state_dir, ignore_errors=True)
            _make_private_folder(self.scratch_dir)
            folders = (self.state_dir, self.scratch_dir / "temp", self.logs_dir, self.results_dir)
            for folder in folders:
                folder.mkdir(parents=True, exist_ok=True)
            for index in range(len(self.backends)):
                self._spawn_backend(index)
            for backend in self.backends:
                self._wait_for_backend(backend)
            self._start_nginx()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self._nginx is not None:
            processes.stop(self._nginx)
            self._nginx = None
        for backend in self.backends:
            if backend.process is not None:
                processes.stop(backend.process)
                backend.process = None
            if backend.leftover_group is not None:
                processes.signal_dead_group(backend.leftover_group, signal.SIGKILL)
                backend.leftover_group = None
        if self._lock.held:  # never the scratch folder of another run holding the lock
            shutil.rmtree(self.scratch_dir, ignore_errors=True)
        self._lock.release()

    def kill_backend(self, index: int) -> None:
        """SIGKILL a backend's master and workers at once, as a crash would."""
        backend = self.backends[index]
        if backend.process is None:
            raise RuntimeError(f"{backend.name} is not running")
        processes.kill(backend.process)
        backend.process = None

    def start_backend(self, index: int) -> None:
        """(Re)start a backend on its old port and wait until it is ready."""
        self._spawn_backend(index)
        self._wait_for_backend(self.backends[index])

    def kill_gateway(self) -> None:
        """SIGKILL nginx, master and workers, as a crashed gateway container would."""
        if self._nginx is None:
            raise RuntimeError("the gateway is not running")
        processes.kill(self._nginx)
        self._nginx = None

    def exited_process(self) -> str | None:
        """The name of a process of the stack that has exited on its own, if any."""
        if self._nginx is not None and self._nginx.poll() is not None:
            return "nginx"
        for backend in self.backends:
            if backend.process is not None and backend.process.poll() is not None:
                return backend.name
        return None

    @property
    def backend_names(self) -> list[str]:
        return [backend.name for backend in self.backends]

    def backend_log_tail(self, index: int) -> str:
        return log_tail(self.logs_dir / f"{self.backends[index].name}.log")

    def nginx_has_exited(self) -> bool:
        return self._nginx is not None and self._nginx.poll() is not None

    def backend_exit_code(self, index: int) -> int | None:
        """The exit code of a backend's master if it has exited on its own, else None."""
        process = self.backends[index].process
        return None if process is None else process.poll()

    def release_backend(self, index: int) -> None:
        """Forget a backend whose master exited. Its workers, left in the master's process
        group, get SIGTERM: they finish the requests they hold and stop (gunicorn's
        workers also stop by themselves once their parent is gone)."""
        backend = self.backends[index]
        if backend.process is None:
            return
        backend.leftover_group = backend.process.pid
        backend.process = None
        processes.signal_dead_group(backend.leftover_group, signal.SIGTERM)

    def backend_leftovers_alive(self, index: int) -> bool:
        group = self.backends[index].leftover_group
        return group is not None and processes.group_alive(group)

    def respawn_backend(self, index: int) -> None:
        """Start a released backend again without waiting for it: the gateway sends its
        requests to the other backend until this one answers. What is left of the old
        group is killed first, since it holds the port the new master must bind."""
        backend = self.backends[index]
        if backend.leftover_group is not None:
            processes.signal_dead_group(backend.leftover_group, signal.SIGKILL)
            backend.leftover_group = None
        self._spawn_backend(index)

    def _spawn_backend(self, index: int) -> None:
        backend = self.backends[index]
        if backend.process is not None and backend.process.poll() is None:
            raise RuntimeError(f"{backend.name} is already running (pid {backend.pid})")
        # prometheus_client's multiprocess folder must start empty for each master.
        metrics_dir = self.scratch_dir / "prometheus" / backend.name
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        env = {
            **os.environ,
            "CANNY_BIND": backend.address,
            "CANNY_RESULTS_DIR": str(self.results_dir),
            "CANNY_MAX_UPLOAD_BYTES": str(self.max_upload_bytes),
            "CANNY_WORKER_TMP_DIR": str(self.scratch_dir),
            OWNER_KEY_SECRETS_ENV: owner_key_secrets(self.run_dir, os.environ),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            **self.storage_env,
        }
        backend.process = processes.spawn(
            [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONFIG), "canny:create_app()"],
            env=env,
            log_path=self.logs_dir / f"{backend.name}.log",
            cwd=REPO_ROOT,
        )

    def _wait_for_backend(self, backend: Backend) -> None:
        wait_until_ok(
            backend.name,
            backend.process,
            f"http://{backend.address}/readyz",
            self.logs_dir / f"{backend.name}.log",
            self.startup_timeout,
        )

    def _start_nginx(self) -> None:
        config_path = self.state_dir / "nginx.conf"
        config_path.write_text(render_template_file(self.gateway_values()), encoding="utf-8")
        command = [_nginx_binary(), "-p", str(self.state_dir), "-c", str(config_path)]
        command += ["-e", str(self.error_log)]
        if os.geteuid() == 0:
            # Workers would run as `nobody`, who cannot read a checkout under /root.
            command += ["-g", "user root;"]
        self._nginx = processes.spawn(
            command, env=os.environ, log_path=self.error_log, cwd=self.state_dir
        )
        for path in ("/healthz", "/api/images?limit=1"):
            wait_until_ok(
                "nginx", self._nginx, self.url + path, self.error_log, self.startup_timeout
            )

    def gateway_values(self) -> dict[str, str]:
        """The local rendering's placeholder values."""
        return {
            "CANNY_LISTEN": f"127.0.0.1:{self.port}",
            "CANNY_STATUS_LISTEN": self.status_address,
            "CANNY_BACKENDS": upstream_server_directives(
                backend.address for backend in self.backends
            ),
            "CANNY_FRONTEND_DIR": str(FRONTEND_DIR),
            "CANNY_RESULTS_SOURCE": results_source_directives(
                self.results_dir, self.results_bucket_url
            ),
            "CANNY_MAX_BODY": str(gateway_body_limit(self.max_upload_bytes)),
            "CANNY_UPLOAD_RATE": self.upload_rate,
            "CANNY_UPLOAD_BURST": str(self.upload_burst),
            "CANNY_PREVIEW_RATE": self.preview_rate,
            "CANNY_PREVIEW_BURST": str(self.preview_burst),
            "CANNY_UPLOAD_CONNECTIONS_PER_KEY": str(self.connections_per_key),
            "CANNY_UPLOAD_CONNECTIONS_PER_ADDRESS": str(self.connections_per_address),
            "CANNY_PID_FILE": str(self.state_dir / "nginx.pid"),
            "CANNY_TEMP_DIR": str(self.scratch_dir / "temp"),
            "CANNY_ACCESS_LOG": str(self.access_log),
            "CANNY_ERROR_LOG": str(self.error_log),
            "CANNY_TRUSTED_PROXIES": trusted_proxy_directives(self.trusted_proxies),
        }


def results_bucket_url(storage_env: Mapping[str, str]) -> str:
    """The bucket the gateway proxies /results/ to when the backends store in S3 (path
    style, as the backends address it); empty for the results folder."""
    if storage_env.get("CANNY_STORAGE") != "s3":
        return ""
    return f"{storage_env['CANNY_S3_ENDPOINT_URL'].rstrip('/')}/{storage_env['CANNY_S3_BUCKET']}"


def _backend_upload_limit() -> int:
    """CANNY_MAX_UPLOAD_BYTES read by the backend's own settings (default included), so
    the gateway and the backends it starts always agree on the limit."""
    try:
        return Settings.from_env().max_upload_bytes
    except SettingsError as error:
        raise StartupError(str(error)) from None


def _make_private_folder(path: Path) -> None:
    """An empty folder only we can use; what an earlier run of ours left there is cleared.
    In a shared folder such as /dev/shm, a symlink or another user's folder under our
    name is refused, so nobody can redirect our files."""
    try:
        found = path.lstat()
    except FileNotFoundError:
        pass
    else:
        if path.is_symlink() or found.st_uid != os.geteuid():
            raise StartupError(f"{path} exists and is not ours; remove it or use another --run-dir")
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(mode=0o700)


def _require_free_port(port: int) -> None:
    with socket.socket() as sock:
        # Same option nginx uses, so a port in TIME_WAIT does not count as taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise StartupError(
                f"port {port} on 127.0.0.1 is in use by another program; pick another with --port"
            ) from None


def _nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if found is None:
        raise StartupError("nginx is not installed (Debian: apt-get install nginx)")
    return found
