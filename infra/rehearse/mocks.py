"""Pulumi mocks whose cloud is this machine and whose remote steps run for real.

Cloud resources answer with the local droplets' ids and addresses (infra/rehearse/
droplets.py); a droplet "boots" from the user data the program rendered. Every
`command:remote:Command` and `command:remote:CopyToRemote` runs over SSH with exactly the
inputs the program gave (infra/rehearse/remote_steps.py), when pulumi-command would run it.

The SDK calls `new_resource` only once a resource's dependencies are registered, and calls it
for independent resources at once from its thread pool (tests/integration/rehearsal/
test_sdk_scheduling.py shows both), so the steps run in the engine's order and races are real.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from infra.offline import (
    DROPLET,
    GET_SSH_KEY,
    SPACES_BUCKET,
    SPACES_KEY,
    TLS_PRIVATE_KEY,
    OfflineMocks,
    droplet_number,
    revealed,
)
from infra.rehearse.droplets import RANGE, Droplet
from infra.rehearse.remote_steps import (
    COMMAND,
    COPY_TO_REMOTE,
    Action,
    Connection,
    StepError,
    StepRecord,
    copy_file,
    decide,
    fingerprint,
    record,
    run_command,
)

Log = Callable[[str], None]
# Told (type token, name, op) just before a resource changes, as the engine emits a
# resourcePreEvent before it runs a step (infra/rehearse/pulumi_standin.py logs them).
Announce = Callable[[str, str, str], None]
LOAD_BALANCER = "digitalocean:index/loadBalancer:LoadBalancer"
VPC = "digitalocean:index/vpc:Vpc"


def ed25519_openssh() -> tuple[str, str]:
    """A new key pair: (private key in OpenSSH format, public key line)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return private, public


