"""An nginx playing the DigitalOcean Load Balancer in front of droplets (local stacks in the
fleet tests, the rehearsal's droplets): TLS with a self-signed certificate, :80 redirecting to
HTTPS, X-Forwarded-For/-Proto to the droplets, a failed request retried on the other droplet
and, after `check(HealthCheck)`, DigitalOcean's active health checks as the program sets them:
every `interval` a GET of `path` on each droplet, `healthy` successes in a row put a droplet
in rotation, `unhealthy` failures in a row take it out; a droplet starts out of rotation
(https://docs.digitalocean.com/products/networking/load-balancers/details/features/,
"Health Checks"). Listens on loopback only."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from localrun import processes
from localrun.readiness import free_port, wait_until

# The answering droplet's address (the last one when the balancer retried), for the test
# to know which droplet stored an upload.
DROPLET_HEADER = "X-Canny-Droplet"
# No passive marking (max_fails=0 "disables the accounting of attempts"): a marked droplet
# gets one probe request after fail_timeout and is skipped by every other request until
# that probe ends (ngx_http_upstream_round_robin.c), so one failed request on the droplet
# left while the other restarts made nginx answer "no live upstreams" (502) by itself.
# A request to a droplet that is down fails at connect (refused) and goes to the other;
# taking a droplet out of rotation is the active health checks' job, as on DigitalOcean.
MAX_FAILS = 0
START_TIMEOUT_S = 30


def write_self_signed_certificate(
    folder: Path, stem: str = "lb", dns_names: tuple[str, ...] = ()
) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and `dns_names`) that is its own CA, so clients can trust
    just it: `<stem>.crt` and `<stem>.key` in `folder`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "canny fleet test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    *(x509.DNSName(name) for name in dns_names),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    certificate_path = folder / f"{stem}.crt"
    key_path = folder / f"{stem}.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return certificate_path, key_path


@dataclass(frozen=True)
class HealthCheck:
    """The program's `healthcheck` block (infra/load_balancer.py), as the provider gets it."""

    port: int
    path: str
    interval_s: float
    timeout_s: float
    healthy: int
    unhealthy: int

    @classmethod
    def from_inputs(cls, healthcheck: dict[str, Any]) -> HealthCheck:
        return cls(
            port=int(healthcheck["port"]),
            path=healthcheck.get("path") or "/",
            interval_s=float(healthcheck.get("checkIntervalSeconds") or 10),
            timeout_s=float(healthcheck.get("responseTimeoutSeconds") or 5),
            healthy=int(healthcheck.get("healthyThreshold") or 5),
            unhealthy=int(healthcheck.get("unhealthyThreshold") or 3),
        )


def nginx_head(folder: Path, workers: int, connections: int) -> str:
    """An nginx.conf up to its open `http {` block, every file it writes kept in `folder`
    (a private nginx, not the system's: nothing under /var/lib/nginx or /run)."""
    return f"""daemon off;
worker_processes {workers};
pid "{folder}/nginx.pid";
error_log "{folder}/error.log" warn;
events {{ worker_connections {connections}; }}
http {{
    client_body_temp_path "{folder}/client_body";
    proxy_temp_path "{folder}/proxy";
    fastcgi_temp_path "{folder}/fastcgi";
    uwsgi_temp_path "{folder}/uwsgi";
    scgi_temp_path "{folder}/scgi";"""


def render_config(
    folder: Path,
    droplets: list[str],
    http_port: int,
    https_port: int,
    cert: Path,
    key: Path,
    down: frozenset[str] = frozenset(),
) -> str:
    """The balancer's nginx.conf. Retrying an upload on the other droplet is safe: its id
    is the hash of its bytes and params (non_idempotent lets nginx retry a POST).
    https://nginx.org/en/docs/http/ngx_http_upstream_module.html#server (max_fails); https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_next_upstream
    """
    servers = "\n".join(
        f"        server {address} max_fails={MAX_FAILS}{' down' if address in down else ''};"
        for address in droplets
    )
    log_format = json.dumps(
        {"status": "$status", "upstream_addr": "$upstream_addr", "uri": "$request_uri"}
    )
    return (
        nginx_head(folder, workers=2, connections=256)
        + f"""
    log_format lb escape=json '{log_format}';
    access_log "{folder}/access.log" lb;

    upstream droplets {{
{servers}
    }}

    server {{
        listen 127.0.0.1:{http_port};
        return 301 https://127.0.0.1:{https_port}$request_uri;
    }}

    server {{
        listen 127.0.0.1:{https_port} ssl;
        ssl_certificate "{cert}";
        ssl_certificate_key "{key}";
        client_max_body_size 25m;

        location / {{
            proxy_pass http://droplets;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout http_502 http_503 http_504 non_idempotent;
            proxy_next_upstream_tries 2;
            add_header {DROPLET_HEADER} $upstream_addr always;
        }}
    }}
}}
"""
    )


