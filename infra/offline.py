"""Run the real Pulumi program under mocks: no engine, no CLI, no cloud account.

`python -m infra.plan` and tests/infra both use this: the program in infra/__main__.py runs
unchanged against a stack's config, and every resource registration is recorded with what
the engine would receive (type, name, parent, options, inputs). Secret inputs are recorded
as "[secret]", so nothing secret reaches a plan or a test log. Only Pulumi's public API is
used (tests/infra/test_infra_public_pulumi_api.py), so an SDK upgrade cannot break it silently.
Each run happens in a fresh contextvars.Context, so the Pulumi runtime state (config, root
stack, settings) of one run never leaks into the next.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import hashlib
import json
import os
import re
import runpy
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

PROJECT = "canny"
PROGRAM = Path(__file__).resolve().parent / "__main__.py"
REPO_ROOT = PROGRAM.parent.parent
REDACTED = "[secret]"

# Documentation addresses (RFC 5737, RFC 3849): a plan never shows a real-looking address.
MOCK_IPV4 = "203.0.113.10"
MOCK_RESERVED_IPV4 = "203.0.113.20"
MOCK_IPV6 = "2001:db8::10"
MOCK_LB_IPV4 = "203.0.113.30"
# A VPC's default range in DigitalOcean's 10.x space (the provider assigns one when unset).
MOCK_VPC_RANGE = "10.110.0.0/20"
_NUMBERED_DROPLET = re.compile(r"-(\d+)-droplet$")
GET_SSH_KEY = "digitalocean:index/getSshKey:getSshKey"
GET_DOMAIN = "digitalocean:index/getDomain:getDomain"
GET_VPC = "digitalocean:index/getVpc:getVpc"
DROPLET = "digitalocean:index/droplet:Droplet"
TLS_PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
SPACES_KEY = "digitalocean:index/spacesKey:SpacesKey"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"  # noqa: S105 (a type token)
SPACES_BUCKET = "digitalocean:index/spacesBucket:SpacesBucket"
MOCK_SPACES_ACCESS_KEY = "DO00OFFLINEPLANACCESS"
MOCK_SPACES_SECRET_KEY = "offline-plan-spaces-secret-4f1c"  # noqa: S105 (a stand-in, not a key)
MOCK_OWNER_KEY_SECRET = "offline-plan-owner-key-secret-0123456789abcdef"  # noqa: S105 (stand-in)
MOCK_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOfflinePlanMockKeyOfflinePlanMockKey0 mock"
MOCK_HOST_PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOfflinePlanHostKeyOfflinePlanHostKey0\n"
)
MOCK_HOST_PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "offline-plan-host-key\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
# Droplet inputs the provider marks ForceNew (terraform-provider-digitalocean
# digitalocean/droplet/resource_droplet.go): a change means a new droplet, so a new id.
DROPLET_REPLACED_ON = ("image", "region", "sshKeys", "userData", "vpcUuid")


@dataclass(frozen=True)
class PlannedResource:
    type: str
    name: str
    urn: str
    parent: str | None
    custom: bool
    protect: bool
    ignore_changes: tuple[str, ...]
    depends_on: tuple[str, ...]
    inputs: dict[str, Any]
    resource_id: str = ""
    retain_on_delete: bool = False
    delete_before_replace: bool = False
    # Input property -> URNs of the resources its value came from (the engine's
    # propertyDependencies; policies see the same as PolicyResource.property_dependencies).
    property_dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def plan_entry(self, names_by_urn: dict[str, str]) -> dict[str, Any]:
        """The `--json` shape of `python -m infra.plan`."""
        return {
            "type": self.type,
            "name": self.name,
            "parent": names_by_urn.get(self.parent or ""),
            "protect": self.protect,
            "inputs": self.inputs,
        }


@dataclass
class OfflineRun:
    stack: str
    resources: list[PlannedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    # What each provider would receive, secrets in plaintext (a provider decrypts them too):
    # for tests of rendered values such as user_data; never printed by the plan.
    provider_inputs: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def by_type(self, type_token: str) -> list[PlannedResource]:
        return [item for item in self.resources if item.type == type_token]

    def one(self, type_token: str) -> PlannedResource:
        found = self.by_type(type_token)
        assert len(found) == 1, f"expected one {type_token}, found {[r.urn for r in found]}"
        return found[0]

    def named(self, name: str) -> PlannedResource:
        found = [item for item in self.resources if item.name == name]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]

    def upstream(self, urn: str) -> set[str]:
        """Every URN `urn` waits for, directly or through others: what the engine must
        finish first (a registration's `dependencies` include its inputs' sources)."""
        depends = {item.urn: item.depends_on for item in self.resources}
        seen: set[str] = set()
        pending = list(depends[urn])
        while pending:
            current = pending.pop()
            if current not in seen:
                seen.add(current)
                pending.extend(depends.get(current, ()))
        return seen

    def names_by_urn(self) -> dict[str, str]:
        return {item.urn: item.name for item in self.resources}


def _readable(value: Any) -> Any:
    """Inputs as the mocks receive them -> plain JSON, with secrets hidden and files named.

    Pulumi hands mocks deserialized inputs (MockResourceArgs.inputs): secrets stay marked,
    which `pulumi.runtime.rpc.is_rpc_secret` recognises (`rpc` is one of the submodules
    pulumi.runtime exports in its `__all__`), and file assets arrive as pulumi.FileAsset.
    """
    if rpc.is_rpc_secret(value):
        return REDACTED
    if isinstance(value, pulumi.FileAsset):
        path = Path(value.path)
        shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
        return f"[file] {shown}"
    if isinstance(value, dict):
        return {key: _readable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_readable(item) for item in value]
    return value


def revealed(value: Any) -> Any:
    """Mock inputs keep secrets wrapped; a provider would see the plain value."""
    if rpc.is_rpc_secret(value):
        return revealed(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {key: revealed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [revealed(item) for item in value]
    return value


# Outputs a provider computes, the same for every resource of the type.
_FIXED_STATE: dict[str, dict[str, str]] = {
    "digitalocean:index/reservedIp:ReservedIp": {
        "ipAddress": MOCK_RESERVED_IPV4,
        "reservedIpUrn": "do:reservedip:mock",
    },
    # The provider makes the key pair; stand-ins tests look for in every plain value.
    SPACES_KEY: {"accessKey": MOCK_SPACES_ACCESS_KEY, "secretKey": MOCK_SPACES_SECRET_KEY},
    "command:remote:Command": {"stdout": "", "stderr": ""},
    RANDOM_PASSWORD: {"result": MOCK_OWNER_KEY_SECRET},
    TLS_PRIVATE_KEY: {
        "publicKeyOpenssh": MOCK_HOST_PUBLIC_KEY,
        "privateKeyOpenssh": MOCK_HOST_PRIVATE_KEY,
    },
}


class OfflineMocks(pulumi.runtime.Mocks):
    """Provider answers shaped like DigitalOcean's, keyed on the resource type."""

    def __init__(
        self,
        dns_domains: Collection[str] | None = None,
        default_vpc_regions: Collection[str] | None = None,
    ) -> None:
        self._next_id = 100000
        self.received: dict[str, dict[str, Any]] = {}
        # (type, name) -> inputs as Pulumi deserialized them, secrets still marked.
        self.inputs: dict[tuple[str, str], dict[str, Any]] = {}
        # The account's DNS domains and the regions with a default VPC; None: every one, as
        # an offline plan assumes the account's prerequisites are in place.
        self.dns_domains = None if dns_domains is None else frozenset(dns_domains)
        self.default_vpc_regions = (
            None if default_vpc_regions is None else frozenset(default_vpc_regions)
        )

    def _new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        resource_id = self._new_id()
        self.inputs[(args.typ, args.name)] = args.inputs
        self.received[args.name] = revealed(args.inputs)
        state = dict(args.inputs) | _FIXED_STATE.get(args.typ, {})
        if args.typ == DROPLET:
            resource_id = _droplet_id(args.name, self.received[args.name])
            state |= {
                "ipv4Address": MOCK_IPV4,
                "ipv4AddressPrivate": mock_private_ipv4(args.name),
                "ipv6Address": MOCK_IPV6,
                "dropletUrn": f"do:droplet:{resource_id}",
            }
        elif args.typ == "digitalocean:index/vpc:Vpc":
            state.setdefault("ipRange", MOCK_VPC_RANGE)
        elif args.typ == "digitalocean:index/loadBalancer:LoadBalancer":
            resource_id = f"lb-{resource_id}"
            state |= {"ip": MOCK_LB_IPV4, "loadBalancerUrn": f"do:loadbalancer:{resource_id}"}
        elif args.typ == "digitalocean:index/volume:Volume":
            state["volumeUrn"] = f"do:volume:{resource_id}"
        elif args.typ == "digitalocean:index/dnsRecord:DnsRecord":
            name = args.inputs.get("name", "@")
            domain = args.inputs.get("domain", "")
            state["fqdn"] = domain if name == "@" else f"{name}.{domain}"
        elif args.typ == SPACES_BUCKET:
            # The provider's `urn` for a bucket (spaces_bucket.md: "The uniform resource name").
            state["bucketUrn"] = f"do:space:{args.inputs.get('name')}"
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        if args.token == GET_DOMAIN:
            return self._domain(str(args.args.get("name")))
        if args.token == GET_VPC:
            return self._default_vpc(str(args.args.get("region")))
        if args.token == GET_SSH_KEY:
            return {
                "id": 4242,
                "name": args.args.get("name"),
                "publicKey": MOCK_PUBLIC_KEY,
                "fingerprint": "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff",
            }, []
        return {}, []

    def _domain(self, name: str) -> tuple[dict, list]:
        """The provider's answers (datasource_domain.go): the domain, or "domain not found"."""
        if self.dns_domains is not None and name not in self.dns_domains:
            return {}, [("name", f"domain not found: GET {name}: 404 Resource not found")]
        return {"id": name, "name": name, "ttl": 1800, "urn": f"do:domain:{name}"}, []

    def _default_vpc(self, region: str) -> tuple[dict, list]:
        """A region's default VPC, or the provider's error (datasource_vpc.go)."""
        if self.default_vpc_regions is not None and region not in self.default_vpc_regions:
            return {}, [("region", f"unable to find default VPC in {region} region")]
        return {
            "id": f"default-vpc-{region}",
            "name": f"default-{region}",
            "region": region,
            "default": True,
            "ipRange": "10.100.0.0/20",
            "urn": f"do:vpc:default-{region}",
        }, []


