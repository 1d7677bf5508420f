"""Everything a rehearsal stands on, made in order and removed in reverse, even on failure:
the service address, the registry, the build machine's dockerd with the pushed images, and
the stack's droplets (their dockerd pull from the registry and resolve with its DNS)."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from infra.load_balancer import GATEWAY_PORT
from infra.rehearse import images
from infra.rehearse.balancer import HealthCheck, LoadBalancer
from infra.rehearse.bucket import Spaces
from infra.rehearse.droplets import ServiceAddress, free_slots
from infra.rehearse.mocks import Log
from infra.rehearse.registry import Registry
from infra.rehearse.rehearsal import Rehearsal, droplet_count, make_droplets

# The monitoring profiles' images (Prometheus, Alertmanager, exporters, cAdvisor) come from
# Docker Hub and gcr.io, which this machine cannot reach: the rehearsal deploys without them.
NO_MONITORING = {"canny:monitoring": False}


class Environment:
    """`with Environment("prod", log=print) as env:` then env.publish(tag), env.rehearsal."""

    def __init__(self, stack: str, log: Log = print, overrides: dict[str, Any] | None = None):
        self.stack = stack
        self.log = log
        self.overrides = NO_MONITORING | (overrides or {})
        self.work = Path(tempfile.mkdtemp(prefix="canny-rehearsal-"))
        self._exit = ExitStack()

    def __enter__(self) -> Environment:
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def _start(self) -> None:
        self._exit.callback(shutil.rmtree, self.work, ignore_errors=True)
        slots = free_slots(droplet_count(self.stack, self.overrides) + 1)
        service = ServiceAddress(slots[-1])
        service.add()
        self._exit.callback(service.remove)
        self.log(f"services (registry, Spaces, DNS) on {service.address}")
        self.registry = self._exit.enter_context(Registry(self.work / "registry", service.address))
        self.spaces = self._exit.enter_context(Spaces(self.work / "spaces", service.address))
        self.builder = images.host_daemon(self.registry.address)
        self._exit.callback(self.builder.stop)
        droplets = make_droplets(slots[:-1], self.registry.address, dns=service.address)
        for droplet in droplets:
            self._exit.callback(droplet.destroy)
        self.log(f"droplets: {', '.join(droplet.address for droplet in droplets)}")
        self.rehearsal = Rehearsal(
            self.stack,
            droplets,
            self.registry,
            log=self.log,
            overrides=self.overrides,
            create_bucket=self.spaces.create_bucket,
            open_balancer=self._open_balancer,
        )
        # Started here, on the main thread: the program asks for it from a worker thread,
        # and nginx dies with the thread that started it (localrun/processes.py).
        targets = [f"{droplet.address}:{GATEWAY_PORT}" for droplet in droplets]
        self._idle_balancer = self._exit.enter_context(
            LoadBalancer(self.work / "balancer", targets)
        )
        # The load balancer, once the program asked for one.
        self.balancer: LoadBalancer | None = None

    def _open_balancer(self, healthcheck: dict[str, Any]) -> str:
        """The load balancer the program asked for, in front of every droplet's gateway,
        with the program's health check."""
        self.balancer = self._idle_balancer
        self.balancer.check(HealthCheck.from_inputs(healthcheck))
        self.log(f"load balancer: {self.balancer.url} -> {', '.join(self.balancer.droplets)}")
        return "127.0.0.1"

    def publish(self, tag: str, trusts_bucket: bool = True) -> None:
        """Build both images from the working tree and push them with `tag`.

        `trusts_bucket=False` makes a release whose backend never becomes ready: it does
        not trust the bucket's certificate, so every write to Spaces fails TLS verification
        and /readyz answers 503 while the process runs and /healthz passes. That is the
        release a broken CA bundle or storage setting ships, the failure a readiness gate
        exists for, and the slowest one for it: Docker calls the backend unhealthy only
        after its start period and retries (app/compose.yaml), where an entrypoint that
        exits fails `compose up` at once."""
        self.log(f"images: building and pushing {self.registry.address}/canny/*:{tag}")
        certificate = self.spaces.certificate if trusts_bucket else None
        built = images.build(self.builder, f"{self.registry.address}/canny", tag, certificate)
        images.push(self.builder, built, self.registry.user, self.registry.password)

    def __exit__(self, *exc_info: object) -> None:
        self._exit.close()