class LoadBalancer:
    """`with LoadBalancer(folder, ["127.0.0.1:P1", "127.0.0.1:P2"]) as lb:` then lb.url."""

    def __init__(self, folder: Path, droplets: list[str]) -> None:
        self.folder = folder.resolve()
        self.droplets = droplets
        # Out of rotation (nginx `down`): none until health checks start, then every droplet
        # until its checks pass.
        self.down: frozenset[str] = frozenset()
        self._streaks = dict.fromkeys(droplets, 0)
        self._stop = threading.Event()
        self._checker: threading.Thread | None = None
        self._key = self.folder / "lb.key"
        self.http_port = free_port()
        self.https_port = free_port()
        self.url = f"https://127.0.0.1:{self.https_port}"
        self.http_url = f"http://127.0.0.1:{self.http_port}"
        self.access_log = self.folder / "access.log"
        self.certificate = self.folder / "lb.crt"
        self._nginx: subprocess.Popen | None = None

    def __enter__(self) -> LoadBalancer:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.certificate, self._key = write_self_signed_certificate(self.folder)
        config = self._write_config()
        nginx = shutil.which("nginx", path="/usr/sbin:/usr/bin:/sbin")
        assert nginx, "nginx is not installed"
        command = [nginx, "-p", str(self.folder), "-c", str(config), "-e", "stderr"]
        if os.geteuid() == 0:
            command += ["-g", "user root;"]
        log = self.folder / "nginx.log"
        self._nginx = processes.spawn(command, env=os.environ, log_path=log, cwd=self.folder)
        wait_until("the load balancer", self._redirects, self._nginx, log, START_TIMEOUT_S)
        return self

    def check(self, health: HealthCheck) -> None:
        """Start DigitalOcean's active health checks (from any thread: nginx itself was
        started by the thread that entered the balancer and dies with it)."""
        if self._checker is not None:
            return
        self._set_down(frozenset(self.droplets))
        self._checker = threading.Thread(target=self._check_forever, args=(health,), daemon=True)
        self._checker.start()

    def _set_down(self, down: frozenset[str]) -> None:
        if down != self.down and self._nginx is not None:
            self.down = down
            self._write_config()
            self._nginx.send_signal(signal.SIGHUP)  # nginx reloads its configuration

    def _write_config(self) -> Path:
        config = self.folder / "nginx.conf"
        config.write_text(
            render_config(
                self.folder,
                self.droplets,
                self.http_port,
                self.https_port,
                self.certificate,
                self._key,
                self.down,
            )
        )
        return config

    def _check_forever(self, health: HealthCheck) -> None:
        session = requests.Session()
        session.trust_env = False  # droplets are this machine's own namespaces
        while not self._stop.wait(health.interval_s):
            down = set(self.down)
            for address in self.droplets:
                host = address.rsplit(":", 1)[0]
                url = f"http://{host}:{health.port}{health.path}"
                try:
                    passed = session.get(url, timeout=health.timeout_s).status_code < 400
                except requests.RequestException:
                    passed = False
                # Positive: successes in a row; negative: failures in a row.
                streak = self._streaks[address]
                streak = max(streak, 0) + 1 if passed else min(streak, 0) - 1
                self._streaks[address] = streak
                if streak >= health.healthy:
                    down.discard(address)
                elif -streak >= health.unhealthy:
                    down.add(address)
            self._set_down(frozenset(down))

    def in_rotation(self) -> list[str]:
        return [address for address in self.droplets if address not in self.down]

    def _redirects(self) -> bool:
        """The :80 redirect answers without any droplet, so it shows nginx is up."""
        try:
            answer = requests.get(self.http_url, allow_redirects=False, timeout=2)
        except requests.ConnectionError:
            return False
        return answer.status_code == 301

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._checker is not None:
            self._checker.join(timeout=30)
        if self._nginx is not None:
            processes.stop(self._nginx)
            self._nginx = None

    def retried_requests(self) -> int:
        """Requests the balancer had to send to a second droplet."""
        return sum(
            ", " in json.loads(line)["upstream_addr"]
            for line in self.access_log.read_text().splitlines()
        )
