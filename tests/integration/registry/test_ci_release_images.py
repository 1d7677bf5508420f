"""ci.release_images against a real registry (Docker's distribution, htpasswd auth: the
Basic challenge) and against a stand-in for GitLab's token auth (the Bearer challenge)."""

import base64
import hashlib
import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import requests

from ci import release_images
from tests import registry_process
from tests.conftest import LoopbackHttpServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"
USER, PASSWORD = "ci-user", "registry-password-x"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


@dataclass
class RealRegistry:
    url: str
    host: str

    def _blob(self, name: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        auth = (USER, PASSWORD)
        start = requests.post(f"{self.url}/v2/{name}/blobs/uploads/", auth=auth, timeout=10)
        assert start.status_code == 202, start.text
        location = start.headers["Location"]
        location = location if location.startswith("http") else self.url + location
        separator = "&" if "?" in location else "?"
        done = requests.put(
            f"{location}{separator}digest={digest}", data=data, auth=auth, timeout=10
        )
        assert done.status_code == 201, done.text
        return digest

    def push(self, name: str, tag: str, build: str = "first") -> str:
        """An image manifest (one config, one layer) as name:tag, different for each
        `build` of the same tag; returns its digest."""
        config = json.dumps({"os": "linux", "tag": tag, "build": build}).encode()
        layer = f"layer of {name}:{tag}".encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": self._blob(name, config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": self._blob(name, layer),
                }
            ],
        }
        response = requests.put(
            f"{self.url}/v2/{name}/manifests/{tag}",
            data=json.dumps(manifest),
            headers={"Content-Type": MANIFEST_V2},
            auth=(USER, PASSWORD),
            timeout=10,
        )
        assert response.status_code == 201, response.text
        return response.headers["Docker-Content-Digest"]


