"""A loopback stand-in for GitLab's Deployments API: the list and create endpoints
ci.release_record calls (https://docs.gitlab.com/api/deployments/), over a list of
deployments it keeps, so a test sees what a rollback recorded."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

from tests.conftest import LoopbackHttpServer

PROJECT = "42"
TOKEN = "glpat-deployments-token"


class GitLabDeployments(LoopbackHttpServer):
    """`deployments` are oldest first, as GitLab creates them; `requests` records each call."""

    def __init__(self, deployments: list[dict]) -> None:
        self.deployments = deployments
        self.requests: list[tuple[str, dict]] = []
        super().__init__(_Handler)

    @property
    def api_url(self) -> str:
        return f"http://{self.address}/api/v4"

    def environ(self) -> dict[str, str]:
        return {
            "CI_API_V4_URL": self.api_url,
            "CI_PROJECT_ID": PROJECT,
            "CANNY_DEPLOYMENTS_TOKEN": TOKEN,
        }

    def created(self) -> list[dict]:
        return [body for method, body in self.requests if method == "POST"]


class _Handler(BaseHTTPRequestHandler):
    server: GitLabDeployments

    def log_message(self, *args: object) -> None:
        return

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self, path: str) -> bool:
        if path != f"/api/v4/projects/{PROJECT}/deployments":
            self._answer(404, {"message": "404 Not found"})
            return False
        if self.headers.get("PRIVATE-TOKEN") != TOKEN:
            self._answer(401, {"message": "401 Unauthorized"})
            return False
        return True

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if not self._authorised(url.path):
            return
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        self.server.requests.append(("GET", query))
        found = [
            deployment
            for deployment in self.server.deployments
            if deployment["environment"] == query.get("environment")
            and deployment["status"] == query.get("status", deployment["status"])
        ]
        if query.get("order_by") == "finished_at" and query.get("sort") == "desc":
            found.reverse()
        self._answer(200, found[: int(query.get("per_page", "20"))])

    def do_POST(self) -> None:
        if not self._authorised(urlparse(self.path).path):
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(("POST", body))
        deployment = {"id": len(self.server.deployments) + 1, **body}
        self.server.deployments.append(deployment)
        self._answer(201, deployment)