def droplet_number(droplet_name: str) -> int:
    """`<stack>-droplet` is the first droplet, `<stack>-<n>-droplet` the n-th (whatever order
    registrations arrive in)."""
    numbered = _NUMBERED_DROPLET.search(droplet_name)
    return int(numbered.group(1)) if numbered else 1


def mock_private_ipv4(droplet_name: str) -> str:
    """A droplet's private address in MOCK_VPC_RANGE, from its name."""
    return f"10.110.0.{10 + droplet_number(droplet_name)}"


def _droplet_id(name: str, inputs: dict[str, Any]) -> str:
    """A numeric id per droplet of the program that changes exactly when it would be replaced."""
    replaced_on = {key: inputs.get(key) for key in DROPLET_REPLACED_ON} | {"resource": name}
    digest = hashlib.sha256(json.dumps(replaced_on, sort_keys=True).encode()).hexdigest()
    return str(10**8 + int(digest[:12], 16) % (9 * 10**8))


def _is_stack(urn: str) -> bool:
    """The root stack is every top-level resource's parent; plans show no parent for it."""
    parts = urn.split("::")
    return len(parts) < 3 or parts[2] == "pulumi:pulumi:Stack"


class RecordingMonitor(MockMonitor):
    """The mock monitor, plus a record of each registration's options and inputs.

    `pulumi.runtime.set_mocks` takes a `monitor` (a MockMonitor) for exactly this; the
    request carries the options as fields of RegisterResourceRequest in Pulumi's versioned
    engine protocol (pulumi/pulumi proto/pulumi/resource.proto). Inputs come from the mocks,
    as Pulumi deserialized them for `Mocks.new_resource`.
    """

    mocks: OfflineMocks

    def __init__(self, mocks: OfflineMocks) -> None:
        super().__init__(mocks)
        self.planned: list[PlannedResource] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.planned.append(
                PlannedResource(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=None if _is_stack(request.parent) else request.parent,
                    custom=request.custom,
                    protect=request.protect,
                    ignore_changes=tuple(request.ignoreChanges),
                    depends_on=tuple(request.dependencies),
                    inputs=_readable(self.mocks.inputs[(request.type, request.name)]),
                    resource_id=response.id,
                    retain_on_delete=request.retainOnDelete,
                    delete_before_replace=request.deleteBeforeReplace,
                    property_dependencies={
                        key: tuple(value.urns)
                        for key, value in request.propertyDependencies.items()
                    },
                )
            )
        return response