@dataclass
class RehearsalState:
    """What survives from one `up` to the next (the engine's state): each step's digests,
    in the order the steps finished, and the cloud resources' answers."""

    steps: dict[str, StepRecord] = field(default_factory=dict)
    cloud: dict[str, tuple[str, str, dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class StepRun:
    name: str
    action: Action
    # time.monotonic() when the mocks got the step and when it was done.
    started: float
    finished: float


class RehearsalMocks(OfflineMocks):
    def __init__(
        self,
        droplets: list[Droplet],
        state: RehearsalState,
        deploy_public_key: str,
        log: Log = print,
        open_balancer: Callable[[dict[str, Any]], str] | None = None,
        runs_step: Callable[[str], bool] = lambda name: True,
        create_bucket: Callable[[str], None] | None = None,
        announce: Announce = lambda type_token, name, op: None,
    ) -> None:
        super().__init__()
        self.droplets = droplets
        self.state = state
        self.deploy_public_key = deploy_public_key
        self.log = log
        self.open_balancer = open_balancer
        self.runs_step = runs_step
        self.create_bucket = create_bucket
        self.announce = announce
        # Every step of this `up`, in the order it finished.
        self.ran: list[StepRun] = []
        self._ran_lock = threading.Lock()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        if args.typ in (COMMAND, COPY_TO_REMOTE):
            resource_id, state = super().new_resource(args)
            self._remote_step(args.typ, args.name, self.received[args.name])
            return resource_id, state
        key = f"{args.typ}::{args.name}"
        inputs_digest = fingerprint(revealed(args.inputs))
        with self.state.lock:
            previous = self.state.cloud.get(key)
        if previous is not None and previous[1] == inputs_digest:
            super().new_resource(args)  # recorded for the plan, answered from the state
            return previous[0], previous[2]
        self.announce(args.typ, args.name, "create" if previous is None else "update")
        resource_id, state = self._cloud_resource(args)
        with self.state.lock:
            self.state.cloud[key] = (resource_id, inputs_digest, state)
        return resource_id, state

    def _cloud_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        resource_id, state = super().new_resource(args)
        inputs = self.received[args.name]
        if args.typ == TLS_PRIVATE_KEY:
            private, public = ed25519_openssh()
            state |= {"privateKeyOpenssh": private, "publicKeyOpenssh": f"{public}\n"}
        elif args.typ == DROPLET:
            droplet = self._droplet_for(args.name)
            self.log(f"droplet {args.name}: booting at {droplet.address}")
            droplet.boot(inputs["userData"])
            state |= {"ipv4Address": droplet.address, "ipv4AddressPrivate": droplet.address}
        elif args.typ == VPC:
            # The droplets' range: the gateway trusts X-Forwarded-For from the balancer there.
            state["ipRange"] = str(RANGE)
        elif args.typ == LOAD_BALANCER and self.open_balancer is not None:
            state["ip"] = self.open_balancer(inputs["healthcheck"])
        elif args.typ == SPACES_BUCKET and self.create_bucket is not None:
            self.create_bucket(inputs["name"])
        elif args.typ == SPACES_KEY:
            state |= {"accessKey": "REHEARSALACCESSKEY", "secretKey": "rehearsal-secret-key"}
        return resource_id, state

    def _droplet_for(self, name: str) -> Droplet:
        number = droplet_number(name)
        if number > len(self.droplets):
            raise RuntimeError(f"{name}: the rehearsal has {len(self.droplets)} droplet(s)")
        return self.droplets[number - 1]

    def _remote_step(self, type_token: str, name: str, inputs: dict[str, Any]) -> None:
        current = record(type_token, inputs)
        with self.state.lock:
            previous = self.state.steps.get(name)
        action = decide(previous, current)
        started = time.monotonic()
        if action is not Action.SAME and self.runs_step(name):
            self.announce(type_token, name, action.value)
            self.log(f"{name}: {action.value} ...")
            try:
                _run_step(type_token, inputs, action, previous, current)
            except StepError as error:
                # Named as Pulumi names a failed resource: "TYPE (NAME): error: ...".
                raise StepError(f"{type_token} ({name}): {error}") from error
            self.log(f"{name}: {action.value} done in {time.monotonic() - started:.1f}s")
        elif action is not Action.SAME:
            self.log(f"{name}: {action.value} (not run by this rehearsal)")
        with self.state.lock:
            self.state.steps.pop(name, None)
            self.state.steps[name] = current
        with self._ran_lock:
            self.ran.append(StepRun(name, action, started, time.monotonic()))

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        answer, failures = super().call(args)
        if args.token == GET_SSH_KEY:
            # The account's key by name: the key pair the rehearsal made for the deploy.
            answer["publicKey"] = self.deploy_public_key
        return answer, failures


def _run_step(
    type_token: str,
    inputs: dict[str, Any],
    action: Action,
    previous: StepRecord | None,
    current: StepRecord,
) -> None:
    if type_token == COPY_TO_REMOTE:
        if action is not Action.UPDATE or previous is None or previous.copied != current.copied:
            copy_file(current.connection, _source_path(inputs), inputs["remotePath"])
    else:
        run_command(
            current.connection, inputs["create"], inputs.get("stdin"), inputs.get("environment")
        )
    if action is Action.REPLACE and previous is not None and previous.delete:
        run_command(previous.connection, previous.delete)


def _source_path(inputs: dict[str, Any]) -> str:
    source = inputs["source"]
    return source.path if isinstance(source, pulumi.FileAsset) else str(source)


def destroy_steps(state: RehearsalState, log: Log = print) -> list[str]:
    """Each step's `delete` command, newest first (the reverse of the order they finished,
    which respects every dependency); the names of the steps that had one."""
    deleted = []
    for name, step in reversed(list(state.steps.items())):
        if step.delete:
            log(f"{name}: delete ...")
            run_command(step.connection, step.delete)
            deleted.append(name)
    state.steps.clear()
    return deleted


__all__ = ["Connection", "RehearsalMocks", "RehearsalState", "destroy_steps", "ed25519_openssh"]
