"""Did a failed `pulumi up` change anything? Read from Pulumi's own engine events.

A failed prod update is one of two very different things:

- it never started changing prod: the stack was locked, a policy was violated, the
  config or the program was wrong. Prod still runs the previous release, untouched, and
  a rollback would only fail again the same way (the lock is still there) or change what
  is known to be good;
- it changed prod (a droplet, the firewall, compose up on the host) and then failed:
  only a rollback brings the previous release back.

Pulumi's engine events say which: the Automation API hands each one to `Stack.up(on_event=)`
as an `EngineEvent` (sdk/python/lib/pulumi/automation/events.py). A `resourcePreEvent` "is
emitted before a resource is modified"; its `planning` is true in the preview pass and false
when the step really runs, and `metadata.op` names the step (pulumi/pulumi
sdk/go/common/apitype/events.go, ResourcePreEvent and StepEventMetadata; the step names are
sdk/go/common/apitype's OpType values). So the update changed prod exactly when some
executed step is one that changes a cloud resource. A lock or a config error stops Pulumi
before the engine sends any event. The Automation API's `up` skips the preview pass
(`--skip-preview`), so a mandatory policy violation stops the update when the pack judges
a resource: steps that ran before it are in the events, and they are what was changed.
"""

from dataclasses import dataclass, field

from pulumi import automation as auto

# Steps that create, change or delete something in the cloud (or run a remote command on
# the host). Not here: same, read, refresh, discard and the like, which touch only state.
CHANGING_OPS = frozenset(
    {"create", "update", "delete", "replace", "create-replacement", "delete-replaced"}
)


@dataclass
class Changes:
    """`op urn` of each executed step that changes a cloud resource, in event order;
    `record` is the `on_event` to give the update."""

    made: list[str] = field(default_factory=list)

    def record(self, event: auto.EngineEvent) -> None:
        step = event.resource_pre_event
        if step is None or step.planning:
            return
        if step.metadata.op.value in CHANGING_OPS:
            self.made.append(f"{step.metadata.op.value} {step.metadata.urn}")
