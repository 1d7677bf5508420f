"""A new image parameter is a field in the model and its use in the pipeline, nothing more
(docs/architecture.md, "Adding an image parameter").

The fixture copies the backend and the page, adds a `dilate` field to the copy's
`EdgeParams` and its use to the copy's pipeline (the two edits the recipe asks for), and
serves the copy. Then the API (upload, re-run, preview, refusals and their messages), the
OpenAPI document, docs/api.md's table, the smoke test and the page (its control, label, hint,
range, the card's text and download name, axe-core) follow without any other edit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from ci import smoke
from localrun import processes
from tests.conftest import pick_free_port
from tests.e2e.conftest import shapes_png

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER = Path(__file__).with_name("copied_app_server.py")
LABEL = "Edge width"
HINT = "Thickens each edge by this many pixels."
# The field as a developer would write it: a bounded int, the form-text check every
# parameter uses, and the Control the page builds its slider from.
NEW_FIELD = f"""    dilate: Annotated[
        int,
        Field(ge=0, le=3),
        BeforeValidator(_ascii_integer),
        Control({LABEL!r}, {HINT!r}),
    ] = 0

"""
# Its use in the pipeline; the default 0 leaves the edges as they were.
DILATED = """    edges = cv2.Canny(blurred, params.low, params.high)
    return cv2.dilate(edges, None, iterations=params.dilate) if params.dilate else edges
"""
START_SECONDS = 30


def _replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path.name} no longer holds {old!r} once: update the fixture"
    path.write_text(text.replace(old, new), encoding="utf-8")


def add_parameter(backend: Path) -> None:
    """The recipe's two edits, on the copy: the model's field, the pipeline's use of it."""
    model, pipeline = backend / "canny" / "edge_params.py", backend / "canny" / "pipeline.py"
    _replace_once(model, "    _blank_means_default", NEW_FIELD + "    _blank_means_default")
    _replace_once(pipeline, "    blur: int\n", "    blur: int\n    dilate: int\n")
    _replace_once(pipeline, "    return cv2.Canny(blurred, params.low, params.high)\n", DILATED)


def _wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the copied app exited:\n{log.read_text()}"
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the copied app did not answer in {START_SECONDS} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def widened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the backend and the page with one more parameter; the copy's root."""
    root = tmp_path_factory.mktemp("new-parameter")
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(
        REPO_ROOT / "app" / "backend" / "canny", root / "backend" / "canny", ignore=ignore
    )
    shutil.copytree(REPO_ROOT / "app" / "frontend", root / "frontend")
    add_parameter(root / "backend")
    return root


def copy_env(root: Path) -> dict[str, str]:
    """The environment that makes Python import the copy's `canny`, not the repository's."""
    return os.environ | {"PYTHONPATH": os.pathsep.join([str(root / "backend"), str(REPO_ROOT)])}


@pytest.fixture(scope="module")
def copied_app(widened: Path) -> Iterator[str]:
    """The copy served on 127.0.0.1; its base URL."""
    port = pick_free_port()
    log = widened / "server.log"
    args = [
        sys.executable,
        str(SERVER),
        str(widened / "frontend"),
        str(widened / "results"),
        str(port),
    ]
    process = processes.spawn(args, env=copy_env(widened), log_path=log, cwd=widened)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log)
        yield url
    finally:
        processes.stop(process)


