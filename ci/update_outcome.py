"""Did a failed `pulumi up` change anything? Read from Pulumi's own engine events.

A failed prod update is one of two very different things:

- it never started changing prod: the stack was locked, a policy was violated, the
  config or the program was wrong. Prod still runs the previous release, untouched, and
  a rollback would only fail again the same way (the lock is still there) or change what
  is known to be good;
- it changed prod (a droplet, the firewall, compose up on the host) and then failed:
  only a rollback brings the previous release back.

`pulumi up --event-log FILE` writes every engine event as one JSON object per line.
A `resourcePreEvent` "is emitted before a resource is modified"; its `planning` is true in
the preview pass and false when the step really runs, and `metadata.op` names the step
(pulumi/pulumi sdk/go/common/apitype/events.go, ResourcePreEvent and StepEventMetadata;
the step names are sdk/go/common/apitype's OpType values). So the update changed prod
exactly when some executed step is one that changes a cloud resource. A lock or a config
error stops Pulumi before the engine writes any event; a mandatory policy violation fails
the preview pass, before any step runs.

The flag is hidden unless PULUMI_DEBUG_COMMANDS is true (pulumi/pulumi
pkg/cmd/pulumi/operations/up.go registers "event-log" under env.DebugCommands); the
Automation API sets that variable for the same reason (sdk/python/lib/pulumi/automation/
_stack.py, _run_pulumi_cmd_sync).
"""

import json
from collections.abc import Iterable
from pathlib import Path

# Steps that create, change or delete something in the cloud (or run a remote command on
# the host). Not here: same, read, refresh, discard and the like, which touch only state.
CHANGING_OPS = frozenset(
    {"create", "update", "delete", "replace", "create-replacement", "delete-replaced"}
)


def event_log_args(event_log: Path | None) -> list[str]:
    return ["--event-log", str(event_log)] if event_log else []


def event_log_environment(event_log: Path | None) -> dict[str, str]:
    """What the CLI needs in its environment to accept `--event-log`."""
    return {"PULUMI_DEBUG_COMMANDS": "true"} if event_log else {}


def changed_resources(lines: Iterable[str]) -> list[str]:
    """`op urn` of each executed step that changes a cloud resource, in event order."""
    changed = []
    for line in lines:
        if not line.strip():
            continue
        event = json.loads(line).get("resourcePreEvent")
        if not event or event.get("planning"):
            continue
        metadata = event.get("metadata") or {}
        if metadata.get("op") in CHANGING_OPS:
            changed.append(f"{metadata['op']} {metadata.get('urn', '?')}")
    return changed


def changes_in(event_log: Path) -> list[str]:
    """The changes a finished update made; none when Pulumi never wrote the log."""
    if not event_log.is_file():
        return []
    return changed_resources(event_log.read_text().splitlines())
