"""Stand-ins for `docker`, `docker-compose`, `cloud-init` and `gitlab-runner` on the test sshd's
PATH.

Installed by the `remote_host` fixture under each tool's name (behaviour picked by the name
it is called as). Every call is appended to $FAKE_STATE_DIR/calls.jsonl; files in
$FAKE_STATE_DIR steer the answers:
  fail            words; any call whose arguments contain one of them exits 1
  no_plugin       present: `docker compose` is missing (scripts must use docker-compose)
  services        the compose services (default: gateway backend-1 backend-2)
  unhealthy       services whose container reports "unhealthy"
  exited          services whose container has exited
  cloud_init      "<status> <exit code>" for `cloud-init status` (default: "done 0")
  cloud_init_wait seconds `cloud-init status --wait` takes before it answers (default 0)
gitlab-runner records the CI_SERVER_TOKEN it was given as "token_env" and `register` adds a
runner named --name to the --config file, as the real one does; `unregister` takes it out.
  up_fails_for    image tags whose `compose up` exits 1 (a release that never starts)
  unhealthy_for   image tags whose containers all report "unhealthy" once up
"""

import json
import os
import sys
import time
from pathlib import Path

STATE = Path(os.environ["FAKE_STATE_DIR"])


def control(name: str, default: str = "") -> str:
    path = STATE / name
    return path.read_text(encoding="utf-8").strip() if path.exists() else default


def env_image_tag() -> str | None:
    """IMAGE_TAG of the .env in the current folder (compose runs in the app folder)."""
    env_file = Path.cwd() / ".env"
    if not env_file.exists():
        return None
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    return values.get("IMAGE_TAG")


def record(tool: str, args: list[str]) -> None:
    entry: dict = {"tool": tool, "argv": args}
    if tool == "gitlab-runner":
        entry["token_env"] = os.environ.get("CI_SERVER_TOKEN")
    if "--password-stdin" in args:
        entry["stdin"] = sys.stdin.read()
    if (Path.cwd() / ".env").exists():
        entry["image_tag"] = env_image_tag()
    with (STATE / "calls.jsonl").open("a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")


def compose(args: list[str]) -> int:
    services = control("services", "gateway backend-1 backend-2").split()
    if args[:3] == ["ps", "-a", "-q"]:
        print("\n".join(f"id-{name}" for name in services))
    elif args[:1] == ["ps"]:
        print("NAME STATUS\n" + "\n".join(f"canny-{name}-1 fake" for name in services))
    elif args[:1] == ["logs"]:
        print("fake log line from every service")
    elif args[:1] == ["up"]:
        tag = env_image_tag() or ""
        (STATE / "running_tag").write_text(tag, encoding="utf-8")
        if tag in control("up_fails_for").split():
            print(f"fake compose: {tag} does not start", file=sys.stderr)
            return 1
    return 0


def docker(args: list[str]) -> int:
    if args[:2] == ["compose", "version"] and (STATE / "no_plugin").exists():
        print("docker: 'compose' is not a docker command.", file=sys.stderr)
        return 1
    if args[:1] == ["compose"]:
        return compose(args[1:])
    if args[:1] == ["inspect"]:
        unhealthy, exited = control("unhealthy").split(), control("exited").split()
        all_unhealthy = control("running_tag") in control("unhealthy_for").split()
        for service in (container.removeprefix("id-") for container in args[3:]):
            if all_unhealthy:
                unhealthy.append(service)
            state = "exited none" if service in exited else "running healthy"
            print(f"{service} {'running unhealthy' if service in unhealthy else state}")
    return 0


def cloud_init(args: list[str]) -> int:
    if "--wait" in args:
        time.sleep(float(control("cloud_init_wait", "0")))
    status, exit_code = control("cloud_init", "done 0").split()
    print(f"status: {status}")
    if "--long" in args:
        print("detail: fake cloud-init detail for the diagnostics")
    return int(exit_code)


def gitlab_runner(args: list[str]) -> int:
    if args[:1] not in (["register"], ["unregister"]):
        return 0
    config, name = Path(args[args.index("--config") + 1]), args[args.index("--name") + 1]
    block = f'[[runners]]\n  name = "{name}"\n  token = "glrt-fake"\n'
    if args[0] == "register":
        with config.open("a", encoding="utf-8") as handle:
            handle.write(block)
    else:
        config.write_text(config.read_text(encoding="utf-8").replace(block, ""), encoding="utf-8")
    return 0


def main() -> int:
    tool = Path(sys.argv[0]).name
    args = sys.argv[1:]
    record(tool, args)
    if any(word in args for word in control("fail").split()):
        print(f"fake {tool}: told to fail on {args}", file=sys.stderr)
        return 1
    if tool == "cloud-init":
        return cloud_init(args)
    if tool == "gitlab-runner":
        return gitlab_runner(args)
    if tool == "docker-compose":
        return compose(args)
    return docker(args)


if __name__ == "__main__":
    sys.exit(main())
