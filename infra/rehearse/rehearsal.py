"""One rehearsal of a stack: its droplets, its config, and `up`/`destroy` as the engine runs them.

The program (infra/__main__.py) runs unchanged under Pulumi's Python runtime with the
rehearsal's mocks (infra/rehearse/mocks.py), through the same runner as the offline plan
(infra/offline.py), with a thread pool so that independent registrations run at once.
The config is the stack file's, plus what a real stack gets from `pulumi config set`: the
deploy key pair (made here), the image tag, and the stand-in registry and its login.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra.offline import OfflineRun, RecordingMonitor, run_program
from infra.plan import plan_config, prod_stand_ins
from infra.rehearse.droplets import Droplet
from infra.rehearse.mocks import (
    Announce,
    Log,
    RehearsalMocks,
    RehearsalState,
    StepRun,
    destroy_steps,
    ed25519_openssh,
)
from infra.rehearse.registry import Registry
from infra.stack_file import default_config_file, read_stack_config

# Enough for every remote step of a fleet at once (a prod droplet has about twenty).
THREADS = 64


@dataclass
class UpResult:
    run: OfflineRun
    steps: list[StepRun]

    def ran(self) -> list[str]:
        """Steps that ran something on a droplet this time."""
        return [step.name for step in self.steps if step.action.value != "same"]


def droplet_count(stack: str, overrides: dict[str, Any]) -> int:
    """How many droplets the stack's program will ask for (prod: 2 unless configured)."""
    config = read_stack_config(default_config_file(stack)).values | overrides
    if "canny:dropletCount" in config:
        return int(config["canny:dropletCount"])
    return 2 if stack == "prod" else 1


@dataclass
class Rehearsal:
    stack: str
    droplets: list[Droplet]
    registry: Registry | None = None
    log: Log = print
    overrides: dict[str, Any] = field(default_factory=dict)
    # Starts the balancer with the program's health check; answers its address.
    open_balancer: Callable[[dict[str, Any]], str] | None = None
    create_bucket: Callable[[str], None] | None = None
    state: RehearsalState = field(default_factory=RehearsalState)

    def __post_init__(self) -> None:
        self.deploy_private_key, self.deploy_public_key = ed25519_openssh()

    def config(self, image_tag: str) -> dict[str, Any]:
        stack_file = read_stack_config(default_config_file(self.stack))
        config, _ = plan_config(stack_file.values, stack_file.secure_keys)
        # What prod refuses as placeholders (example.com...) gets the offline plan's stand-ins.
        config, _ = prod_stand_ins(self.stack, config | self.overrides)
        config |= {"canny:imageTag": image_tag, "canny:sshPrivateKey": self.deploy_private_key}
        if self.registry is not None:
            config |= {
                "canny:registryImage": f"{self.registry.address}/canny",
                "canny:registryUser": self.registry.user,
                "canny:registryPassword": self.registry.password,
            }
        return config | self.overrides

    def up(
        self,
        image_tag: str,
        runs_step: Callable[[str], bool] = lambda name: True,
        config: dict[str, Any] | None = None,
        announce: Announce = lambda type_token, name, op: None,
    ) -> UpResult:
        """`pulumi up`: raises with the failed step's output when a step fails. `config`
        goes over the rehearsal's own (what `pulumi config set` stored for the stack)."""
        mocks = RehearsalMocks(
            self.droplets,
            self.state,
            self.deploy_public_key,
            log=self.log,
            open_balancer=self.open_balancer,
            runs_step=runs_step,
            create_bucket=self.create_bucket,
            announce=announce,
        )
        stack_config = self.config(image_tag) | (config or {})
        run = run_program(
            self.stack, stack_config, monitor=RecordingMonitor(mocks), threads=THREADS
        )
        return UpResult(run, mocks.ran)

    def destroy(self) -> list[str]:
        """`pulumi destroy`'s remote part: every step's `delete`, newest first."""
        return destroy_steps(self.state, self.log)


def make_droplets(
    slots: list[int], registry: str | None = None, dns: str | None = None
) -> list[Droplet]:
    """A droplet per slot, created; every one made so far is destroyed if one fails."""
    droplets: list[Droplet] = []
    try:
        for slot in slots:
            droplet = Droplet(slot, registry, dns)
            droplets.append(droplet)
            droplet.create()
    except BaseException:
        for droplet in droplets:
            droplet.destroy()
        raise
    return droplets
