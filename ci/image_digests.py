"""The digests a release's images are pinned by, and where CI finds them.

Build jobs write one file per image (`buildah push --digestfile`,
https://github.com/containers/buildah/blob/main/docs/buildah-push.1.md); `release_images`
writes a release's record (release-images.json). Either becomes the stack config
`canny:backendDigest` / `canny:gatewayDigest`, and the droplet pulls each image by its digest
(infra/remote/deploy.sh, app/compose.yaml), so a tag pushed again later cannot change what
a release runs. This module needs no HTTP client: the Pulumi jobs import it.
"""

import json
from collections.abc import Mapping
from pathlib import Path

from infra.image_tag import is_image_digest

IMAGES = ("backend", "gateway")
CONFIG_KEYS = {"backend": "canny:backendDigest", "gateway": "canny:gatewayDigest"}


class DigestError(ValueError):
    """A digest file or record that does not name both images by valid digests."""


def checked(digests: Mapping[str, str]) -> dict[str, str]:
    """Both images, each by a valid digest; raise DigestError otherwise."""
    pinned = {image: digests.get(image, "") for image in IMAGES}
    wrong = [
        f"{image}={digest!r}" for image, digest in pinned.items() if not is_image_digest(digest)
    ]
    if wrong:
        raise DigestError(f"not sha256:<64 hex> image digests: {', '.join(wrong)}")
    return pinned


def from_build_files(directory: Path) -> dict[str, str]:
    """Image name -> the digest its build job pushed, from the job's digest files."""
    digests = {}
    for image in IMAGES:
        file = directory / image
        if not file.is_file():
            raise DigestError(f"{file} is missing: the build job of {image} wrote no digest")
        digests[image] = file.read_text().strip()
    return checked(digests)


def from_release_record(record: Path) -> dict[str, str]:
    """Image name -> digest, from release_images' record (`images`: `<registry>/<path>/<image>`
    -> digest)."""
    if not record.is_file():
        raise DigestError(f"{record} is missing: release_images wrote no record of the release")
    images = json.loads(record.read_text()).get("images") or {}
    return checked({path.rsplit("/", 1)[-1]: digest for path, digest in images.items()})


def config_values(digests: Mapping[str, str]) -> dict[str, str]:
    """Config key -> digest: the stack config that pins the images."""
    return {CONFIG_KEYS[image]: digest for image, digest in digests.items()}
