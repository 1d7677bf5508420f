"""`nginx -t`/`-T` on localrun's rendering of the gateway template, without starting it:
the folders the config names are made first and the run's scratch folder removed after."""

from __future__ import annotations

import shutil
import subprocess

from localrun import LocalStack
from localrun.nginx_config import render_template_file


def check_local_rendering(
    nginx: str, stack: LocalStack, option: str
) -> subprocess.CompletedProcess:
    """Run `nginx <option>` (-t tests the config, -T prints it too) on the config the stack
    would start with; its run folder holds the config and the logs."""
    config = stack.run_dir / "nginx.conf"
    config.write_text(render_template_file(stack.gateway_values()))
    (stack.scratch_dir / "temp").mkdir(parents=True)
    stack.state_dir.mkdir()
    stack.logs_dir.mkdir()
    command = [nginx, option, "-p", str(stack.run_dir), "-c", str(config), "-e", "stderr"]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    finally:
        shutil.rmtree(stack.scratch_dir)
