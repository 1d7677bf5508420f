"""Real processes: an orphan's CPU is counted to its end, and its zombie is reaped.

The bench's own process becomes a subreaper, so each check runs in a fresh interpreter:
a pytest process that adopted every orphan of the other tests would keep their zombies.
"""

import json
import subprocess
import sys

from localrun.nginx_config import REPO_ROOT

BURN_SECONDS = 0.3

# A server's group: the leader reaps its child at once, which leaves a grandchild
# burning CPU as an orphan (like a recycled worker's forkserver).
LEADER = f"""
import os, time
child = os.fork()
if child == 0:
    if os.fork() == 0:
        end = time.process_time() + {BURN_SECONDS}
        while time.process_time() < end:
            pass
        os._exit(0)
    os._exit(0)
os.waitpid(child, 0)
time.sleep(60)
"""

DRIVER = f"""
import json, os, subprocess, sys, time
from bench import proc_stats
from bench.orphans import adopt_orphans, reap_sampled_zombies
from bench.proc_stats import GroupCpu

adopt_orphans()
leader = subprocess.Popen([sys.executable, "-c", {LEADER!r}], start_new_session=True)
tracker = GroupCpu()
reaped = []
deadline = time.monotonic() + 30
try:
    while not reaped and time.monotonic() < deadline:
        time.sleep(0.1)
        tracker.seconds([leader.pid])
        reaped = reap_sampled_zombies(tracker.members)
    counted = tracker.seconds([leader.pid])
    plain = proc_stats.cpu_seconds(proc_stats.group_members([leader.pid]))
    print(json.dumps({{"reaped": reaped, "counted": counted, "plain": plain,
                      "exists": [os.path.exists(f"/proc/{{pid}}") for pid in reaped]}}))
finally:
    leader.kill()
    leader.wait()
"""


def test_an_adopted_orphan_is_counted_to_its_end_then_reaped() -> None:
    done = subprocess.run(
        [sys.executable, "-c", DRIVER],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(done.stdout)
    assert len(result["reaped"]) == 1, f"the orphan's zombie was not reaped: {result}"
    assert result["exists"] == [False], "a reaped zombie leaves /proc"
    assert result["counted"] >= BURN_SECONDS - 0.05, f"the orphan's CPU was lost: {result}"
    assert result["plain"] < BURN_SECONDS / 2, "the plain sum of live processes loses it"
