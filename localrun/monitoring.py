"""`./run --monitoring`: Debian's prometheus, prometheus-alertmanager,
prometheus-nginx-exporter and prometheus-node-exporter on 127.0.0.1, scraping the local
stack and sending its alerts to the local Alertmanager.

The scrape jobs and `instance` labels mirror app/monitoring/prometheus.yml (minus
cAdvisor: no containers here) and the alert rules are that folder's own file, so the
local Prometheus shows the same series and alerts as a droplet's. Alertmanager runs with
the droplet's own alertmanager.yml, copied next to an optional `secrets/` folder. The short scrape
interval makes a local change visible within seconds.
"""

import json
import shutil
import subprocess
from pathlib import Path

from localrun import processes
from localrun.nginx_config import REPO_ROOT
from localrun.readiness import StartupError, free_port, wait_until_ok

RULES_FILE = REPO_ROOT / "app" / "monitoring" / "alert-rules.yml"
ALERTMANAGER_CONFIG = REPO_ROOT / "app" / "monitoring" / "alertmanager.yml"
SCRAPE_INTERVAL = "2s"
READY_TIMEOUT_S = 30.0


def render_config(
    backends: list[str],
    nginx_exporter: str,
    node_exporter: str,
    prometheus: str,
    alertmanager: str,
) -> str:
    """prometheus.yml for local ports, written as JSON (which is YAML) to need no library."""

    def job(name: str, targets: dict[str, str]) -> dict:
        return {
            "job_name": name,
            "static_configs": [
                {"targets": [address], "labels": {"instance": instance}}
                for instance, address in targets.items()
            ],
        }

    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(RULES_FILE)],
        "scrape_configs": [
            job("backend", {f"backend-{n}": address for n, address in enumerate(backends, 1)}),
            job("gateway", {"gateway": nginx_exporter}),
            job("node", {"localhost": node_exporter}),
            job("prometheus", {"prometheus": prometheus}),
        ],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
    }
    return json.dumps(config, indent=2) + "\n"


def alertmanager_command(folder: Path, address: str) -> list[str]:
    """prometheus-alertmanager with the droplet's config copied into folder. Start it with
    folder as working directory: the config's relative `secrets/slack-webhook-url` is
    opened from there. No cluster port: there is one instance."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "alertmanager.yml"
    shutil.copyfile(ALERTMANAGER_CONFIG, config_path)
    return [
        _binary("prometheus-alertmanager"),
        f"--config.file={config_path}",
        f"--storage.path={folder / 'alertmanager-data'}",
        f"--web.listen-address={address}",
        "--cluster.listen-address=",
    ]


def start_monitoring(
    run_dir: Path, backends: list[str], gateway_status: str, port: int, alertmanager_port: int = 0
) -> list[subprocess.Popen]:
    """Start the exporters, Alertmanager (127.0.0.1:alertmanager_port, 0 for a free one)
    and Prometheus (web on 127.0.0.1:port, data under run_dir), wait until each answers,
    and return them for the caller to stop."""
    folder = run_dir / "monitoring"
    folder.mkdir(parents=True, exist_ok=True)
    nginx_exporter = f"127.0.0.1:{free_port()}"
    node_exporter = f"127.0.0.1:{free_port()}"
    alertmanager = f"127.0.0.1:{alertmanager_port or free_port()}"
    prometheus = f"127.0.0.1:{port}"
    config_path = folder / "prometheus.yml"
    config_path.write_text(
        render_config(backends, nginx_exporter, node_exporter, prometheus, alertmanager)
    )

    commands = {
        "prometheus-nginx-exporter": (
            [
                _binary("prometheus-nginx-exporter"),
                f"-nginx.scrape-uri=http://{gateway_status}/stub_status",
                f"-web.listen-address={nginx_exporter}",
            ],
            f"http://{nginx_exporter}/metrics",
        ),
        "prometheus-node-exporter": (
            [_binary("prometheus-node-exporter"), f"--web.listen-address={node_exporter}"],
            f"http://{node_exporter}/metrics",
        ),
        "prometheus-alertmanager": (
            alertmanager_command(folder, alertmanager),
            f"http://{alertmanager}/-/ready",
        ),
        "prometheus": (
            [
                _binary("prometheus"),
                f"--config.file={config_path}",
                f"--storage.tsdb.path={folder / 'tsdb'}",
                f"--web.listen-address={prometheus}",
            ],
            f"http://{prometheus}/-/ready",
        ),
    }
    started: list[subprocess.Popen] = []
    try:
        for name, (command, ready_url) in commands.items():
            log_path = folder / f"{name}.log"
            process = processes.spawn(command, env={}, log_path=log_path, cwd=folder)
            started.append(process)
            wait_until_ok(name, process, ready_url, log_path, READY_TIMEOUT_S)
    except BaseException:
        for process in started:
            processes.stop(process)
        raise
    return started


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin")
    if found is None:
        raise StartupError(f"{name} is not installed (Debian: apt-get install {name})")
    return found
