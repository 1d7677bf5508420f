"""infra/results_bucket.py and its wiring: the Spaces bucket, its scoped key, and the key's way
to the droplet (stdin only), on the real program under mocks and in the policy pack."""

import copy
import dataclasses
import json

import pytest

from infra.bundle import REMOTE_APP_DIR
from infra.config import ConfigError, parse_settings, results_store_problem
from infra.offline import MOCK_SPACES_ACCESS_KEY, MOCK_SPACES_SECRET_KEY, REDACTED, run_program
from infra.plan import main
from infra.policy.rules import prod_bucket_protected_and_versioned, spaces_keys_grant_own_buckets
from infra.results_bucket import (
    NONCURRENT_VERSION_DAYS,
    ResultsBucketArgs,
    results_bucket_name,
)
from tests.infra.policy_checks import stack_violations, violations
from tests.infra.resource_types import COMMAND
from tests.infra.resource_types import SPACES_BUCKET as BUCKET
from tests.infra.resource_types import SPACES_KEY as KEY
from tests.infra.stack_settings import stack_config


def _rules_by_id(bucket) -> dict:
    return {rule["id"]: rule for rule in bucket.inputs.get("lifecycleRules") or []}


# Prod keeps results on its Volume until the Spaces backend is chosen: these tests ask for it.
SPACES = {"resultsStore": "spaces"}


def _command(run, suffix: str):
    return next(item for item in run.by_type(COMMAND) if item.name.endswith(suffix))


def test_prod_bucket_is_private_versioned_protected_kept_and_expires_results(run_stack):
    run = run_stack("prod", **SPACES)
    bucket = run.one(BUCKET)
    assert bucket.inputs["region"] == "fra1", "the bucket lives in the stack's region"
    assert bucket.inputs["acl"] == "private"
    assert bucket.inputs["versioning"] == {"enabled": True}
    assert bucket.protect and bucket.retain_on_delete, f"{bucket.urn} must survive a destroy"
    assert bucket.inputs["forceDestroy"] is False
    rules = _rules_by_id(bucket)
    assert rules["expire-results"]["expiration"] == {"days": 30}
    assert rules["expire-results"]["enabled"] is True
    old = rules["expire-old-versions"]["noncurrentVersionExpiration"]
    assert old == {"days": NONCURRENT_VERSION_DAYS}


def test_a_test_stack_asking_for_spaces_gets_a_bucket_destroy_empties(run_stack):
    run = run_stack("test-feature-x", resultsStore="spaces", region="ams3")
    bucket = run.one(BUCKET)
    assert bucket.inputs["region"] == "ams3"
    assert bucket.inputs["forceDestroy"] is True, "destroy must empty and delete test buckets"
    assert not bucket.protect and not bucket.retain_on_delete
    assert bucket.inputs["versioning"] == {"enabled": False}
    assert bucket.inputs["name"] == "canny-test-feature-x-results-example-com"
    assert set(_rules_by_id(bucket)) == {"expire-results"}


def test_test_stacks_keep_results_on_the_droplet_by_default(run_stack):
    run = run_stack("test")
    assert not run.by_type(BUCKET) and not run.by_type(KEY)
    assert not [item for item in run.by_type(COMMAND) if "storage-credentials" in item.name]
    assert "CANNY_STORAGE=file" in _command(run, "compose-up").inputs["create"]


@pytest.mark.parametrize(("days", "expected"), [("0", None), ("7", {"days": 7})])
def test_retention_days_set_the_expiration_rule(run_stack, days, expected):
    bucket = run_stack("prod", resultsRetentionDays=days, **SPACES).one(BUCKET)
    rule = _rules_by_id(bucket).get("expire-results")
    assert (rule and rule["expiration"]) == expected
    up = _command(run_stack("prod", resultsRetentionDays=days, **SPACES), "compose-up")
    assert f"CANNY_RETENTION_DAYS={days}" in up.inputs["create"]


def test_the_key_grants_readwrite_on_its_bucket_only(run_stack):
    run = run_stack("prod", **SPACES)
    key, bucket = run.one(KEY), run.one(BUCKET)
    assert key.inputs["grants"] == [{"bucket": bucket.inputs["name"], "permission": "readwrite"}]
    assert bucket.urn in key.property_dependencies["grants"]


