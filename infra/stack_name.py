"""Which Pulumi stack belongs to which git branch: prod, test, or test-<slug> for reviews.

The slug follows GitLab's CI_COMMIT_REF_SLUG rules, so a review stack, its environment
(review/$CI_COMMIT_REF_SLUG) and its branch are recognisably the same. The stack name also
becomes a DNS label (<stack>.test.<domain>), so a slug longer than 42 characters is cut and
given a hash suffix: two long branches never share a stack. The deploy jobs and the reaper
both call stack_for_branch, so they always agree on the name. The Pulumi program checks the
stack it runs as with is_stack_name (infra/config.py), so CI and the program accept the same
names. It lives in infra and imports no Pulumi: the program and the CI scripts (ci/) both
use it, and ci depends on infra, never the reverse.
"""

import hashlib
import re
import sys

PROD_STACK = "prod"
TEST_STACK = "test"
REVIEW_PREFIX = "test-"
PROJECT = "canny"

PROD_BRANCH = "production"
TEST_BRANCH = "develop"
TEST_CONFIG_FILE = "Pulumi.test.yaml"

_SLUG_MAX_LENGTH = 63
REVIEW_SLUG_MAX_LENGTH = 42
_HASH_LENGTH = 8
REVIEW_STACK = re.compile(r"test-[a-z0-9](?:[a-z0-9-]{0,40}[a-z0-9])?")


def ref_slug(ref: str) -> str:
    """GitLab's CI_COMMIT_REF_SLUG: lowercase, every character outside a-z0-9 becomes `-`,
    cut to 63 characters, then leading and trailing `-` removed (runs are not collapsed)."""
    replaced = re.sub(r"[^a-z0-9]", "-", ref.lower())
    return replaced[:_SLUG_MAX_LENGTH].strip("-")


def stack_for_branch(branch: str) -> str:
    if branch == PROD_BRANCH:
        return PROD_STACK
    if branch == TEST_BRANCH:
        return TEST_STACK
    slug = ref_slug(branch)
    if not slug:
        raise ValueError(f"branch {branch!r} has an empty slug: no review stack name")
    if len(slug) > REVIEW_SLUG_MAX_LENGTH:
        digest = hashlib.sha256(slug.encode()).hexdigest()[:_HASH_LENGTH]
        slug = slug[: REVIEW_SLUG_MAX_LENGTH - _HASH_LENGTH - 1].rstrip("-") + "-" + digest
    return REVIEW_PREFIX + slug


def bare_name(stack: str) -> str:
    """`org/canny/test-x` and `canny/test-x` name the stack `test-x`; other projects are errors."""
    parts = stack.split("/")
    if len(parts) > 3 or any(not part for part in parts):
        raise ValueError(f"{stack!r} is not a stack name, project/stack or org/project/stack")
    if len(parts) >= 2 and parts[-2] != PROJECT:
        raise ValueError(f"stack {stack!r} belongs to project {parts[-2]!r}, not {PROJECT!r}")
    return parts[-1]


def is_prod(stack: str) -> bool:
    """Case-insensitive on purpose: refusing `Prod` costs nothing, destroying it costs a lot."""
    return stack.split("/")[-1].strip().lower() == PROD_STACK


def is_review(stack: str) -> bool:
    return REVIEW_STACK.fullmatch(bare_name(stack)) is not None


def is_stack_name(name: str) -> bool:
    """A bare name this project's stacks may have: prod, test or test-<slug>."""
    return name in (PROD_STACK, TEST_STACK) or REVIEW_STACK.fullmatch(name) is not None


def validate(stack: str) -> str:
    """Return the bare stack name, or raise if it is not prod, test or test-<slug>."""
    name = bare_name(stack)
    if not is_stack_name(name):
        raise ValueError(
            f"stack {stack!r} is not {PROD_STACK!r}, {TEST_STACK!r} or {REVIEW_PREFIX}<branch slug>"
        )
    return name


def config_file(stack: str) -> str | None:
    """Every test stack shares Pulumi.test.yaml; prod uses Pulumi's default Pulumi.prod.yaml."""
    return None if validate(stack) == PROD_STACK else TEST_CONFIG_FILE


def stack_file(stack: str) -> str:
    """The file holding the stack's config, whether or not `--config-file` must name it."""
    return config_file(stack) or f"Pulumi.{PROD_STACK}.yaml"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m infra.stack_name BRANCH", file=sys.stderr)
        return 2
    try:
        print(stack_for_branch(argv[0]))
    except ValueError as error:
        print(f"stack_name: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
