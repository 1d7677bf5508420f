"""`./run --monitoring`: Debian's prometheus, prometheus-alertmanager,
prometheus-nginx-exporter, prometheus-node-exporter and mtail (the gateway's access log) on
127.0.0.1, scraping the local stack and sending its alerts to the local Alertmanager.

The scrape jobs and `instance` labels are read from app/monitoring/prometheus.yml, the
droplet's own config (minus cAdvisor: no containers here), with each target swapped for its
local address; the alert rules and the alerting section are the fleet Prometheus' (one
machine is its own fleet here). So the local Prometheus shows the same series and alerts as
prod's. Alertmanager runs with the droplet's own alertmanager.yml, copied next to an optional
`secrets/` folder. The short scrape interval makes a local change visible within seconds.
"""

import json
import shutil
import subprocess
from pathlib import Path

import yaml

from localrun import processes
from localrun.backends import BACKEND_SERVICE, backend_names
from localrun.nginx_config import REPO_ROOT
from localrun.readiness import StartupError, free_port, wait_until_ok

MONITORING_DIR = REPO_ROOT / "app" / "monitoring"
DROPLET_CONFIG = MONITORING_DIR / "prometheus.yml"
FLEET_CONFIG = MONITORING_DIR / "fleet-prometheus.yml"
RULES_FILE = MONITORING_DIR / "alert-rules.yml"
ALERTMANAGER_CONFIG = MONITORING_DIR / "alertmanager.yml"
# The gateway's log metrics, the programs the droplet's gateway-log-exporter runs.
MTAIL_PROGRAMS = MONITORING_DIR / "mtail"
# Jobs of the droplet's config with nothing to scrape on this machine.
NOT_LOCAL_JOBS = frozenset({"cadvisor"})
SCRAPE_INTERVAL = "2s"

READY_TIMEOUT_S = 30.0


class MonitoringConfigError(ValueError):
    """The droplet's prometheus.yml names a target the local run has no address for."""


def render_config(
    backends: list[str],
    nginx_exporter: str,
    gateway_log: str,
    node_exporter: str,
    prometheus: str,
    alertmanager: str,
    droplet_config: Path = DROPLET_CONFIG,
) -> str:
    """prometheus.yml for local ports, written as JSON (which is YAML): the droplet config's
    jobs and instances, each target at its local address. A target without one is an
    error, so a job added on the droplet cannot silently go missing here."""
    local = {
        ("gateway", "gateway"): nginx_exporter,
        ("gateway-log", "gateway"): gateway_log,
        ("node", "droplet"): node_exporter,
        ("prometheus", "prometheus"): prometheus,
    }
    droplet = yaml.safe_load(droplet_config.read_text())
    fleet = yaml.safe_load(FLEET_CONFIG.read_text())
    jobs = []
    for job in droplet["scrape_configs"]:
        if job["job_name"] in NOT_LOCAL_JOBS:
            continue
        if "dns_sd_configs" in job:
            groups = _discovered_backends(job, backends, droplet_config)
            jobs.append({"job_name": job["job_name"], "static_configs": groups})
            continue
        groups = []
        for group in job["static_configs"]:
            key = (job["job_name"], group["labels"]["instance"])
            if key not in local:
                raise MonitoringConfigError(
                    f"{droplet_config.name}: job {key[0]!r} instance {key[1]!r} has no local "
                    "address; add it to localrun/monitoring.py or to NOT_LOCAL_JOBS"
                )
            groups.append({"targets": [local[key]], "labels": dict(group["labels"])})
        jobs.append({"job_name": job["job_name"], "static_configs": groups})
    (alertmanagers,) = fleet["alerting"]["alertmanagers"]
    alertmanagers["static_configs"] = [{"targets": [alertmanager]}]
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(MONITORING_DIR / name) for name in fleet["rule_files"]],
        "scrape_configs": jobs,
        "alerting": fleet["alerting"],
    }
    return json.dumps(config, indent=2) + "\n"


def _discovered_backends(job: dict, backends: list[str], droplet_config: Path) -> list[dict]:
    """The droplet finds compose's backend replicas by the service's name in DNS; here they
    are the local backends, one target each, named as ./run names them."""
    names = [name for config in job["dns_sd_configs"] for name in config["names"]]
    if names != [BACKEND_SERVICE]:
        raise MonitoringConfigError(
            f"{droplet_config.name}: job {job['job_name']!r} discovers {names} by DNS; only "
            f"the {BACKEND_SERVICE!r} service has local addresses"
        )
    named = zip(backend_names(len(backends)), backends, strict=True)
    return [{"targets": [address], "labels": {"instance": name}} for name, address in named]


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


def gateway_log_command(access_log: Path, address: str) -> list[str]:
    """mtail counting the gateway's API answers by status in its access log, with the
    droplet's programs and flags (app/compose.yaml, gateway-log-exporter)."""
    host, _, port = address.rpartition(":")
    return [
        _binary("mtail"),
        f"--progs={MTAIL_PROGRAMS}",
        f"--logs={access_log}",
        f"--address={host}",
        f"--port={port}",
        "--emit_prog_label=false",
        "--logtostderr",
    ]


def start_monitoring(
    run_dir: Path,
    backends: list[str],
    gateway_status: str,
    access_log: Path,
    port: int,
    alertmanager_port: int = 0,
) -> list[subprocess.Popen]:
    """Start the exporters (mtail on the gateway's access_log), Alertmanager
    (127.0.0.1:alertmanager_port, 0 for a free one) and Prometheus (web on 127.0.0.1:port,
    data under run_dir), wait until each answers, and return them for the caller to stop."""
    folder = run_dir / "monitoring"
    folder.mkdir(parents=True, exist_ok=True)
    nginx_exporter = f"127.0.0.1:{free_port()}"
    gateway_log = f"127.0.0.1:{free_port()}"
    node_exporter = f"127.0.0.1:{free_port()}"
    alertmanager = f"127.0.0.1:{alertmanager_port or free_port()}"
    prometheus = f"127.0.0.1:{port}"
    config_path = folder / "prometheus.yml"
    config_path.write_text(
        render_config(
            backends, nginx_exporter, gateway_log, node_exporter, prometheus, alertmanager
        )
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
        "mtail": (
            gateway_log_command(access_log, gateway_log),
            f"http://{gateway_log}/metrics",
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
