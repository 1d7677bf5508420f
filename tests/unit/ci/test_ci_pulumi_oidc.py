"""ci/pulumi_oidc.py: the GitLab ID token exchanged for prod's Pulumi token, against a
stand-in token endpoint on 127.0.0.1 that answers as Pulumi Cloud documents
(https://www.pulumi.com/docs/pulumi-cloud/access-management/oidc-client/)."""

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ci import pulumi_cli, pulumi_oidc
from tests.unit.ci.conftest import PROD_CREDENTIALS, FakePulumi, job_environ

ID_TOKEN = "eyJ.gitlab-id-token.sig"
GRANTED = "pul-short-lived-granted"


class TokenEndpoint(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.forms: list[dict[str, str]] = []
        self.status = 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: TokenEndpoint

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        assert self.path == "/api/oauth/token"
        assert self.headers["Content-Type"] == "application/x-www-form-urlencoded"
        self.server.forms.append(dict(urllib.parse.parse_qsl(body)))
        answer = {"access_token": GRANTED, "token_type": "token", "expires_in": 3600}
        payload = json.dumps(answer if self.server.status == 200 else {"message": "denied"})
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args: object) -> None:
        """Quiet: the test reads the recorded forms instead."""


@pytest.fixture
def endpoint() -> Iterator[TokenEndpoint]:
    server = TokenEndpoint()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def oidc_job(endpoint: TokenEndpoint, **extra: str) -> dict[str, str]:
    return {
        "PULUMI_OIDC_TOKEN": ID_TOKEN,
        "PULUMI_OIDC_ORG": "acme",
        "PULUMI_BACKEND_URL_PROD": endpoint.url,
        **extra,
    }


def test_the_id_token_is_exchanged_as_documented(endpoint: TokenEndpoint) -> None:
    assert pulumi_oidc.exchange(oidc_job(endpoint)) == GRANTED
    assert endpoint.forms == [
        {
            "audience": "urn:pulumi:org:acme",
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
            "requested_token_type": "urn:pulumi:token-type:access_token:organization",
            "expiration": "3600",
            "subject_token": ID_TOKEN,
        }
    ]


def test_a_team_token_names_its_team(endpoint: TokenEndpoint) -> None:
    pulumi_oidc.exchange(oidc_job(endpoint, PULUMI_OIDC_TEAM="canny-prod"))
    (form,) = endpoint.forms
    assert form["requested_token_type"] == "urn:pulumi:token-type:access_token:team"
    assert form["scope"] == "team:canny-prod"


def test_a_refused_exchange_names_the_policy_and_no_token(endpoint: TokenEndpoint) -> None:
    endpoint.status = 401
    with pytest.raises(pulumi_oidc.ExchangeError) as raised:
        pulumi_oidc.exchange(oidc_job(endpoint))
    assert "HTTP 401" in str(raised.value) and "authorization policy" in str(raised.value)
    assert ID_TOKEN not in str(raised.value)


def test_prods_pulumi_gets_the_exchanged_token(endpoint: TokenEndpoint) -> None:
    env = pulumi_cli.pulumi_environment({**PROD_CREDENTIALS, **oidc_job(endpoint)}, "prod")
    assert env["PULUMI_ACCESS_TOKEN"] == GRANTED
    assert "PULUMI_OIDC_TOKEN" not in env, "the ID token stays out of Pulumi's environment"


def test_a_static_prod_token_is_used_as_is(endpoint: TokenEndpoint) -> None:
    job = {**PROD_CREDENTIALS, **oidc_job(endpoint, PULUMI_ACCESS_TOKEN_PROD="pul-static")}
    assert pulumi_cli.pulumi_environment(job, "prod")["PULUMI_ACCESS_TOKEN"] == "pul-static"
    assert endpoint.forms == []


def test_test_stacks_never_exchange(endpoint: TokenEndpoint) -> None:
    env = pulumi_cli.pulumi_environment(oidc_job(endpoint), "test-feature-x")
    assert "PULUMI_ACCESS_TOKEN" not in env
    assert endpoint.forms == []


def test_a_prod_stack_importing_an_esc_environment_needs_no_prod_variables(
    fake_pulumi: FakePulumi, tmp_path: Path
) -> None:
    """ESC's pulumiConfig supplies the secrets then (docs/security.md)."""
    (tmp_path / "Pulumi.prod.yaml").write_text(
        "environment:\n  - canny/prod\nconfig:\n  canny:resultsStore: volume\n"
    )
    fake_pulumi.set_stacks([{"name": "acme/canny/prod"}])
    environ = job_environ(CI_COMMIT_SHA="0123abcd")
    assert pulumi_cli.main(["preview", "--stack", "prod"], environ) == 0
    (tmp_path / "Pulumi.prod.yaml").write_text("config:\n  canny:resultsStore: volume\n")
    assert pulumi_cli.main(["preview", "--stack", "prod"], environ) == 3