def test_the_copy_really_has_the_parameter(widened: Path) -> None:
    """The proof is worth something only if the served code is the copy's."""
    probe = "import canny.edge_params as m; print(m.__file__, list(m.EdgeParams.model_fields))"
    answer = subprocess.run(
        [sys.executable, "-c", probe],
        env=copy_env(widened),
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(widened) in answer.stdout and "'dilate'" in answer.stdout, answer.stdout


def test_the_api_takes_checks_and_describes_the_parameter(copied_app: str) -> None:
    config = requests.get(f"{copied_app}/api/config", timeout=10).json()
    assert config["params"]["dilate"] == {
        "min": 0,
        "max": 3,
        "default": 0,
        "label": LABEL,
        "hint": HINT,
    }
    file = shapes_png(1)
    files = {"file": (file["name"], file["buffer"], file["mimeType"])}
    upload = requests.post(
        f"{copied_app}/api/images", files=files, data={"dilate": "2"}, timeout=30
    )
    assert upload.status_code == 201, upload.text
    record = upload.json()
    assert record["params"]["dilate"] == 2
    refused = requests.post(
        f"{copied_app}/api/images", files=files, data={"dilate": "4"}, timeout=30
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "dilate must be between 0 and 3"

    owner = {"Authorization": f"Bearer {record['owner_key']}"}
    rerun_url = f"{copied_app}/api/images/{record['id']}/rerun"
    rerun = requests.post(rerun_url, json={"dilate": 1}, headers=owner, timeout=30)
    assert rerun.status_code == 201, rerun.text
    assert rerun.json()["params"] == {"low": 100, "high": 200, "blur": 5, "dilate": 1}
    unknown = requests.post(rerun_url, json={"dilat": 1}, headers=owner, timeout=30)
    assert "use low, high, blur, dilate" in unknown.json()["error"]["message"]
    not_an_object = requests.post(rerun_url, json=[1], headers=owner, timeout=30)
    assert "an object with low, high, blur, dilate" in not_an_object.json()["error"]["message"]
    preview_url = f"{copied_app}/api/images/{record['id']}/preview.png?dilate=3"
    preview = requests.get(preview_url, headers=owner, timeout=30)
    assert preview.status_code == 200 and preview.headers["Content-Type"] == "image/png"


def test_the_openapi_document_describes_the_parameter(copied_app: str) -> None:
    document = requests.get(f"{copied_app}/api/openapi.json", timeout=10).json()
    schemas = document["components"]["schemas"]
    forms = [schema for name, schema in schemas.items() if name.startswith("UploadForm")]
    assert forms, f"no UploadForm schema among {sorted(schemas)}"
    described = forms[0]["properties"]["dilate"]
    assert described.items() >= {"minimum": 0, "maximum": 3, "default": 0}.items(), described
    ranges = [schema for name, schema in schemas.items() if name.startswith("ParamRanges")]
    assert "dilate" in ranges[0]["properties"]


def test_the_smoke_test_passes_unedited(copied_app: str) -> None:
    """The new default leaves the edges unchanged, so the smoke test's upload check passes."""
    smoke.check_upload(requests.Session(), copied_app, 7, [])


def test_the_api_page_table_gains_a_row(widened: Path) -> None:
    render = "from tests.api_params_table import params_table; print(params_table())"
    table = subprocess.run(
        [sys.executable, "-c", render],
        env=copy_env(widened),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"| `dilate` | 0\N{EN DASH}3 | 0 | {LABEL} | {HINT} |" in table, table


def test_the_page_builds_the_control_and_names_the_result(
    copied_app: str, page: Page, axe_violations: Callable[[Page], list[str]], console_errors: list
) -> None:
    page.goto(f"{copied_app}/index.html")
    control = page.get_by_role("slider", name=LABEL)
    expect(control).to_have_attribute("min", "0")
    expect(control).to_have_attribute("max", "3")
    expect(control).to_have_accessible_description(HINT)
    expect(page.get_by_role("spinbutton", name=LABEL)).to_have_value("0")
    page.get_by_role("spinbutton", name=LABEL).fill("2")
    page.get_by_role("spinbutton", name=LABEL).press("Tab")
    expect(control).to_have_value("2")
    file = shapes_png(2)
    page.set_input_files("#file-input", files=[file])
    card = page.locator("#gallery .card").first
    expect(card).to_contain_text("low 100, high 200, blur 5, dilate 2", timeout=30000)
    download = card.locator("a[download]").first
    expect(download).to_have_attribute(
        "download", "shapes-2-edges-low100-high200-blur5-dilate2.png"
    )
    assert axe_violations(page) == [], "the page with the new control"
    assert console_errors == []
