"""The gateway's log metrics: mtail (app/monitoring/mtail/) counts the gateway's API answers
by status from its JSON access log, as ./run writes it and as Docker's json-file driver
wraps it on a droplet, and nothing else (other paths, the backends' own request logs)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from localrun.monitoring import MTAIL_PROGRAMS
from localrun.nginx_config import TEMPLATE_PATH

METRIC = "canny_gateway_api_responses_total"


def gateway_line(uri: str, status: int) -> str:
    """One access log line in the template's canny_json format (checked below)."""
    return json.dumps(
        {
            "time": "2026-12-07T03:00:00+00:00",
            "request_id": "0" * 32,
            "remote_addr": "198.51.100.7",
            "method": "POST",
            "uri": uri,
            "status": status,
            "bytes_sent": 93,
            "request_time": 0.001,
            "upstream_addr": "",
            "upstream_status": "",
            "upstream_response_time": "",
            "user_agent": "curl/8",
        },
        separators=(",", ":"),
    )


def docker_wrapped(line: str) -> str:
    """The line as Docker's json-file driver stores the container's stdout."""
    return json.dumps({"log": line + "\n", "stream": "stdout", "time": "2026-12-07T03:00:00Z"})


def counted(require_tool: Callable[[str], str], tmp_path: Path, lines: list[str]) -> dict:
    log = tmp_path / "access.log"
    log.write_text("".join(f"{line}\n" for line in lines))
    command = [
        require_tool("mtail"),
        "--one_shot",
        "--one_shot_format=prometheus",
        "--emit_prog_label=false",
        f"--progs={MTAIL_PROGRAMS}",
        f"--logs={log}",
        "--logtostderr",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    found = re.findall(rf'^{METRIC}{{status="(\d+)"}} (\d+)$', result.stdout, re.MULTILINE)
    return {status: int(count) for status, count in found}


def test_the_template_logs_uri_then_status_then_bytes_sent() -> None:
    """The program's one pattern relies on this order in the gateway's log_format."""
    block = TEMPLATE_PATH.read_text().split("log_format canny_json", 1)[1].split(";", 1)[0]
    log_format = "".join(re.findall(r"'([^']*)'", block))
    assert '"uri":"$canny_logged_uri","status":$status,"bytes_sent":' in log_format, log_format


def test_api_answers_are_counted_by_status_raw_and_as_docker_wraps_them(
    require_tool: Callable[[str], str], tmp_path: Path
) -> None:
    lines = [
        gateway_line("/api/images", 201),
        gateway_line("/api/images?limit=1", 200),
        # nginx's own answer when no backend could take the upload.
        gateway_line("/api/images", 503),
        docker_wrapped(gateway_line("/api/images/abc", 502)),
        docker_wrapped(gateway_line("/api/images", 503)),
    ]
    assert counted(require_tool, tmp_path, lines) == {"200": 1, "201": 1, "502": 1, "503": 2}


def test_other_paths_and_the_backends_logs_are_not_counted(
    require_tool: Callable[[str], str], tmp_path: Path
) -> None:
    backend_log = json.dumps(
        {"message": "request", "method": "POST", "path": "/api/images", "status": 500}
    )
    lines = [
        gateway_line("/results/x.png", 500),
        gateway_line("/", 503),
        docker_wrapped(gateway_line("/healthz/upload", 503)),
        backend_log,
        docker_wrapped(backend_log),
    ]
    assert counted(require_tool, tmp_path, lines) == {}
