"""infra/remote/*.sh run over real SSH against stand-in docker and cloud-init tools."""

import json
import shlex
import time

import pytest

from infra.bundle import WAIT_SCRIPT
from tests.integration.remote.deploy_script import IMAGE, deploy, env_file

LOGIN = "deploy-bot\nS3cret-Registry-Pass\n"


def gate(host, url: str, rejoin: str | None = None):
    script = shlex.quote(str(host.app_dir / "bin" / "gate.sh"))
    settings = f"CANNY_GATE_URL={shlex.quote(url)} CANNY_GATE_TIMEOUT=2 CANNY_GATE_INTERVAL=0.5"
    if rejoin is not None:
        settings += f" CANNY_GATE_REJOIN_SECONDS={shlex.quote(rejoin)}"
    return host.run(f"{settings} bash {script}")


def rollback(host, url: str):
    script = shlex.quote(str(host.app_dir / "bin" / "rollback.sh"))
    settings = f"CANNY_GATE_URL={shlex.quote(url)} CANNY_GATE_TIMEOUT=2 CANNY_GATE_INTERVAL=0.5"
    return host.run(f"{settings} bash {script}")


def test_deploy_logs_in_with_password_on_stdin_then_pulls_and_waits(remote_host):
    result = deploy(remote_host, "tag-1", stdin=LOGIN)
    assert result.ok, result.stderr
    (login,) = remote_host.calls("docker")[1:2]
    assert login["argv"] == [
        "login",
        "--username",
        "deploy-bot",
        "--password-stdin",
        "registry.example.com",
    ]
    assert login["stdin"] == "S3cret-Registry-Pass", "the password must arrive on stdin"
    everything = (
        json.dumps([call["argv"] for call in remote_host.calls()]) + result.stdout + result.stderr
    )
    assert "S3cret-Registry-Pass" not in everything, "the password leaked into argv or logs"
    assert remote_host.compose_calls()[-2:] == [
        ["pull"],
        ["up", "-d", "--wait", "--remove-orphans"],
    ]
    assert env_file(remote_host) == {
        "REGISTRY_IMAGE": IMAGE,
        "IMAGE_TAG": "tag-1",
        "COMPOSE_PROFILES": "monitoring",
        "CANNY_TRUSTED_PROXIES": "",
        "METRICS_BIND": "",
        "COMPOSE_FILE": "compose.yaml",
    }
    assert (remote_host.app_dir / "image_tag").read_text() == "tag-1\n"
    assert not (remote_host.app_dir / "image_tag.previous").exists()


def test_deploy_without_stdin_skips_the_login(remote_host):
    assert deploy(remote_host, "tag-1").ok
    assert not [call for call in remote_host.calls("docker") if call["argv"][:1] == ["login"]]


def test_deploy_keeps_the_previous_tag_for_rollback(remote_host):
    assert deploy(remote_host, "tag-1").ok
    assert deploy(remote_host, "tag-2").ok
    assert deploy(remote_host, "tag-2").ok, "redeploying the same tag must keep the older one"
    assert (remote_host.app_dir / "image_tag").read_text() == "tag-2\n"
    assert (remote_host.app_dir / "image_tag.previous").read_text() == "tag-1\n"


def test_deploy_falls_back_to_docker_compose_without_up_wait(remote_host):
    remote_host.control("no_plugin", "1")
    assert deploy(remote_host, "tag-1").ok
    (up,) = [call for call in remote_host.calls("docker-compose") if call["argv"][:1] == ["up"]]
    assert up["argv"] == ["up", "-d", "--remove-orphans"], "docker-compose 1.x has no --wait"
    assert up["image_tag"] == "tag-1"


@pytest.mark.parametrize("failing", ["pull", "up"])
def test_a_failing_compose_step_fails_the_deploy(remote_host, failing):
    remote_host.control("fail", failing)
    result = deploy(remote_host, "tag-1")
    assert result.exit_status == 1, f"deploy should fail when compose {failing} fails"
    if failing == "pull":
        assert ["up", "-d", "--wait", "--remove-orphans"] not in remote_host.compose_calls()


def test_deploy_keeps_the_load_balancers_range_for_the_gateway(remote_host):
    """compose reads CANNY_TRUSTED_PROXIES from .env, so a later `compose up` (rollback.sh,
    a reboot's restart) keeps trusting the balancer's range, and a deploy without one
    trusts nobody again."""
    assert deploy(remote_host, "tag-1", env="CANNY_TRUSTED_PROXIES=10.110.0.0/20").ok
    assert env_file(remote_host)["CANNY_TRUSTED_PROXIES"] == "10.110.0.0/20"
    assert deploy(remote_host, "tag-2", env="CANNY_TRUSTED_PROXIES=").ok
    assert env_file(remote_host)["CANNY_TRUSTED_PROXIES"] == ""


