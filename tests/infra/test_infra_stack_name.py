import pytest

from infra import stack_name
from infra.stack_file import StackFileError, default_config_file


@pytest.mark.parametrize(
    ("ref", "slug"),
    [
        ("feature/Add-Login", "feature-add-login"),
        ("fix__double--dash", "fix--double--dash"),
        ("-leading/and/trailing-", "leading-and-trailing"),
        ("Ünïcode_branch", "n-code-branch"),
        ("release/1.2.3", "release-1-2-3"),
        ("a" * 70, "a" * 63),
        ("x" * 62 + "/tail", "x" * 62),
    ],
)
def test_ref_slug_follows_gitlab_rules(ref: str, slug: str) -> None:
    assert stack_name.ref_slug(ref) == slug, f"slug of {ref!r} differs from GitLab's"


@pytest.mark.parametrize(
    ("branch", "stack"),
    [
        ("production", "prod"),
        ("develop", "test"),
        ("feature/Add-Login", "test-feature-add-login"),
        ("Production-hotfix", "test-production-hotfix"),
    ],
)
def test_stack_for_branch(branch: str, stack: str) -> None:
    assert stack_name.stack_for_branch(branch) == stack


def test_branch_without_slug_characters_has_no_stack() -> None:
    with pytest.raises(ValueError, match="empty slug"):
        stack_name.stack_for_branch("///")


@pytest.mark.parametrize(
    ("stack", "bare"),
    [("prod", "prod"), ("canny/test", "test"), ("acme/canny/test-feature-x", "test-feature-x")],
)
def test_validate_accepts_our_stacks_bare_or_qualified(stack: str, bare: str) -> None:
    assert stack_name.validate(stack) == bare


@pytest.mark.parametrize(
    "stack",
    [
        "",
        "staging",
        "Prod",
        "test-",
        "test-Upper",
        "test--x-",
        "acme/other/prod",
        "a/b/c/prod",
        "/prod",
    ],
)
def test_validate_rejects_other_names(stack: str) -> None:
    with pytest.raises(ValueError):
        stack_name.validate(stack)


@pytest.mark.parametrize(
    ("stack", "config_file"),
    [("prod", None), ("test", "Pulumi.test.yaml"), ("test-feature-x", "Pulumi.test.yaml")],
)
def test_test_stacks_share_the_test_config_file(stack: str, config_file: str | None) -> None:
    assert stack_name.config_file(stack) == config_file


@pytest.mark.parametrize(
    ("stack", "file_name"),
    [("prod", "Pulumi.prod.yaml"), ("test", "Pulumi.test.yaml"), ("test-x", "Pulumi.test.yaml")],
)
def test_the_program_reads_the_file_ci_passes(stack: str, file_name: str) -> None:
    """The offline plan and the infra tests find a stack's file by the same rule as CI."""
    assert stack_name.stack_file(stack) == file_name
    assert default_config_file(stack).name == file_name


def test_a_stack_outside_the_rules_has_no_file() -> None:
    with pytest.raises(StackFileError, match="'staging' is not 'prod'"):
        default_config_file("staging")


@pytest.mark.parametrize(
    ("stack", "review"),
    [("test-feature-x", True), ("test", False), ("prod", False), ("org/canny/test-a", True)],
)
def test_is_review(stack: str, review: bool) -> None:
    assert stack_name.is_review(stack) is review


@pytest.mark.parametrize(
    ("argv", "code", "out"),
    [(["feature/x"], 0, "test-feature-x\n"), (["production"], 0, "prod\n"), ([], 2, "")],
)
def test_command_line_prints_the_stack(
    argv: list[str], code: int, out: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stack_name.main(argv) == code
    assert capsys.readouterr().out == out


@pytest.mark.parametrize(
    "branch",
    ["feature/" + "very-long-branch-name-" * 3, "x" * 62 + "/tail", "a-" * 40],
)
def test_long_branches_get_a_short_dns_safe_stack(branch: str) -> None:
    stack = stack_name.stack_for_branch(branch)
    assert len(stack) <= len("test-") + stack_name.REVIEW_SLUG_MAX_LENGTH, stack
    assert stack_name.validate(stack) == stack, f"{stack} must pass the wrapper's own check"


def test_long_branches_that_differ_after_the_cut_get_different_stacks() -> None:
    shared = "feature/the-same-first-forty-characters-x"
    first, second = (stack_name.stack_for_branch(shared + end) for end in ("-one", "-two"))
    assert first != second, f"both branches got stack {first}"


def test_a_slug_of_exactly_the_limit_is_kept() -> None:
    branch = "b" * stack_name.REVIEW_SLUG_MAX_LENGTH
    assert stack_name.stack_for_branch(branch) == "test-" + branch
