"""What each job needs to work on a real GitLab, read from the pipeline as GitLab merges it
(`gitlab-ci-local --preview`: extends, anchors and defaults applied)."""

import re
from collections.abc import Callable
from pathlib import Path

import yaml

from ci import reap_pipeline
from infra import stack_name
from tests.integration.gitlab.conftest import PIPELINE, REPO_ROOT, check_pipeline_schema, jobs

GITLAB_DOC = (REPO_ROOT / "docs" / "gitlab.md").read_text()
PROD_RUNNER_TAG = "$CANNY_PROD_RUNNER_TAG"
BUILD_RUNNER_TAG = "$CANNY_BUILD_RUNNER_TAG"


def pulumi_jobs(pipeline: dict) -> dict[str, dict]:
    return {
        name: job
        for name, job in jobs(pipeline).items()
        if isinstance(job.get("image"), dict) and job["image"]["name"] == "$PULUMI_IMAGE"
    }


def needed(job: dict) -> set[str]:
    """Names of the jobs a job needs (gitlab-ci-local expands `needs` to mappings)."""
    return {need["job"] if isinstance(need, dict) else need for need in job.get("needs") or []}


def commands(job: dict) -> str:
    return "\n".join([*job.get("before_script", []), *job.get("script", [])])


def test_stop_jobs_never_fetch_the_branch_and_stay_playable(expanded_pipeline: dict) -> None:
    stops = {
        name: job
        for name, job in jobs(expanded_pipeline).items()
        if job.get("environment", {}).get("action") == "stop"
    }
    assert set(stops) == {"stop_test", "stop_review"}
    for name, job in stops.items():
        strategy = job.get("variables", {}).get(
            "GIT_STRATEGY", expanded_pipeline["variables"].get("GIT_STRATEGY")
        )
        assert strategy == "none", f"{name}: GIT_STRATEGY {strategy!r} fetches the deleted branch"
        assert job.get("needs") == [], f"{name} must not be skipped when its deploy failed"
        assert "refs/pipelines/${CI_PIPELINE_ID}" in commands(job), name
        assert "CI_JOB_TOKEN}@" not in commands(job), f"{name} puts the job token in a URL"


def test_jobs_reaching_prod_over_ssh_run_on_the_prod_runner_tag(expanded_pipeline: dict) -> None:
    """Every job that updates prod (pulumi's remote commands, the smoke test's rollback) or
    runs a script that opens SSH to the droplet."""
    reaching = {
        name: job
        for name, job in jobs(expanded_pipeline).items()
        if (
            job.get("environment", {}).get("name") == "production"
            and job["environment"].get("action", "start") == "start"
        )
        or re.search(r"ci\.(rollback|prod_release|wait_for_host)", commands(job))
    }
    assert set(reaching) == {"deploy_prod"}, sorted(reaching)
    for name, job in reaching.items():
        assert job.get("tags") == [PROD_RUNNER_TAG], f"{name} runs on {job.get('tags')}"
    assert expanded_pipeline["variables"]["CANNY_PROD_RUNNER_TAG"], "the tag needs a default"
    assert "`CANNY_PROD_RUNNER_TAG`" in GITLAB_DOC, "docs/gitlab.md must document the tag variable"


def test_prod_deploy_and_smoke_test_are_one_locked_job(expanded_pipeline: dict) -> None:
    all_jobs = jobs(expanded_pipeline)
    deploy = all_jobs["deploy_prod"]
    assert "python -m ci.prod_release" in commands(deploy)
    assert deploy["resource_group"] == "prod"
    touching_prod = {
        name
        for name, job in all_jobs.items()
        if job.get("environment", {}).get("name") == "production"
        and job["environment"].get("action") != "prepare"
    }
    assert touching_prod == {"deploy_prod"}, "a second prod job could run after another deploy"
    followers = [name for name, job in all_jobs.items() if "deploy_prod" in str(job.get("needs"))]
    assert followers == [], f"{followers} run outside deploy_prod's lock"


def test_previews_hold_the_lock_of_the_stack_they_preview(expanded_pipeline: dict) -> None:
    all_jobs = jobs(expanded_pipeline)
    assert (
        all_jobs["preview_test"].get("resource_group") == all_jobs["deploy_test"]["resource_group"]
    )
    assert (
        all_jobs["preview_prod"].get("resource_group") == all_jobs["deploy_prod"]["resource_group"]
    )


def test_the_merge_request_preview_does_not_wait_for_the_tests(expanded_pipeline: dict) -> None:
    assert jobs(expanded_pipeline)["preview_test"].get("needs") == []


