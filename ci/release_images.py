"""The images a production release deploys, found, not built: `python -m ci.release_images`.

Production never builds: develop built this commit's images (`<image>:<commit SHA>`),
deployed them to `test` and smoke-tested them there, and `production` is merged from
develop fast-forward (docs/gitlab.md), so its commit is that same SHA. This job, first in
the production pipeline, asks the registry for both images of the commit, prints their
digests and writes them to a JSON file; when one is missing (develop never built this
commit: a merge commit, or the tags were cleaned up) it fails at once, naming the cause,
before Pulumi touches prod.

The registry is asked the way Docker clients ask it: `HEAD /v2/<name>/manifests/<tag>`
answers the manifest's digest in `Docker-Content-Digest` (OCI distribution spec, "Pulling
manifests"); a 401 names how to authenticate in `WWW-Authenticate`: `Basic`, or `Bearer`
with a token `realm` to fetch a token from with the same user and password (GitLab's
registry; https://distribution.github.io/distribution/spec/auth/token/). The job's own
CI_REGISTRY_USER / CI_REGISTRY_PASSWORD may pull (https://docs.gitlab.com/user/packages/
container_registry/authenticate_with_container_registry/).

Exit: 0 found (digests printed and written); 1 an image is missing or the registry failed.
"""

import argparse
import base64
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import requests

IMAGES = ("backend", "gateway")
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class ReleaseImageError(Exception):
    """An image of the release that cannot be found."""


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Registry:
    """Read-only access to one registry, as `scheme://host` with a user and password."""

    def __init__(self, base_url: str, user: str, password: str, timeout: float = 30.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._user = user
        self._password = password
        self._timeout = timeout

    def _authorization(self, challenge: str) -> str:
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            return _basic(self._user, self._password)
        if scheme.lower() != "bearer":
            raise ReleaseImageError(f"the registry asks for unknown authentication {scheme!r}")
        values = dict(_CHALLENGE_PARAM.findall(params))
        query = {k: v for k, v in values.items() if k in ("service", "scope")}
        response = requests.get(
            values["realm"],
            params=query,
            auth=(self._user, self._password),
            timeout=self._timeout,
        )
        response.raise_for_status()
        answer = response.json()
        return "Bearer " + (answer.get("token") or answer["access_token"])

    def digest(self, name: str, tag: str) -> str | None:
        """The manifest digest of name:tag, or None when the registry has no such tag."""
        url = f"{self._base_url}/v2/{name}/manifests/{tag}"
        headers = {"Accept": MANIFEST_TYPES}
        for _ in range(2):
            response = requests.head(url, headers=headers, timeout=self._timeout)
            if response.status_code == 404:
                return None
            challenge = response.headers.get("WWW-Authenticate")
            if response.status_code == 401 and challenge and "Authorization" not in headers:
                headers["Authorization"] = self._authorization(challenge)
                continue
            response.raise_for_status()
            return response.headers["Docker-Content-Digest"]
        raise ReleaseImageError(f"the registry refused {name}:{tag}")


def split_image(registry_image: str) -> tuple[str, str]:
    """`registry.example.com/group/project` -> (`registry.example.com`, `group/project`)."""
    host, _, path = registry_image.partition("/")
    if not host or not path:
        raise ReleaseImageError(f"{registry_image!r} is not <registry host>/<path>")
    return host, path


def release_digests(registry: Registry, path: str, commit: str) -> dict[str, str]:
    """Image name -> digest for each image of the commit; raise when one is missing."""
    digests = {}
    missing = []
    for image in IMAGES:
        digest = registry.digest(f"{path}/{image}", commit)
        if digest is None:
            missing.append(f"{path}/{image}:{commit}")
        else:
            digests[image] = digest
    if missing:
        raise ReleaseImageError(
            f"{', '.join(missing)} not in the registry: production deploys only images that "
            "develop built and tested. Merge develop into production fast-forward (so this "
            "commit is develop's), after develop's pipeline passed (docs/gitlab.md)"
        )
    return digests


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ci.release_images", description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("release-images.json"))
    parser.add_argument("--scheme", default="https", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    args = parse_args(argv)
    commit = environ.get("CI_COMMIT_SHA", "")
    try:
        host, path = split_image(environ.get("CI_REGISTRY_IMAGE", ""))
        registry = Registry(
            f"{args.scheme}://{host}",
            environ.get("CI_REGISTRY_USER", ""),
            environ.get("CI_REGISTRY_PASSWORD", ""),
        )
        digests = release_digests(registry, path, commit)
    except (ReleaseImageError, requests.RequestException, KeyError, ValueError) as error:
        print(f"release_images: {error}", file=sys.stderr)
        return 1
    for image, digest in digests.items():
        print(f"release_images: {host}/{path}/{image}:{commit} is {digest}")
    record = {"commit": commit, "images": {f"{host}/{path}/{k}": v for k, v in digests.items()}}
    args.output.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
