"""Prod's preview posted on the release merge request, against a stand-in GitLab API."""

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from ci import merge_request_note
from tests.conftest import LoopbackHttpServer
from tests.unit.ci.conftest import PREVIEW_JSON

SHA = "0123456789abcdef0123456789abcdef01234567"
TOKEN = "glpat-api-x"


class FakeGitLab(LoopbackHttpServer):
    def __init__(self, merge_requests: list[dict], status: int = 201) -> None:
        super().__init__(FakeGitLabHandler)
        self.merge_requests = merge_requests
        self.status = status
        self.notes: list[tuple[str, dict, str | None]] = []


class FakeGitLabHandler(BaseHTTPRequestHandler):
    server: FakeGitLab

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads self.server.notes."""

    def _json(self, status: int, body: object) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        assert self.path == f"/api/v4/projects/1001/repository/commits/{SHA}/merge_requests"
        self._json(200, self.server.merge_requests)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.notes.append((self.path, body, self.headers.get("PRIVATE-TOKEN")))
        self._json(self.server.status, {"id": 1})


def post_note(tmp_path: Path, gitlab: FakeGitLab | None) -> int:
    preview = tmp_path / "preview.json"
    preview.write_text(json.dumps(PREVIEW_JSON))
    environ = {"CI_COMMIT_SHA": SHA, "CI_PIPELINE_URL": "https://gitlab.example/p/1"}
    if gitlab:
        environ |= {
            "CI_API_V4_URL": f"http://{gitlab.address}/api/v4",
            "CI_PROJECT_ID": "1001",
            "CANNY_RELEASE_NOTE_TOKEN": TOKEN,
        }
    return merge_request_note.main(["--preview-file", str(preview)], environ)


def test_the_diff_goes_on_the_merge_request_into_production(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    requests_ = [
        {"iid": 7, "target_branch": "develop"},
        {"iid": 9, "target_branch": "production"},
    ]
    with FakeGitLab(requests_) as gitlab:
        assert post_note(tmp_path, gitlab) == 0
    ((path, body, token),) = gitlab.notes
    assert path == "/api/v4/projects/1001/merge_requests/9/notes"
    assert token == TOKEN
    assert "update digitalocean:index/droplet:Droplet test-host-droplet (userData)" in body["body"]
    assert "create: 3" in body["body"] and "https://gitlab.example/p/1" in body["body"]
    out = capsys.readouterr().out
    assert "the diff is on merge request !9" in out and TOKEN not in out


def test_without_the_token_the_log_says_where_the_diff_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert post_note(tmp_path, None) == 0
    assert "no CANNY_RELEASE_NOTE_TOKEN: the diff is in this log only" in capsys.readouterr().out


def test_a_failing_gitlab_warns_and_does_not_block_the_release(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeGitLab([{"iid": 9, "target_branch": "production"}], status=403) as gitlab:
        assert post_note(tmp_path, gitlab) == 0
    assert "WARNING: no comment posted" in capsys.readouterr().err