def test_pulumi_jobs_install_only_the_infra_extra(expanded_pipeline: dict) -> None:
    found = pulumi_jobs(expanded_pipeline)
    assert {"preview_test", "deploy_test", "deploy_prod", "stop_review", "reap"} <= set(found)
    for name, job in found.items():
        script = commands(job)
        assert "python3 -m ci.infra_requirements" in script, name
        assert "--requirement .cache/infra-requirements.txt" in script, name
        assert ".[infra]" not in script and script.count("--editable") == 1, (
            f"{name} installs the whole project (OpenCV, numpy)"
        )
        # Pulumi runs infra/__main__.py by path: its `import infra.x` needs the project
        # installed, without its dependencies (https://www.pulumi.com/docs/iac/languages-sdks/python/).
        assert "pip install --quiet --no-deps --editable ." in script, name


def test_pulumi_plugins_are_cached_between_jobs(expanded_pipeline: dict) -> None:
    home = expanded_pipeline["variables"]["PULUMI_HOME"]
    assert home.startswith("$CI_PROJECT_DIR/"), "GitLab caches only paths in the project"
    plugins = str(Path(home.removeprefix("$CI_PROJECT_DIR/")) / "plugins")
    for name, job in pulumi_jobs(expanded_pipeline).items():
        cached = [path for cache in job["cache"] for path in cache["paths"]]
        assert plugins in cached, f"{name} caches {cached}, not {plugins}"
        assert home.removeprefix("$CI_PROJECT_DIR/") not in cached, (
            f"{name} caches all of PULUMI_HOME, login included"
        )


def test_image_builds_ask_for_a_runner_buildah_can_run_on(expanded_pipeline: dict) -> None:
    builds = {
        name: job
        for name, job in jobs(expanded_pipeline).items()
        if "buildah" in str(job.get("image"))
    }
    assert set(builds) == {"build_backend", "build_gateway"}
    for name, job in builds.items():
        assert job.get("tags") == [BUILD_RUNNER_TAG], f"{name} runs on {job.get('tags')}"
    assert expanded_pipeline["variables"]["CANNY_BUILD_RUNNER_TAG"]
    assert "`CANNY_BUILD_RUNNER_TAG`" in GITLAB_DOC and "seccomp" in GITLAB_DOC


# GitLab's default job timeout is the project's, 60 minutes unless changed, and a runner's
# maximum timeout caps every job (https://docs.gitlab.com/ci/yaml/#timeout).
GITLAB_DEFAULT_TIMEOUT_MINUTES = 60


def minutes(timeout: str) -> int:
    amount, unit = timeout.split()
    assert unit in ("minute", "minutes"), f"write Pulumi timeouts in minutes, not {timeout!r}"
    return int(amount)


def test_every_pulumi_job_ends_before_gitlab_or_the_runner_kills_it(
    expanded_pipeline: dict,
) -> None:
    """A killed update leaves the stack locked; an explicit timeout makes the limit known."""
    for name, job in pulumi_jobs(expanded_pipeline).items():
        assert "timeout" in job, f"{name} has no explicit timeout"
        assert minutes(job["timeout"]) < GITLAB_DEFAULT_TIMEOUT_MINUTES, name


def test_every_stack_has_a_manual_recovery_job_holding_its_lock(expanded_pipeline: dict) -> None:
    all_jobs = jobs(expanded_pipeline)
    recoveries = {
        "recover_prod": "deploy_prod",
        "recover_test": "deploy_test",
        "recover_review": "review",
    }
    for recover, deploy in recoveries.items():
        job = all_jobs[recover]
        assert "python -m ci.stack_recovery" in commands(job), recover
        assert job["resource_group"] == all_jobs[deploy]["resource_group"], recover
        assert {rule.get("when") for rule in job["rules"]} <= {"manual", "never"}, recover
        assert job.get("needs") == [], f"{recover} must run when everything else failed"
    assert "recover_prod" in GITLAB_DOC and "pulumi cancel" in GITLAB_DOC


def test_no_job_but_a_deploy_keeps_an_environment_with_auto_stop_alive(
    expanded_pipeline: dict,
) -> None:
    """Since GitLab 18.0 `action: prepare` and `access` reset the auto-stop timer
    (gitlab-org/gitlab#437133): a preview or the nightly reaper would keep `test` for ever."""
    all_jobs = jobs(expanded_pipeline)
    auto_stopping = {
        job["environment"]["name"]
        for job in all_jobs.values()
        if isinstance(job.get("environment"), dict) and "auto_stop_in" in job["environment"]
    }
    assert auto_stopping == {"test", "review/$CI_COMMIT_REF_SLUG"}
    for name, job in all_jobs.items():
        environment = job.get("environment") or {}
        if environment.get("name") in auto_stopping:
            assert environment.get("action") not in ("prepare", "access"), name