def test_deploy_keeps_the_private_address_the_droplet_prometheus_is_published_on(remote_host):
    """compose reads METRICS_BIND from .env (`${METRICS_BIND:-127.0.0.1}:9090:9090`), so a
    rollback or a reboot's restart keeps the port on the private address, and a deploy
    without one returns it to loopback."""
    assert deploy(remote_host, "tag-1", env="METRICS_BIND=10.110.0.11").ok
    assert env_file(remote_host)["METRICS_BIND"] == "10.110.0.11"
    assert deploy(remote_host, "tag-2", env="METRICS_BIND=").ok
    assert env_file(remote_host)["METRICS_BIND"] == ""


def write_fleet_targets(host, stdin: str):
    script = shlex.quote(str(host.app_dir / "bin" / "write_fleet_targets.sh"))
    return host.run(f"bash {script}", stdin=stdin)


def test_the_fleet_targets_land_where_compose_mounts_them_for_prometheus(remote_host):
    targets = [
        {"targets": ["10.110.0.11:9090"], "labels": {"droplet": "canny-prod"}},
        {"targets": ["10.110.0.12:9090"], "labels": {"droplet": "canny-prod-2"}},
    ]
    result = write_fleet_targets(remote_host, json.dumps(targets))
    assert result.ok, result.stderr
    folder = remote_host.app_dir / "fleet-targets"
    assert json.loads((folder / "droplets.json").read_text()) == targets
    assert env_file(remote_host)["FLEET_TARGETS_DIR"] == str(folder)
    # Prometheus runs as `nobody` in its container: it must read the file.
    assert (folder.stat().st_mode & 0o777, (folder / "droplets.json").stat().st_mode & 0o777) == (
        0o755,
        0o644,
    )
    assert "2 droplet(s)" in result.stdout
    assert write_fleet_targets(remote_host, json.dumps(targets[:1])).ok
    assert json.loads((folder / "droplets.json").read_text()) == targets[:1]


@pytest.mark.parametrize("stdin", ["", "not json", "[]", '[{"labels": {}}]'])
def test_bad_fleet_targets_leave_the_old_file(remote_host, stdin):
    good = [{"targets": ["10.110.0.11:9090"], "labels": {"droplet": "canny-prod"}}]
    assert write_fleet_targets(remote_host, json.dumps(good)).ok
    result = write_fleet_targets(remote_host, stdin)
    assert result.exit_status == 65 and "file_sd JSON list" in result.stderr
    folder = remote_host.app_dir / "fleet-targets"
    assert json.loads((folder / "droplets.json").read_text()) == good
    assert sorted(path.name for path in folder.iterdir()) == ["droplets.json"]


def write_alertmanager_secret(host, stdin: str):
    script = shlex.quote(str(host.app_dir / "bin" / "write_alertmanager_secret.sh"))
    return host.run(f"bash {script}", stdin=stdin)


def test_the_slack_webhook_arrives_on_stdin_and_lands_where_compose_mounts_it(remote_host):
    url = "https://hooks.slack.com/services/T0/B0/Remote-Sentinel"
    result = write_alertmanager_secret(remote_host, f"{url}\n")
    assert result.ok, result.stderr
    secrets = remote_host.app_dir / "alertmanager-secrets"
    assert (secrets / "slack-webhook-url").read_text() == f"{url}\n"
    assert env_file(remote_host)["ALERTMANAGER_SECRETS_DIR"] == str(secrets)
    # Alertmanager runs as `nobody` in its container: it can read the file, nobody can list.
    assert (
        secrets.stat().st_mode & 0o777,
        (secrets / "slack-webhook-url").stat().st_mode & 0o777,
    ) == (
        0o711,
        0o644,
    )
    assert "Remote-Sentinel" not in result.stdout + result.stderr
    assert write_alertmanager_secret(remote_host, "https://hooks.example/new\n").ok
    assert (secrets / "slack-webhook-url").read_text() == "https://hooks.example/new\n"


@pytest.mark.parametrize("stdin", ["", "http://hooks.example/plain\n"])
def test_the_alertmanager_secret_must_be_an_https_url(remote_host, stdin):
    result = write_alertmanager_secret(remote_host, stdin)
    assert result.exit_status == 64 and "https:// webhook URL" in result.stderr
    assert not (remote_host.app_dir / "alertmanager-secrets").exists()


