"""The template: strict local rendering, its documented placeholders, and `nginx -t` on
both renderings (local, and compose with the service names and volume paths)."""

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from localrun import LocalStack
from localrun.nginx_config import (
    PLACEHOLDER,
    REPO_ROOT,
    TEMPLATE_PATH,
    MissingPlaceholderError,
    gateway_body_limit,
    placeholders,
    render,
    results_source_directives,
    upstream_server_directives,
)
from tests.integration.gateway.entrypoint_on_host import image_defaults
from tests.integration.gateway.local_rendering import check_local_rendering

TEMPLATE = TEMPLATE_PATH.read_text()


def compose_values() -> dict[str, str]:
    """What the gateway container renders under compose: its image's ENV defaults,
    overridden by the gateway service's environment in app/compose.yaml."""
    values = image_defaults()
    compose = yaml.safe_load((REPO_ROOT / "app" / "compose.yaml").read_text())
    environment = compose["services"]["gateway"]["environment"]
    values.update({name: str(value) for name, value in environment.items()})
    # A value compose takes from the deploy's environment renders here as its default.
    values = {name: re.sub(r"^\$\{\w+:-(.*)\}$", r"\1", value) for name, value in values.items()}
    # The entrypoint renders these from CANNY_BACKENDS, CANNY_RESULTS_DIR /
    # CANNY_RESULTS_BUCKET_URL and CANNY_MAX_UPLOAD_BYTES.
    values["CANNY_BACKENDS"] = upstream_server_directives(values["CANNY_BACKENDS"].split())
    values["CANNY_RESULTS_SOURCE"] = results_source_directives(
        Path(values["CANNY_RESULTS_DIR"]), values.get("CANNY_RESULTS_BUCKET_URL", "")
    )
    values["CANNY_MAX_BODY"] = str(gateway_body_limit(int(values["CANNY_MAX_UPLOAD_BYTES"])))
    return values


COMPOSE_VALUES = compose_values()


def documented_placeholders() -> set[str]:
    header = TEMPLATE.split("\n\n", 1)[0]
    return set(re.findall(r"^#\s+(CANNY_[A-Z0-9_]+)\s", header, flags=re.MULTILINE))


def test_every_placeholder_is_documented_at_the_top() -> None:
    assert documented_placeholders() == placeholders(TEMPLATE), (
        "the placeholder list at the top of nginx.conf.template is out of date"
    )


def test_compose_gives_every_placeholder_a_value() -> None:
    missing = placeholders(TEMPLATE) - COMPOSE_VALUES.keys()
    assert not missing, f"the gateway image/compose set no value for {sorted(missing)}"


@pytest.mark.parametrize("missing", sorted(placeholders(TEMPLATE)))
def test_rendering_fails_on_a_placeholder_without_value(missing: str) -> None:
    values = {name: value for name, value in COMPOSE_VALUES.items() if name != missing}
    assert missing in COMPOSE_VALUES
    with pytest.raises(MissingPlaceholderError, match=missing):
        render(TEMPLATE, values)


def test_rendering_replaces_placeholders_and_keeps_nginx_variables() -> None:
    rendered = render(TEMPLATE, COMPOSE_VALUES)
    assert not PLACEHOLDER.search(rendered), "a ${CANNY_...} placeholder survived rendering"
    assert "server backend:8000 " in rendered
    for nginx_variable in ("$binary_remote_addr", "$request_id", "$upstream_addr", "$uri"):
        assert nginx_variable in rendered, f"{nginx_variable} was substituted away"


def test_local_rendering_passes_nginx_t(tmp_path: Path, require_tool: Callable[[str], str]) -> None:
    result = check_local_rendering(require_tool("nginx"), LocalStack(tmp_path), "-t")
    assert result.returncode == 0, f"nginx -t rejected the local rendering:\n{result.stderr}"


def test_compose_rendering_passes_nginx_t(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    """nginx -t resolves upstream names, and `backend` exists only in compose's network: the
    check runs in a private mount namespace whose /etc/hosts names it."""
    nginx = require_tool("nginx")
    unshare = require_tool("unshare")
    temp_dir = tmp_path / "nginx-temp"
    values = {**COMPOSE_VALUES, "CANNY_TEMP_DIR": str(temp_dir)}
    temp_dir.mkdir()
    config = tmp_path / "nginx.conf"
    config.write_text(render(TEMPLATE, values))
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.0.1 backend\n")
    script = f'mount --bind "$1" /etc/hosts && exec {nginx} -t -e stderr -c "$2"'
    result = subprocess.run(
        [unshare, "--mount", "sh", "-c", script, "sh", str(hosts), str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, f"nginx -t rejected the compose rendering:\n{result.stderr}"
    assert "test is successful" in result.stderr
