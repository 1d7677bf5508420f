"""Images built once, promoted when tested, released as they are: `python -m ci.release_images`.

develop builds each commit's images once (`<image>:<commit SHA>`, each build job keeping
the digest it pushed), deploys them to `test` and smoke-tests them there. Then, and only
then, `promote_tested` runs this with `--promote --built image-digests`: it puts exactly
the manifests those build jobs pushed, byte for byte, under `tested-<commit SHA>` (same
digests: nothing is rebuilt or copied but the manifest). Production never builds:
`release_images`, first in the production pipeline, looks up both images' `tested-<SHA>`
tags (production is merged from develop fast-forward, so its commit is develop's), prints
their digests and writes them to a JSON file, and deploy_prod deploys `tested-<SHA>`
(release_tag). When a tag is missing (develop never built this commit, or its test
deploy or smoke test failed) it fails at once, naming the cause, before Pulumi touches prod.

The registry is reached through ci.registry (Basic or GitLab's Bearer token auth).

Exit: 0 done (digests printed and, for a release, written); 1 an image is missing or the
registry failed.
"""

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import requests

from ci import image_digests
from ci.image_digests import IMAGES
from ci.registry import Registry, RegistryError

TESTED_PREFIX = "tested-"


class ReleaseImageError(RegistryError):
    """An image of the release that cannot be found."""


def release_tag(commit: str) -> str:
    """The tag that says "these images passed develop's test deploy and smoke test"."""
    return TESTED_PREFIX + commit


def commit_of(tag: str) -> str:
    """The commit a release tag (or a plain commit tag) names."""
    return tag.removeprefix(TESTED_PREFIX)


def split_image(registry_image: str) -> tuple[str, str]:
    """`registry.example.com/group/project` -> (`registry.example.com`, `group/project`)."""
    host, _, path = registry_image.partition("/")
    if not host or not path:
        raise ReleaseImageError(f"{registry_image!r} is not <registry host>/<path>")
    return host, path


def _all_found(found: dict[str, str | None], path: str, tag: str, why: str) -> dict[str, str]:
    missing = [f"{path}/{image}:{tag}" for image, digest in found.items() if digest is None]
    if missing:
        raise ReleaseImageError(f"{', '.join(missing)} not in the registry: {why}")
    return {image: digest for image, digest in found.items() if digest is not None}


def promote(
    registry: Registry, path: str, commit: str, built: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Tag each image of the commit as tested; image name -> digest. With `built` (the
    digests this pipeline's build jobs pushed), exactly those manifests are tagged, even
    if the commit's tag was pushed again since (a retried build) with other bytes."""
    found = {
        image: registry.retag(
            f"{path}/{image}", (built or {}).get(image, commit), release_tag(commit)
        )
        for image in IMAGES
    }
    return _all_found(found, path, commit, "this pipeline's build jobs did not push it")


def release_digests(registry: Registry, path: str, commit: str) -> dict[str, str]:
    """Image name -> digest of each tested image of the commit; raise when one is missing."""
    tag = release_tag(commit)
    found = {image: registry.digest(f"{path}/{image}", tag) for image in IMAGES}
    return _all_found(
        found,
        path,
        tag,
        "production deploys only images that passed develop's test deploy and smoke test. "
        "Merge develop into production fast-forward (so this commit is develop's) after "
        "develop's pipeline passed (docs/gitlab.md)",
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ci.release_images", description=__doc__)
    parser.add_argument("--promote", action="store_true", help="tag the tested images")
    parser.add_argument(
        "--built", type=Path, help="with --promote: folder of the build jobs' digest files"
    )
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
        if args.promote:
            built = image_digests.from_build_files(args.built) if args.built else None
            digests = promote(registry, path, commit, built)
        else:
            digests = release_digests(registry, path, commit)
    except (RegistryError, requests.RequestException, KeyError, ValueError) as error:
        print(f"release_images: {error}", file=sys.stderr)
        return 1
    tag = release_tag(commit)
    for image, digest in digests.items():
        print(f"release_images: {host}/{path}/{image}:{tag} is {digest}")
    if not args.promote:
        images = {f"{host}/{path}/{image}": digest for image, digest in digests.items()}
        record = {"commit": commit, "tag": tag, "images": images}
        args.output.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