def test_the_review_smoke_test_runs_only_after_its_deploy_succeeded(
    expanded_pipeline: dict,
) -> None:
    """review is manual and allowed to fail, and GitLab runs a job that `needs` such a job
    even when it failed: the smoke test is a later line of review's own script."""
    all_jobs = jobs(expanded_pipeline)
    script = all_jobs["review"]["script"]
    deploy = next(i for i, line in enumerate(script) if "ci.pulumi_cli up" in line)
    smoke = next(i for i, line in enumerate(script) if "ci.smoke" in line)
    assert deploy < smoke, script
    followers = [name for name, job in all_jobs.items() if "review" in needed(job)]
    assert followers == [], f"{followers} would run after a failed review"


def test_production_deploys_the_images_develop_built_and_tested(expanded_pipeline: dict) -> None:
    """Built once on develop, tagged `tested-<SHA>` only after test's smoke test passed,
    and exactly that tag previewed and deployed to prod."""
    all_jobs = jobs(expanded_pipeline)
    deploy = needed(all_jobs["deploy_prod"])
    assert "release_images" in deploy, deploy
    assert not {"build_backend", "build_gateway"} & deploy, deploy
    assert "python -m ci.release_images --output" in commands(all_jobs["release_images"])
    promote = all_jobs["promote_tested"]
    assert needed(promote) == {"verify_test", "build_backend", "build_gateway"}
    assert "python -m ci.release_images --promote --built image-digests" in commands(promote)
    for build in ("build_backend", "build_gateway"):
        assert '--digestfile "image-digests/$IMAGE_NAME"' in commands(all_jobs[build])
        assert "image-digests/" in all_jobs[build]["artifacts"]["paths"]
    tested = '--image-tag "tested-$CI_COMMIT_SHA"'
    assert tested in commands(all_jobs["deploy_prod"])
    assert tested in commands(all_jobs["preview_prod"])


def test_every_deploy_runs_its_images_by_digest(expanded_pipeline: dict) -> None:
    """test and review by the digests this pipeline's build jobs pushed, prod (preview and
    deploy) by the tested digests release_images recorded; GitLab downloads the artifacts
    of the jobs a job `needs`."""
    all_jobs = jobs(expanded_pipeline)
    for name in ("deploy_test", "review"):
        assert "--image-digests image-digests" in commands(all_jobs[name]), name
        assert {"build_backend", "build_gateway"} <= needed(all_jobs[name]), name
    for name in ("preview_prod", "deploy_prod"):
        assert "--image-digests release-images.json" in commands(all_jobs[name]), name
        assert "release_images" in needed(all_jobs[name]), name
    assert "release-images.json" in all_jobs["release_images"]["artifacts"]["paths"]
    assert "`CANNY_DEPLOYMENTS_TOKEN`" in GITLAB_DOC


def test_prod_s_diff_is_posted_on_the_release_before_anyone_plays_the_deploy(
    expanded_pipeline: dict,
) -> None:
    all_jobs = jobs(expanded_pipeline)
    preview = commands(all_jobs["preview_prod"])
    assert "ci.pulumi_cli preview --stack" in preview
    assert "python -m ci.merge_request_note --preview-file preview.json" in preview
    assert "preview_prod" in needed(all_jobs["deploy_prod"])
    assert "`CANNY_RELEASE_NOTE_TOKEN`" in GITLAB_DOC


def test_the_reaper_s_child_pipeline_is_valid_and_locks_like_the_review_jobs(
    expanded_pipeline: dict, tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    all_jobs = jobs(expanded_pipeline)
    assert "--child-pipeline reap-pipeline.yml" in commands(all_jobs["reap"])
    assert "ci.pulumi_cli destroy" not in commands(all_jobs["reap"])
    trigger = all_jobs["reap_stacks"]["trigger"]
    assert trigger["include"] == [{"artifact": "reap-pipeline.yml", "job": "reap"}], trigger
    child = tmp_path / "reap-pipeline.yml"
    reap_pipeline.write(["test-feature-gone"], child, PIPELINE)
    result = check_pipeline_schema(require_tool("check-jsonschema"), child)
    assert result.returncode == 0, result.stdout + result.stderr
    job = yaml.safe_load(child.read_text())["reap test-feature-gone"]
    review_group = all_jobs["review"]["resource_group"]
    assert review_group == "review/$CI_COMMIT_REF_SLUG"
    assert job["resource_group"] == review_group.replace(
        "$CI_COMMIT_REF_SLUG", stack_name.ref_slug("feature/gone")
    )
