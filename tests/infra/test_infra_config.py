"""infra/config.py: every setting checked before anything is built, all problems at once."""

import pytest

from infra.config import ConfigError, RegistryLogin, Secret
from tests.infra.stack_settings import VALID, settings_for


@pytest.mark.parametrize(
    ("stack", "changes", "message"),
    [
        ("test", {"region": "mars1"}, "canny:region: 'mars1' is not an accepted region"),
        ("test", {"region": "nyc2"}, "canny:region: 'nyc2' is not an accepted region"),
        ("test", {"size": "2GB"}, "canny:size: '2GB' is invalid"),
        ("test", {"adminCidrs": '["10.0.0.300/8"]'}, "'10.0.0.300/8' is not a CIDR"),
        ("test", {"adminCidrs": '["10.0.0.1/8"]'}, "'10.0.0.1/8' is not a CIDR"),
        ("test", {"adminCidrs": "192.0.2.0/24"}, "canny:adminCidrs: must be a list"),
        ("test", {"domain": "Example_com"}, "canny:domain: 'Example_com' is invalid"),
        ("test", {"domain": None}, "canny:domain: missing"),
        ("prod", {"ephemeral": "true"}, "prod can never be ephemeral"),
        ("prod", {"adminCidrs": '["0.0.0.0/0"]'}, "prod would accept SSH from the whole internet"),
        ("prod", {"adminCidrs": '["::/0"]'}, "prod would accept SSH from the whole internet"),
        ("test", {"imageTag": None}, "canny:imageTag: missing; CI sets the commit SHA"),
        ("test", {"imageTag": "latest"}, "`latest` is not a release"),
        ("test", {"image": "debian-x64"}, "canny:image: 'debian-x64' is not supported"),
        ("test", {"image": "ubuntu-24-04-x64"}, "written for debian-12-x64 (Debian 12)"),
        ("test", {"image": "debian-11-x64"}, "canny:image: 'debian-11-x64' is not supported"),
        ("test", {"cloudInitTimeout": "30"}, "canny:cloudInitTimeout: '30' is not a whole number"),
        (
            "test",
            {"sshKeyName": None, "sshPublicKey": "ssh-ed25519 AAAA k"},
            "canny:sshPublicKey: stacks no longer upload the deploy key",
        ),
        ("test", {"sshPrivateKey": None}, "canny:sshPrivateKey: missing secret"),
        ("test", {"sshPrivateKey": "changethis"}, "canny:sshPrivateKey: is a placeholder"),
        ("test", {"runnerToken": "GR1348941abc"}, "must be a runner authentication token"),
        ("test", {"registryUser": "bot"}, "set it together with canny:registryUser"),
        ("test", {"sshKeyName": None}, "canny:sshKeyName: missing; the name of the deploy key"),
        ("test", {"adminCidr": '["192.0.2.0/24"]'}, "canny:adminCidr: unknown setting"),
        ("test", {"ephemeral": "yes"}, "canny:ephemeral: 'yes' is not true or false"),
        ("test", {"volumeSizeGb": "0"}, "canny:volumeSizeGb: '0' is not a whole number"),
        ("test", {"runnerExecutor": "kubernetes"}, "canny:runnerExecutor: 'kubernetes'"),
        ("test", {"runnerExecutor": "shell"}, "canny:runnerExecutor: 'shell' is not one of"),
        ("staging", {}, "stack 'staging': use `prod`, `test` or `test-<slug>`"),
        ("test-Feature", {}, "stack 'test-Feature'"),
    ],
)
def test_invalid_config_fails_with_a_message_naming_the_problem(stack, changes, message):
    with pytest.raises(ConfigError) as raised:
        settings_for(stack, **changes)
    assert message in str(raised.value), f"expected {message!r} in:\n{raised.value}"


def test_the_region_error_names_every_accepted_region_and_no_closed_one():
    with pytest.raises(ConfigError) as raised:
        settings_for("test", region="sfo1")
    accepted = str(raised.value).split("accepted: ", 1)[1].split()
    regions = [region.rstrip(",") for region in accepted]
    assert {"fra1", "ams3", "nyc3", "sfo3", "sgp1", "tor1"} <= set(regions), regions
    assert not {"ams2", "nyc2", "sfo1"} & set(regions), "closed regions are not accepted"
    assert regions == sorted(regions)