@pytest.fixture
def registry(tmp_path: Path, require_tool: Callable[[str], str]) -> Iterator[RealRegistry]:
    password_file = tmp_path / "htpasswd"
    hashed = subprocess.run(
        [require_tool("htpasswd"), "-Bbn", USER, PASSWORD],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    password_file.write_text(hashed)
    with registry_process.serving(require_tool("docker-registry"), tmp_path, password_file) as host:
        yield RealRegistry(f"http://{host}", host)


TESTED = f"tested-{COMMIT}"


def run(host: str, tmp_path: Path, *argv: str, password: str = PASSWORD) -> int:
    environ = {
        "CI_COMMIT_SHA": COMMIT,
        "CI_REGISTRY_IMAGE": f"{host}/acme/canny",
        "CI_REGISTRY_USER": USER,
        "CI_REGISTRY_PASSWORD": password,
    }
    output = tmp_path / "release-images.json"
    return release_images.main(["--output", str(output), "--scheme", "http", *argv], environ)


def test_tested_images_are_released_with_the_digests_develop_built(
    registry: RealRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Built once, promoted once tested, released as they are: one digest all along."""
    backend = registry.push("acme/canny/backend", COMMIT)
    gateway = registry.push("acme/canny/gateway", COMMIT)
    registry.push("acme/canny/backend", "another-commit")
    assert run(registry.host, tmp_path, "--promote") == 0
    assert not (tmp_path / "release-images.json").exists(), "promoting releases nothing"
    assert run(registry.host, tmp_path) == 0
    record = json.loads((tmp_path / "release-images.json").read_text())
    assert record == {
        "commit": COMMIT,
        "tag": TESTED,
        "images": {
            f"{registry.host}/acme/canny/backend": backend,
            f"{registry.host}/acme/canny/gateway": gateway,
        },
    }
    out = capsys.readouterr().out
    assert f"acme/canny/gateway:{TESTED} is {gateway}" in out, out
    assert PASSWORD not in out


def test_promotion_tags_the_digests_this_pipeline_built_not_a_later_rebuild(
    registry: RealRegistry, tmp_path: Path
) -> None:
    """A retried build pushed the commit's tag again with other bytes after test ran: the
    tested tag still names what test ran."""
    built = tmp_path / "image-digests"
    built.mkdir()
    for image in ("backend", "gateway"):
        (built / image).write_text(registry.push(f"acme/canny/{image}", COMMIT) + "\n")
    rebuilt = registry.push("acme/canny/backend", COMMIT, build="retried")
    assert run(registry.host, tmp_path, "--promote", "--built", str(built)) == 0
    assert run(registry.host, tmp_path) == 0
    released = json.loads((tmp_path / "release-images.json").read_text())["images"]
    tested = (built / "backend").read_text().strip()
    assert released[f"{registry.host}/acme/canny/backend"] == tested != rebuilt


def test_a_build_job_that_wrote_no_digest_stops_the_promotion(
    registry: RealRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "image-digests").mkdir()
    assert (
        run(registry.host, tmp_path, "--promote", "--built", str(tmp_path / "image-digests")) == 1
    )
    assert "the build job of backend wrote no digest" in capsys.readouterr().err


def test_images_that_were_never_tested_stop_the_release(
    registry: RealRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Built on develop but its test deploy or smoke test failed: no `tested-` tag."""
    registry.push("acme/canny/backend", COMMIT)
    registry.push("acme/canny/gateway", COMMIT)
    assert run(registry.host, tmp_path) == 1
    err = capsys.readouterr().err
    assert f"acme/canny/backend:{TESTED}, acme/canny/gateway:{TESTED} not in" in err, err
    assert "fast-forward" in err
    assert not (tmp_path / "release-images.json").exists()


def test_promoting_a_commit_whose_images_are_missing_fails(
    registry: RealRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.push("acme/canny/backend", COMMIT)
    assert run(registry.host, tmp_path, "--promote") == 1
    assert f"acme/canny/gateway:{COMMIT} not in the registry" in capsys.readouterr().err


def test_wrong_registry_credentials_fail_with_the_reason(
    registry: RealRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.push("acme/canny/backend", COMMIT)
    assert run(registry.host, tmp_path, password="wrong") == 1
    assert "401" in capsys.readouterr().err


class TokenRegistry(LoopbackHttpServer):
    """GitLab's registry as a client sees it: 401 with a Bearer challenge naming the token
    realm and the scope the request needs (pull to read, pull,push to tag); the realm
    trades the user and password for a token of that scope
    (https://distribution.github.io/distribution/spec/auth/token/)."""

    def __init__(self) -> None:
        super().__init__(TokenRegistryHandler)
        self.token_requests: list[str] = []
        self.manifests: dict[str, bytes] = {}


MANIFEST = b'{"schemaVersion": 2, "mediaType": "%s"}' % MANIFEST_V2.encode()
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


class TokenRegistryHandler(BaseHTTPRequestHandler):
    server: TokenRegistry

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads self.server.token_requests and .manifests."""

    def _answer(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _authorized(self, actions: str) -> bool:
        """Whether the request carries a token for `actions`; if not, answer the challenge."""
        tokens = {
            "pull": {"Bearer jwt-pull", "Bearer jwt-pull,push"},
            "pull,push": {"Bearer jwt-pull,push"},
        }
        if self.headers.get("Authorization") in tokens[actions]:
            return True
        name = self.path.split("/manifests/")[0].removeprefix("/v2/")
        challenge = (
            f'Bearer realm="http://{self.server.address}/jwt/auth",service="container_registry",'
            f'scope="repository:{name}:{actions}"'
        )
        self._answer(401, {"WWW-Authenticate": challenge})
        return False

    def _manifest(self) -> None:
        tag = self.path.rsplit("/", 1)[-1]
        if not self._authorized("pull"):
            return
        if not tag.startswith("tested-"):
            # develop's build pushed every commit's images; tested- tags only promote makes.
            self.server.manifests.setdefault(self.path, MANIFEST)
        body = self.server.manifests.get(self.path)
        if body is None:
            self._answer(404, {})
            return
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        headers = {"Content-Type": MANIFEST_V2, "Docker-Content-Digest": digest}
        self._answer(200, headers, body)

    def do_GET(self) -> None:
        if not self.path.startswith("/jwt/auth"):
            self._manifest()
            return
        self.server.token_requests.append(self.path)
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self._answer(401, {})
            return
        actions = self.path.rsplit("%3A", 1)[-1].replace("%2C", ",")
        body = json.dumps({"token": f"jwt-{actions}"}).encode()
        self._answer(200, {"Content-Type": "application/json"}, body)

    def do_HEAD(self) -> None:
        self._manifest()

    def do_PUT(self) -> None:
        if not self._authorized("pull,push"):
            return
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.manifests[self.path] = body
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self._answer(201, {"Docker-Content-Digest": digest})


def test_a_token_registry_gives_a_pull_token_to_read_and_a_push_token_to_tag(
    tmp_path: Path,
) -> None:
    """GitLab's registry: promote reads with a pull token and tags with a push token,
    and the release finds the tested tags with the same digest."""
    with TokenRegistry() as server:
        assert run(server.address, tmp_path, "--promote") == 0
        assert run(server.address, tmp_path) == 0
    record = json.loads((tmp_path / "release-images.json").read_text())
    assert set(record["images"].values()) == {MANIFEST_DIGEST}
    assert server.manifests[f"/v2/acme/canny/backend/manifests/{TESTED}"] == MANIFEST
    scopes = [path.split("scope=")[1] for path in server.token_requests]
    assert "repository%3Aacme%2Fcanny%2Fbackend%3Apull%2Cpush" in scopes, scopes
    assert "repository%3Aacme%2Fcanny%2Fgateway%3Apull" in scopes, scopes