async def _collect_outputs(run: OfflineRun) -> None:
    """The stack's exports, from the root resource `pulumi.export` writes them to."""
    root = pulumi.runtime.get_root_resource()
    for name, value in getattr(root, "outputs", {}).items():
        output = pulumi.Output.from_input(value)
        if await output.is_secret():
            run.secret_outputs.add(name)
        run.outputs[name] = await output.future()


@contextmanager
def _engine_config(config: dict[str, Any]) -> Iterator[None]:
    """Hand config to the program as `pulumi up` does: the language host puts it in the
    PULUMI_CONFIG environment variable as JSON (pulumi/pulumi
    sdk/python/cmd/pulumi-language-python/main.go, `pulumiConfigVar`), which the SDK reads
    through the public `pulumi.runtime.get_config_env`. The variable is restored afterwards.
    """
    previous = os.environ.get("PULUMI_CONFIG")
    os.environ["PULUMI_CONFIG"] = json.dumps(
        {key: _config_string(value) for key, value in config.items()}
    )
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PULUMI_CONFIG", None)
        else:
            os.environ["PULUMI_CONFIG"] = previous


def _run(
    stack: str, config: dict[str, Any], program: Path, monitor: RecordingMonitor
) -> OfflineRun:
    mocks = monitor.mocks
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    run = OfflineRun(stack)

    # pulumi.runtime.test runs the function as a Pulumi program and waits for everything it
    # returns and registers (https://www.pulumi.com/docs/iac/concepts/testing/unit/).
    @pulumi.runtime.test
    def program_then_outputs() -> Any:
        runpy.run_path(str(program), run_name="__main__")
        return _collect_outputs(run)

    with _engine_config(config):
        program_then_outputs()
    run.resources = monitor.planned
    run.provider_inputs = mocks.received
    return run