def test_deploy_refuses_bad_arguments(remote_host):
    result = remote_host.run(f"bash {remote_host.app_dir / 'bin' / 'deploy.sh'} {IMAGE}")
    assert result.exit_status == 64 and "usage: deploy.sh" in result.stderr


@pytest.mark.parametrize(("mount", "ok"), [("/proc", True), ("{app}/not-mounted", False)])
def test_results_mount_must_be_a_mount_point(remote_host, mount, ok):
    mount = mount.format(app=remote_host.app_dir)
    result = deploy(remote_host, "tag-1", env=f"CANNY_RESULTS_MOUNT={mount}")
    assert result.ok == ok, result.stderr
    if ok:
        assert env_file(remote_host)["COMPOSE_FILE"] == "compose.yaml:compose.results-volume.yaml"
    else:
        assert "is not mounted" in result.stderr
        assert not remote_host.compose_calls()[1:], "nothing may start without the volume"


def test_gate_passes_when_all_healthy_and_the_gateway_answers(remote_host, gateway_url):
    result = gate(remote_host, gateway_url)
    assert result.ok, result.stderr
    assert "every service healthy" in result.stdout


def test_gate_waits_for_the_load_balancer_after_passing(remote_host, gateway_url):
    """Behind a balancer the gate passes only once the balancer can have counted the droplet
    healthy again, so the next droplet of the roll restarts only after that."""
    started = time.monotonic()
    result = gate(remote_host, gateway_url, rejoin="2")
    waited = time.monotonic() - started
    assert result.ok, result.stderr
    assert "waiting 2s for the load balancer" in result.stdout, result.stdout
    assert waited >= 2, f"the gate returned after {waited:.1f}s"


def test_gate_refuses_a_wait_that_is_not_whole_seconds(remote_host, gateway_url):
    result = gate(remote_host, gateway_url, rejoin="1m")
    assert result.exit_status == 64, result
    assert "CANNY_GATE_REJOIN_SECONDS must be a whole number" in result.stderr


@pytest.mark.parametrize(
    ("control", "report"),
    [
        ("unhealthy", "service backend-2: running unhealthy"),
        ("exited", "service backend-2: exited none"),
        ("services", "no containers: compose has not brought the app up"),
    ],
)
def test_gate_fails_on_a_container_not_ready_with_ps_and_logs(
    remote_host, gateway_url, control, report
):
    remote_host.control(control, "" if control == "services" else "backend-2")
    result = gate(remote_host, gateway_url)
    assert result.exit_status == 1
    assert report in result.stderr, result.stderr
    assert "--- compose ps" in result.stderr and "fake log line" in result.stderr
    assert ["logs", "--no-color", "--tail", "50"] in remote_host.compose_calls()


def test_gate_fails_when_the_gateway_does_not_answer(remote_host, free_port):
    result = gate(remote_host, f"http://127.0.0.1:{free_port}/api/images?limit=1")
    assert result.exit_status == 1
    assert "did not answer with success" in result.stderr


def test_rollback_returns_to_the_previous_tag_and_swaps(remote_host, gateway_url):
    assert deploy(remote_host, "good-1").ok
    assert deploy(remote_host, "bad-2").ok
    result = rollback(remote_host, gateway_url)
    assert result.ok, result.stderr
    assert env_file(remote_host)["IMAGE_TAG"] == "good-1"
    ups = [call for call in remote_host.calls("docker") if call["argv"][1:2] == ["up"]]
    assert ups[-1]["image_tag"] == "good-1", "compose must come up again with the previous tag"
    assert (remote_host.app_dir / "image_tag").read_text() == "good-1\n"
    assert (remote_host.app_dir / "image_tag.previous").read_text() == "bad-2\n"


def test_rollback_uses_local_images_when_the_registry_is_down(remote_host, gateway_url):
    assert deploy(remote_host, "good-1").ok
    assert deploy(remote_host, "bad-2").ok
    remote_host.control("fail", "pull")
    result = rollback(remote_host, gateway_url)
    assert result.ok, result.stderr
    assert "rolling back with the images already on this host" in result.stderr
    ups = [call for call in remote_host.calls("docker") if call["argv"][1:2] == ["up"]]
    assert ups[-1]["image_tag"] == "good-1", "compose must come up with the previous tag"


def test_rollback_fails_when_the_previous_tag_is_not_ready(remote_host, gateway_url):
    assert deploy(remote_host, "good-1").ok
    assert deploy(remote_host, "bad-2").ok
    remote_host.control("unhealthy", "gateway")
    assert rollback(remote_host, gateway_url).exit_status == 1


