"""The previous release as a whole: a checkout of its commit to run its `pulumi up` from.

A rollback that runs the failed commit's program, stack file and bundle with only the image
tag changed deploys a combination nobody ever tested. CI tags images with the commit SHA
(`tested-<SHA>` once tested: ci/release_images.py), so the tag prod ran before names the
commit that released it; this checks that commit out
beside the job's own (`git worktree add --detach`), so the rollback's `pulumi up` reads
that commit's Pulumi.prod.yaml, runs its infra/ program and copies its compose bundle.

deploy_prod clones the whole history (GIT_DEPTH 0, https://docs.gitlab.com/ci/runners/
configure_runners/#shallow-cloning): production only moves forward by fast-forward merges,
so the previous release is an ancestor of the job's commit and already in the clone; when
it is not (a history rewritten by hand) it is fetched from `origin` once.

The checkout runs with the job's Python packages: its `.venv` is a link to the job's own
(Pulumi.yaml names `.venv` relative to the project), and PYTHONPATH puts the checkout's
`infra` and `ci` first, ahead of the job's editable install (a path entry is searched
before the editable finder that setuptools appends to sys.meta_path). Installing the old
commit's packages again would take minutes while prod is broken.
"""

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from ci import release_images

COMMIT_SHA = re.compile(r"[0-9a-f]{40}")
CHECKOUTS = Path(".release-checkouts")


class CheckoutError(Exception):
    """The previous release's commit could not be checked out."""


def is_commit(tag: str) -> bool:
    return COMMIT_SHA.fullmatch(tag) is not None


def _git(*args: str, cwd: Path = Path()) -> None:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CheckoutError(f"git {' '.join(args)}: {result.stderr.strip()}")


def _has_commit(commit: str) -> bool:
    probe = ["git", "cat-file", "-e", f"{commit}^{{commit}}"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def checkout(tag: str, root: Path = CHECKOUTS) -> Path:
    """A checkout of the commit an image tag names, whose `.venv` is this job's; raise
    CheckoutError."""
    commit = release_images.commit_of(tag)
    if not is_commit(commit):
        raise CheckoutError(f"{tag!r} names no commit")
    if not _has_commit(commit):
        _git("fetch", "--quiet", "origin", commit)
    directory = (root / commit).resolve()
    if not directory.is_dir():
        # A runner that reuses its clone cleans ignored folders (git clean -ffdx) but not
        # the worktree records in .git, which would refuse the same path again.
        _git("worktree", "prune")
        _git("worktree", "add", "--quiet", "--detach", str(directory), commit)
    venv = directory / ".venv"
    if not venv.exists():
        venv.symlink_to(Path(sys.prefix).resolve(), target_is_directory=True)
    return directory


def environment(directory: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The job's environment with the checkout's packages first on the import path."""
    existing = environ.get("PYTHONPATH")
    path = f"{directory}{os.pathsep}{existing}" if existing else str(directory)
    return {**environ, "PYTHONPATH": path}
