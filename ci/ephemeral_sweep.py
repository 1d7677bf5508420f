"""Droplets tagged `ephemeral` that belong to no stack: find them, and delete them if asked.

Every test stack tags its droplet `canny`, `canny-<stack>` and `ephemeral` (infra/config.py,
`tags`). A droplet escapes every stack when a job was killed while Pulumi was creating it
(the create is then a pending operation, and `pulumi refresh --clear-pending-creates`
drops it from the state: ci/stack_recovery.py), or when a stack was removed with its
resources still there. Pulumi never sees such a droplet again; it costs money until a
person deletes it. This lists them from the DigitalOcean API
(`GET /v2/droplets?tag_name=ephemeral`, paged by `links.pages.next`;
https://docs.digitalocean.com/reference/api/reference/droplets/ droplets_list) and compares
them with the droplet ids in each stack's state (`pulumi stack export`, its
`deployment.resources`). It deletes (`DELETE /v2/droplets/{id}`, droplets_destroy) only
when asked: by default it only reports. Prod's droplets are never tagged `ephemeral` (the
config refuses it: infra/component_config.py) and are skipped here however they are tagged.
"""

import json
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import requests

from infra import stack_name

API_URL = "https://api.digitalocean.com"
EPHEMERAL_TAG = "ephemeral"
STACK_TAG_PREFIX = "canny-"
DROPLET_TYPE = "digitalocean:index/droplet:Droplet"
PAGE_LIMIT = 50


@dataclass(frozen=True)
class Droplet:
    id: str
    name: str
    tags: tuple[str, ...]

    @property
    def stack(self) -> str | None:
        """The stack named by its `canny-<stack>` tag, or None."""
        for tag in self.tags:
            if tag.startswith(STACK_TAG_PREFIX):
                return tag.removeprefix(STACK_TAG_PREFIX)
        return None


@dataclass(frozen=True)
class Orphan:
    droplet: Droplet
    reason: str


class DigitalOceanApi:
    """The two DigitalOcean API calls the sweep makes, with the token in a header only."""

    def __init__(self, token: str, base_url: str = API_URL, timeout: float = 30.0) -> None:
        self._token = token
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout

    def _request(self, method: str, url: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {self._token}"}
        response = requests.request(method, url, headers=headers, timeout=self._timeout)
        response.raise_for_status()
        return response

    def droplets_tagged(self, tag: str) -> list[Droplet]:
        url: str | None = f"{self._base_url}/v2/droplets?tag_name={tag}&per_page=200"
        droplets = []
        for _ in range(PAGE_LIMIT):
            if not url:
                break
            page = self._request("GET", url).json()
            droplets += [
                Droplet(str(entry["id"]), entry.get("name", ""), tuple(entry.get("tags") or []))
                for entry in page.get("droplets") or []
            ]
            url = ((page.get("links") or {}).get("pages") or {}).get("next")
        return droplets

    def delete_droplet(self, droplet_id: str) -> None:
        self._request("DELETE", f"{self._base_url}/v2/droplets/{droplet_id}")


def droplet_ids(stack_export_json: str) -> set[str]:
    """Ids of the droplets in one stack's state (`pulumi stack export` output)."""
    resources = json.loads(stack_export_json).get("deployment", {}).get("resources") or []
    return {str(r["id"]) for r in resources if r.get("type") == DROPLET_TYPE and r.get("id")}


def orphans(
    droplets: Iterable[Droplet], stacks: set[str], owned: Mapping[str, set[str]]
) -> list[Orphan]:
    """Droplets no stack owns: `stacks` are the bare stack names, `owned` the droplet ids
    in each stack's state."""
    found = []
    for droplet in droplets:
        stack = droplet.stack
        if stack is not None and stack_name.is_prod(stack):
            continue
        if stack is None:
            found.append(Orphan(droplet, "it names no stack (no canny-<stack> tag)"))
        elif stack not in stacks:
            found.append(Orphan(droplet, f"its stack {stack} does not exist"))
        elif droplet.id not in owned.get(stack, set()):
            found.append(Orphan(droplet, f"it is not in stack {stack}'s state"))
    return found


def export_droplet_ids(stack: str, env: Mapping[str, str]) -> set[str]:
    args = ["pulumi", "stack", "export", "--stack", stack]
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    return droplet_ids(result.stdout)


def sweep(
    api: DigitalOceanApi, stacks: set[str], env: Mapping[str, str], delete: bool
) -> list[Orphan]:
    """Report (and with `delete`, delete) each orphan; return them."""
    droplets = api.droplets_tagged(EPHEMERAL_TAG)
    named = {d.stack for d in droplets if d.stack in stacks}
    owned = {stack: export_droplet_ids(stack, env) for stack in sorted(named)}
    found = orphans(droplets, stacks, owned)
    for orphan in found:
        droplet = orphan.droplet
        verb = "deleting" if delete else "would delete (run with --delete-orphans)"
        print(f"ephemeral sweep: {verb} droplet {droplet.id} {droplet.name}: {orphan.reason}")
        if delete:
            try:
                api.delete_droplet(droplet.id)
            except requests.RequestException as error:
                print(f"ephemeral sweep: could not delete {droplet.id}: {error}", file=sys.stderr)
    if not found:
        print("ephemeral sweep: every ephemeral droplet belongs to a stack")
    return found
