"""What a release's image tag may look like: Docker's tag grammar.

"A tag name must be valid ASCII and may contain lowercase and uppercase letters, digits,
underscores, periods and hyphens. A tag name may not start with a period or a hyphen and may
contain a maximum of 128 characters." (https://docs.docker.com/reference/cli/docker/image/tag/)
The stack config (infra/config.py) and CI's pulumi wrapper (ci/pulumi_cli.py) both check
tags with this one pattern.
"""

import re

IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


# A manifest digest as a registry returns it (Docker-Content-Digest) and `buildah push
# --digestfile` writes it: the images of a release are pinned by these, never by a tag that
# can be pushed again (https://distribution.github.io/distribution/spec/api/#content-digests).
IMAGE_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def is_image_tag(tag: str) -> bool:
    return IMAGE_TAG.fullmatch(tag) is not None


def is_image_digest(digest: str) -> bool:
    return IMAGE_DIGEST.fullmatch(digest) is not None