def test_rollback_without_a_previous_tag_says_so(remote_host, gateway_url):
    assert deploy(remote_host, "only-1").ok
    result = rollback(remote_host, gateway_url)
    assert result.exit_status == 3 and "nothing to roll back to" in result.stderr


def wait_for_cloud_init(host, marker: bool, failure: str | None = None, limit: int = 60):
    marker_path = host.app_dir / "cloud-init.done"
    failure_path = host.app_dir / "cloud-init.failed"
    if marker:
        marker_path.touch()
    if failure:
        failure_path.write_text(failure)
    log = host.app_dir / "cloud-init-output.log"
    log.write_text("line 1\nfake failure details\n")
    env = (
        f"CANNY_READY_MARKER={marker_path} CANNY_FAILURE_MARKER={failure_path} "
        f"CANNY_CLOUD_INIT_LOG={log} CANNY_CLOUD_INIT_TIMEOUT={limit}"
    )
    return host.run(f"{env} bash -s", stdin=WAIT_SCRIPT.read_text())


@pytest.mark.parametrize(
    ("cloud_init", "marker", "exit_status", "message"),
    [
        ("done 0", True, 0, "canny: cloud-init done"),
        ("done 2", True, 0, "recoverable errors (continuing)"),
        ("error 1", True, 1, "fake failure details"),
        ("done 0", False, 1, "the boot script did not complete"),
    ],
)
def test_wait_for_cloud_init(remote_host, cloud_init, marker, exit_status, message):
    remote_host.control("cloud_init", cloud_init)
    result = wait_for_cloud_init(remote_host, marker)
    assert result.exit_status == exit_status, result.stdout + result.stderr
    assert message in result.stdout + result.stderr
    assert ["status", "--wait"] in [call["argv"] for call in remote_host.calls("cloud-init")]


def test_a_failed_boot_step_is_named_with_status_and_log(remote_host):
    remote_host.control("cloud_init", "error 1")
    step = "canny first boot: step packages failed (exit 100)\n"
    result = wait_for_cloud_init(remote_host, marker=False, failure=step)
    assert result.exit_status == 1
    assert step in result.stderr, "the failure marker names the step"
    assert "detail: fake cloud-init detail" in result.stderr, "cloud-init status --long"
    assert "fake failure details" in result.stderr, "the tail of cloud-init's output log"


def test_a_boot_that_never_finishes_fails_at_the_time_limit(remote_host):
    remote_host.control("cloud_init", "running 0")
    remote_host.control("cloud_init_wait", "30")
    started = time.monotonic()
    result = wait_for_cloud_init(remote_host, marker=False, limit=1)
    elapsed = time.monotonic() - started
    assert result.exit_status == 1
    assert "cloud-init did not finish within 1s" in result.stderr
    assert (
        "detail: fake cloud-init detail" in result.stderr
        and "fake failure details" in result.stderr
    )
    assert elapsed < 20, f"the wait must stop at its limit, took {elapsed:.1f}s"


BACKEND = "sha256:" + "a" * 64
GATEWAY = "sha256:" + "b" * 64


def test_a_pinned_release_is_kept_pulled_and_rolled_back_by_digest(remote_host, gateway_url):
    pinned = f"COMPOSE_PROFILES= BACKEND_DIGEST={BACKEND} GATEWAY_DIGEST={GATEWAY}"
    assert deploy(remote_host, "tag-1", env=pinned).ok
    values = env_file(remote_host)
    assert (values["BACKEND_PIN"], values["GATEWAY_PIN"]) == (f"@{BACKEND}", f"@{GATEWAY}")
    assert (remote_host.app_dir / "image_tag").read_text() == f"tag-1 {BACKEND} {GATEWAY}\n"
    assert deploy(remote_host, "tag-2", env="COMPOSE_PROFILES=").ok
    assert "BACKEND_PIN" not in env_file(remote_host), "a release by tag keeps no old pin"
    result = rollback(remote_host, gateway_url)
    assert result.ok, result.stderr
    values = env_file(remote_host)
    assert values["IMAGE_TAG"] == "tag-1"
    assert (values["BACKEND_PIN"], values["GATEWAY_PIN"]) == (f"@{BACKEND}", f"@{GATEWAY}")


def test_half_a_digest_pair_is_refused(remote_host):
    result = deploy(remote_host, "tag-1", env=f"BACKEND_DIGEST={BACKEND}")
    assert result.exit_status == 64 and "must both be sha256" in result.stderr
