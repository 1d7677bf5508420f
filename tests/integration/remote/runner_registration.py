"""infra/remote/register_runner.sh run on a stand-in host with a sentinel token: shared by
the tests of runner registration and of the remote steps' deletes."""

import shlex

from infra.cloud_init import REGISTER_RUNNER_SCRIPT

TOKEN = "glrt-Runner-Token-Sentinel"


ARGS = "https://gitlab.example.com canny-prod docker debian:bookworm-slim"


def register(host, stdin: str | None, args: str = ARGS):
    config = host.app_dir / "config.toml"
    command = f"CANNY_RUNNER_CONFIG={config} bash {shlex.quote(str(REGISTER_RUNNER_SCRIPT))} {args}"
    return host.run(command, stdin=stdin)