def _config_string(value: Any) -> str:
    """Pulumi hands config to programs as strings; lists and maps as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs the SDK's monitor calls on the loop's own thread.

    With the default thread pool every worker thread creates an event loop of its own that
    nobody closes; inline, the one loop below serves every call and is closed after the run.
    (asyncio accepts only ThreadPoolExecutor subclasses; no thread is ever started.)
    """

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # handed to the awaiting caller
            future.set_exception(error)
        return future


class _ThreadedExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs the SDK's monitor calls on worker threads, each with an event loop of its own
    that is closed with the pool (the SDK makes one per thread otherwise, left open:
    pulumi/runtime/sync_await.py, _ensure_event_loop)."""

    def __init__(self, threads: int) -> None:
        self._loops: list[asyncio.AbstractEventLoop] = []
        self._loops_lock = threading.Lock()
        super().__init__(max_workers=threads, initializer=self._own_loop)

    def _own_loop(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        with self._loops_lock:
            self._loops.append(loop)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=wait, cancel_futures=cancel_futures)
        with self._loops_lock:
            for loop in self._loops:
                loop.close()
            self._loops.clear()


def _run_in_own_loop(
    stack: str, config: dict[str, Any], program: Path, monitor: RecordingMonitor, threads: int
) -> OfflineRun:
    loop = asyncio.new_event_loop()
    # The SDK hands each registration to the loop's default executor (run_in_executor(None,
    # ...)); with threads the mocks' new_resource calls of independent resources overlap.
    executor = _ThreadedExecutor(threads) if threads else _InlineExecutor()
    loop.set_default_executor(executor)
    asyncio.set_event_loop(loop)
    try:
        return _run(stack, config, program, monitor)
    finally:
        asyncio.set_event_loop(None)
        loop.close()
        executor.shutdown()


def run_program(
    stack: str,
    config: dict[str, Any],
    program: Path = PROGRAM,
    monitor: RecordingMonitor | None = None,
    threads: int = 0,
) -> OfflineRun:
    """Run the program once for `stack` with `config` (keys like "canny:domain").

    Pass a `monitor` to inspect what was registered even when the program raises, and
    `threads` to let that many registrations run at once (the rehearsal's remote steps).
    """
    monitor = monitor or RecordingMonitor(OfflineMocks())
    return contextvars.Context().run(_run_in_own_loop, stack, config, program, monitor, threads)
