"""A container registry's HTTP API, as Docker clients use it: read a tag's digest and
manifest, and put a manifest under another tag.

`HEAD /v2/<name>/manifests/<tag>` answers the manifest's digest in `Docker-Content-Digest`;
`GET` answers the manifest itself and `PUT` stores one under a tag (OCI distribution spec,
"Pulling manifests", "Pushing manifests"). A 401 names how to authenticate in
`WWW-Authenticate`: `Basic`, or `Bearer` with a token `realm` to fetch a token from, for
the scope the request needs (pull, or pull,push), with the same user and password (GitLab's
registry; https://distribution.github.io/distribution/spec/auth/token/). The job's own
CI_REGISTRY_USER / CI_REGISTRY_PASSWORD may pull and push this project's images
(https://docs.gitlab.com/user/packages/container_registry/authenticate_with_container_registry/).
"""

import base64
import re

import requests

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class RegistryError(Exception):
    """A registry answer this client cannot use."""


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Registry:
    """One registry, as `scheme://host` with a user and password."""

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
            raise RegistryError(f"the registry asks for unknown authentication {scheme!r}")
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

    def _manifest_request(
        self, method: str, name: str, tag: str, headers: dict[str, str], data: bytes | None = None
    ) -> requests.Response:
        """One request on name:tag's manifest, authenticated when the registry asks (a 404
        is returned, not raised)."""
        url = f"{self._base_url}/v2/{name}/manifests/{tag}"
        headers = dict(headers)
        for _ in range(2):
            response = requests.request(
                method, url, headers=headers, data=data, timeout=self._timeout
            )
            challenge = response.headers.get("WWW-Authenticate")
            if response.status_code == 401 and challenge and "Authorization" not in headers:
                headers["Authorization"] = self._authorization(challenge)
                continue
            if response.status_code != 404:
                response.raise_for_status()
            return response
        raise RegistryError(f"the registry refused {method} {name}:{tag}")

    def digest(self, name: str, tag: str) -> str | None:
        """The manifest digest of name:tag, or None when the registry has no such tag."""
        response = self._manifest_request("HEAD", name, tag, {"Accept": MANIFEST_TYPES})
        return None if response.status_code == 404 else response.headers["Docker-Content-Digest"]

    def retag(self, name: str, tag: str, new_tag: str) -> str | None:
        """Put name:tag's manifest, byte for byte, under new_tag too: same digest, nothing
        rebuilt or copied but the manifest. Its digest, or None when tag does not exist."""
        found = self._manifest_request("GET", name, tag, {"Accept": MANIFEST_TYPES})
        if found.status_code == 404:
            return None
        media_type = found.headers["Content-Type"]
        put = self._manifest_request(
            "PUT", name, new_tag, {"Content-Type": media_type}, data=found.content
        )
        return put.headers.get("Docker-Content-Digest") or found.headers["Docker-Content-Digest"]
