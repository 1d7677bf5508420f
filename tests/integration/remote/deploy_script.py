"""The deploy script run on a stand-in host over real SSH, and the .env it leaves: shared by
the remote-script tests."""

import shlex

IMAGE = "registry.example.com/group/canny"


def deploy(host, tag: str, stdin: str = "", env: str = "COMPOSE_PROFILES=monitoring"):
    script = shlex.quote(str(host.app_dir / "bin" / "deploy.sh"))
    return host.run(f"{env} bash {script} {IMAGE} {tag}", stdin=stdin)


def env_file(host) -> dict[str, str]:
    lines = (host.app_dir / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)