@pytest.mark.parametrize(("value", "seconds"), [(None, 900), ("1800", 1800)])
def test_cloud_init_timeout_defaults_to_15_minutes(value, seconds):
    assert settings_for("test", cloudInitTimeout=value).deploy.cloud_init_timeout == seconds


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as raised:
        settings_for("test", region="mars1", size="big", imageTag=None)
    text = str(raised.value)
    for key in ("canny:region", "canny:size", "canny:imageTag"):
        assert key in text, f"{key} missing from the combined error:\n{text}"


def test_prod_may_open_ssh_only_with_the_explicit_override():
    settings = settings_for("prod", adminCidrs='["0.0.0.0/0"]', allowSshFromAnywhere="true")
    assert settings.firewall.admin_cidrs == ("0.0.0.0/0",)


@pytest.mark.parametrize(
    ("stack", "subdomain", "record", "hostname"),
    [
        ("prod", None, "@", "canny.example"),
        ("prod", "app", "app", "app.canny.example"),
        ("test", None, "test.test", "test.test.canny.example"),
        ("test-feature-x", None, "test-feature-x.test", "test-feature-x.test.canny.example"),
        ("test", "ignored", "test.test", "test.test.canny.example"),
    ],
)
def test_dns_names_follow_the_stack(stack, subdomain, record, hostname):
    settings = settings_for(stack, subdomain=subdomain)
    assert (settings.dns.record_name, settings.dns.hostname) == (record, hostname)


@pytest.mark.parametrize(
    ("stack", "ephemeral_tag"), [("prod", "persistent"), ("test-x", "ephemeral")]
)
def test_ephemeral_defaults_by_stack_and_shows_in_tags(stack, ephemeral_tag):
    settings = settings_for(stack)
    assert settings.tags == ("canny", f"canny-{stack}", ephemeral_tag)


def test_secrets_never_show_in_a_repr():
    settings = settings_for(
        "test", registryUser="bot-user", registryPassword="hunter2-pass", runnerToken="glrt-abc"
    )
    shown = repr(settings)
    for value in ("hunter2-pass", "bot-user", "glrt-abc", VALID["sshPrivateKey"]):
        assert value not in shown, f"secret {value!r} leaked into repr: {shown}"
    assert repr(Secret("x")) == "Secret('[secret]')"


def test_registry_login_is_optional_and_kept_as_secrets():
    settings = settings_for("test", registryUser="bot", registryPassword="pw")
    assert settings.deploy.registry_login == RegistryLogin(
        user=Secret("bot"), password=Secret("pw")
    )
    assert settings_for("test").deploy.registry_login is None, "a public registry needs no login"


@pytest.mark.parametrize(
    ("stack", "changes", "message"),
    [
        (
            "prod",
            {"dropletCount": "0"},
            "canny:dropletCount: '0' is not a whole number from 1 to 10",
        ),
        ("prod", {"dropletCount": "11"}, "'11' is not a whole number from 1 to 10"),
        (
            "prod",
            {"dropletCount": "2", "resultsStore": "volume"},
            "2 droplets need shared results storage: set canny:resultsStore spaces",
        ),
        (
            "test",
            {"dropletCount": "2", "resultsStore": "spaces"},
            "canny:dropletCount: 2 droplets need canny:loadBalancer true",
        ),
        (
            "prod",
            {"resultsStore": "nfs"},
            "canny:resultsStore: 'nfs' is not one of disk, volume, spaces",
        ),
        ("prod", {"dropletCount": "1", "resultsStore": "disk"}, "must outlive its droplet"),
        ("test", {"resultsStore": "volume"}, "test stacks get no Volume: `disk` keeps results"),
        (
            "test",
            {"dropletCount": "2", "loadBalancer": "true", "resultsStore": "disk"},
            "(with `disk` each droplet would list only its own uploads)",
        ),
        ("prod", {"loadBalancer": "maybe"}, "canny:loadBalancer: 'maybe' is not true or false"),
        ("prod", {"alertEmails": '["ops at example"]'}, "'ops at example' is not an email address"),
        ("prod", {"alertEmails": "ops@example.com"}, "canny:alertEmails: must be a list"),
        ("test", {"slackWebhookUrl": "http://hooks.example"}, "must be an https:// incoming"),
        (
            "prod",
            {"alertEmails": None, "slackWebhookUrl": None, "monitoring": "false"},
            "prod needs someone to tell when it breaks",
        ),
        (
            "test",
            {"slackWebhookUrl": None, "monitoring": "true"},
            "canny:monitoring: the fleet's Alertmanager would have no receiver",
        ),
    ],
)
def test_invalid_fleet_config_is_refused_with_the_reason(stack, changes, message):
    with pytest.raises(ConfigError) as raised:
        settings_for(stack, **changes)
    assert message in str(raised.value), f"expected {message!r} in:\n{raised.value}"