def test_no_bucket_policy_or_public_object_beside_the_limited_key(run_stack):
    """A bucket policy and a limited key exclude each other on Spaces, and results are read
    through presigned URLs the key signs: nothing in the program may make objects public."""
    run = run_stack("prod", **SPACES)
    types = {resource.type for resource in run.resources}
    assert "digitalocean:index/spacesBucketPolicy:SpacesBucketPolicy" not in types
    assert "digitalocean:index/spacesBucketObject:SpacesBucketObject" not in types
    assert run.one(BUCKET).inputs["acl"] == "private"


def test_the_backends_and_gateway_get_the_bucket_settings_in_the_deploy_command(run_stack):
    create = _command(run_stack("prod", **SPACES), "compose-up").inputs["create"]
    for assignment in (
        "CANNY_STORAGE=s3",
        "CANNY_S3_BUCKET=canny-prod-results-canny-example",
        "CANNY_S3_ENDPOINT_URL=https://fra1.digitaloceanspaces.com",
        "CANNY_S3_REGION=fra1",
        # the gateway's /results/ proxies the images from the bucket (path-style URL)
        "CANNY_RESULTS_BUCKET_URL=https://fra1.digitaloceanspaces.com/canny-prod-results-canny-example",
    ):
        assert assignment in create, create


def test_the_key_reaches_the_droplet_on_stdin_only(run_stack):
    """On every droplet of prod's fleet."""
    run = run_stack("prod", **SPACES)
    by_name = {item.name: item for item in run.resources}
    for name in ("canny-prod", "canny-prod-2"):
        step = by_name[f"{name}-storage-credentials"]
        revealed = run.provider_inputs[step.name]
        assert revealed["stdin"] == f"{MOCK_SPACES_ACCESS_KEY}\n{MOCK_SPACES_SECRET_KEY}\n"
        assert revealed["create"] == f"bash {REMOTE_APP_DIR}/bin/storage_credentials.sh"
        assert step.inputs["stdin"] == REDACTED, "the plan and state must hold it as a secret"
        up = by_name[f"{name}-compose-up"]
        assert step.urn in up.depends_on, "compose must start after the key is in place"
        droplet = by_name[f"{name}-droplet"]
        assert droplet.urn in step.property_dependencies["triggers"], "a new droplet gets the key"


@pytest.mark.parametrize("sentinel", [MOCK_SPACES_SECRET_KEY, MOCK_SPACES_ACCESS_KEY])
def test_the_key_is_in_no_user_data_command_plan_or_plain_output(run_stack, capsys, sentinel):
    run = run_stack("prod", **SPACES)
    for name, inputs in run.provider_inputs.items():
        for field in ("userData", "create", "update", "delete"):
            assert sentinel not in json.dumps(inputs.get(field, "")), (name, field)
    assert sentinel not in json.dumps([item.inputs for item in run.resources])
    plain = {name: value for name, value in run.outputs.items() if name not in run.secret_outputs}
    assert sentinel not in json.dumps(plain, default=str)
    assert main(["--stack", "prod"]) == 0
    assert main(["--stack", "prod", "--json"]) == 0
    printed = capsys.readouterr()
    assert sentinel not in printed.out + printed.err
    assert "digitalocean:SpacesBucket" in printed.out and "digitalocean:SpacesKey" in printed.out


def test_resources_are_named_after_the_component():
    run = run_program("prod", stack_config("prod", **SPACES))
    component = run.one("canny:infra:ResultsBucket")
    for item in run.resources:
        if item.parent == component.urn:
            assert item.name.startswith(f"{component.name}-"), item.urn


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bucket_name": "Not_Valid"}, "not a valid Spaces name"),
        ({"region": "nyc1"}, "has no Spaces"),
        ({"retention_days": -1}, "retention_days"),
    ],
)
def test_component_args_refuse_what_spaces_cannot_take(changes, message):
    good = {"bucket_name": "canny-test-results-x", "region": "fra1", "retention_days": 1}
    with pytest.raises(ValueError, match=message):
        ResultsBucketArgs(**(good | changes), outlives_stack=False)


def test_bucket_names_stay_valid_for_long_domains():
    name = results_bucket_name("canny-test-" + "a" * 40, "sub." + "b" * 50 + ".example.com")
    assert len(name) <= 63 and not name.endswith("-")
    ResultsBucketArgs(name, "fra1", 0, outlives_stack=False)


def _raw(stack: str, **overrides: str) -> dict[str, str]:
    config = stack_config(stack, **overrides)
    return {
        key.split(":", 1)[1]: value for key, value in config.items() if key.startswith("canny:")
    }


def test_config_defaults_spaces_on_prod_disk_on_test_retention_30():
    prod, test = parse_settings("prod", _raw("prod")), parse_settings("test", _raw("test"))
    assert (prod.results.results_store, test.results.results_store) == ("spaces", "disk")
    assert prod.results.results_retention_days == test.results.results_retention_days == 30


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"resultsStore": "s3"}, "canny:resultsStore: 's3' is not one of disk, volume, spaces"),
        ({"region": "nyc1", **SPACES}, "canny:resultsStore: region 'nyc1' has no Spaces"),
        ({"resultsRetentionDays": "-1"}, "canny:resultsRetentionDays"),
        ({"resultsRetentionDays": "thirty"}, "canny:resultsRetentionDays"),
    ],
)
def test_config_errors_name_the_setting(overrides, message):
    with pytest.raises(ConfigError, match=message):
        parse_settings("prod", _raw("prod", **overrides))


def test_spaces_needs_a_region_that_has_it():
    """More than one droplet without a bucket is refused by the fleet settings
    (tests/infra/test_infra_config.py::test_invalid_fleet_config_is_refused_with_the_reason)."""
    assert "has no Spaces" in results_store_problem("spaces", "nyc1", production=True)
    assert results_store_problem("spaces", "fra1", production=True) is None
    assert results_store_problem("volume", "nyc1", production=True) is None
    assert results_store_problem("disk", "nyc1", production=False) is None


def test_policy_prod_bucket_must_be_protected_and_versioned(run_stack):
    bucket = run_stack("prod", **SPACES).one(BUCKET)
    assert not violations(prod_bucket_protected_and_versioned, bucket)
    unprotected = dataclasses.replace(bucket, protect=False)
    assert violations(prod_bucket_protected_and_versioned, unprotected) == [
        f"{bucket.name}: prod's Spaces bucket must have protect=True"
    ]
    unversioned = copy.deepcopy(bucket.inputs) | {"versioning": {"enabled": False}}
    assert violations(prod_bucket_protected_and_versioned, bucket, unversioned) == [
        f"{bucket.name}: prod's Spaces bucket must have versioning enabled"
    ]
    test_bucket = run_stack("test-feature-x", resultsStore="spaces").one(BUCKET)
    assert not violations(prod_bucket_protected_and_versioned, test_bucket), "prod only"


@pytest.mark.parametrize(
    "grants",
    [
        [{"bucket": "", "permission": "fullaccess"}],
        [{"bucket": "someone-elses-bucket", "permission": "readwrite"}],
        [{"bucket": "canny-prod-results-canny-example", "permission": "fullaccess"}],
        [],
    ],
    ids=["account-wide", "other-bucket", "fullaccess", "no-grant"],
)
def test_policy_spaces_key_grants_only_its_own_bucket(run_stack, grants):
    run = run_stack("prod", **SPACES)
    assert not stack_violations(spaces_keys_grant_own_buckets, run)
    key = run.one(KEY)
    widened = dataclasses.replace(key, inputs=key.inputs | {"grants": grants})
    changed = dataclasses.replace(
        run, resources=[widened if item is key else item for item in run.resources]
    )
    assert stack_violations(spaces_keys_grant_own_buckets, changed)


def test_the_plan_table_shows_the_bucket_and_what_the_key_may_reach(capsys):
    """Prod keeps results in Spaces by default: its own stack file plans the bucket."""
    assert main(["--stack", "prod"]) == 0
    rows = capsys.readouterr().out.splitlines()
    key = next(row for row in rows if row.startswith("digitalocean:SpacesKey"))
    assert "grants=canny-prod-results-canny-example:readwrite" in key, key
    bucket = next(row for row in rows if row.startswith("digitalocean:SpacesBucket"))
    assert bucket.split()[1:4] == ["canny-prod-results-bucket", "canny-prod", "yes"], bucket