@pytest.mark.parametrize(
    ("stack", "count", "balancer", "store", "url"),
    [
        ("prod", 2, True, "spaces", "https://canny.example"),
        ("test", 1, False, "disk", "http://test.test.canny.example"),
    ],
)
def test_fleet_defaults_make_prod_a_fleet_and_keep_review_stacks_cheap(
    stack, count, balancer, store, url
):
    """Prod: two droplets behind the balancer sharing Spaces; test: one droplet, its disk."""
    settings = settings_for(stack)
    assert (
        settings.host.droplet_count,
        settings.load_balancer.enabled,
        settings.results.results_store,
    ) == (count, balancer, store)
    assert settings.url == url


def test_a_fleet_with_results_in_spaces_is_accepted():
    settings = settings_for("prod", dropletCount="4", resultsStore="spaces")
    assert (settings.host.droplet_count, settings.results.on_volume) == (4, False)


def test_prod_alerts_may_go_to_slack_alone_kept_secret():
    url = "https://hooks.slack.com/services/T0/B0/Config-Sentinel"
    settings = settings_for("prod", alertEmails=None, slackWebhookUrl=url)
    assert settings.alerts.slack_webhook_url == Secret(url)
    assert "Config-Sentinel" not in repr(settings)


@pytest.mark.parametrize(
    ("stack", "decisions"),
    [
        (
            "prod",
            {
                "environment": "Production",
                "ttl": 3600,
                "dns_protect": True,
                "balancer_protect": True,
                "publishes_aaaa": False,
                "reserved_ip": False,
                "follows_user_data": False,
                "bucket_versioned": True,
                "droplet_protect": True,
                "backups": True,
                "delete_first": True,
            },
        ),
        (
            "test-feature-x",
            {
                "environment": "Staging",
                "ttl": 300,
                "dns_protect": False,
                "balancer_protect": False,
                "publishes_aaaa": True,
                "reserved_ip": False,
                "follows_user_data": True,
                "bucket_versioned": False,
                "droplet_protect": False,
                "backups": False,
                "delete_first": False,
            },
        ),
    ],
)
def test_every_prod_versus_test_decision_is_a_setting(stack, decisions):
    settings = settings_for(stack)
    assert {
        "environment": settings.network.environment,
        "ttl": settings.dns.ttl,
        "dns_protect": settings.dns.protect,
        "balancer_protect": settings.load_balancer.protect,
        "publishes_aaaa": settings.publishes_aaaa,
        "reserved_ip": settings.reserved_ip,
        "follows_user_data": settings.host.follows_user_data,
        "bucket_versioned": settings.results.outlives_stack,
        "droplet_protect": settings.host.protect,
        "backups": settings.host.backups,
        "delete_first": settings.host.delete_before_replace,
    } == decisions


@pytest.mark.parametrize(
    ("changes", "reserved_ip", "aaaa", "volume_on_first", "follows"),
    [
        ({"loadBalancer": "false", "dropletCount": "1"}, True, False, False, False),
        ({"dropletCount": "1", "resultsStore": "volume"}, False, False, True, False),
        ({"prodFollowsUserData": "true"}, False, False, False, True),
    ],
    ids=["prod-without-balancer", "prod-on-a-volume", "prod-deliberate-replacement"],
)
def test_prods_choices_change_the_derived_decisions(
    changes, reserved_ip, aaaa, volume_on_first, follows
):
    settings = settings_for("prod", **changes)
    assert settings.reserved_ip is reserved_ip, "a Reserved IP only without a balancer"
    assert settings.publishes_aaaa is aaaa, "prod never publishes a droplet's own IPv6"
    assert settings.results_volume(0) is volume_on_first and not settings.results_volume(1)
    assert settings.host.follows_user_data is follows


def test_secrets_stay_hidden_in_every_dump_of_the_settings():
    settings = settings_for(
        "test", registryUser="bot-user", registryPassword="hunter2-pass", runnerToken="glrt-abc"
    )
    dumps = settings.model_dump_json() + str(settings.model_dump()) + str(settings)
    for value in ("hunter2-pass", "bot-user", "glrt-abc", VALID["sshPrivateKey"]):
        assert value not in dumps, f"secret {value!r} leaked into a dump"
    assert settings.deploy.ssh_private_key.get_secret_value() == VALID["sshPrivateKey"]


def test_prod_defaults_can_be_overridden_by_the_stack_file():
    settings = settings_for("prod", dropletCount="3", loadBalancer="true")
    assert settings.host.droplet_count == 3 and settings.results.spaces
