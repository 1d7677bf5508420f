"""One bench run: warm up, then rounds that interleave the references, the service and
the naive peer, then the cache and the memory trend. Everything here measures; report.py
turns it into figures."""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bench import images
from bench.images import Sample
from bench.load import LoadError, LoadResult, LookupLoad, UploadLoad, issued_owner_key
from bench.multipart import envelope
from bench.peer import Peer
from bench.plan import CONCURRENCIES, FIXED_CONCURRENCY, MAIN_SAMPLE, RSS_SAMPLE, Plan, SampleKey
from bench.reference import ReferenceRun, ReferenceRunner
from bench.service import Service
from bench.storage_latency import BucketTimings
from bench.storage_latency import measure as measure_bucket_path


class Server(Protocol):
    """What a measured run needs of a server: the service or the peer."""

    def cpu_seconds(self) -> float: ...

    def results_count(self) -> int: ...

    def wait_until_idle(self) -> None: ...


@dataclass(frozen=True)
class ServiceRun:
    """A run of uploads against a server (the service, or the peer)."""

    load: LoadResult
    images: int
    server_cpu_seconds: float

    @property
    def cpu_per_image(self) -> float:
        return self.server_cpu_seconds / self.images


@dataclass(frozen=True)
class DirectRun:
    """Uploads sent to one backend directly (no gateway), and the CPU it used meanwhile."""

    load: LoadResult
    backend_cpu_seconds: float
    cores: int

    @property
    def idle_share(self) -> float:
        """The share of the cores' time the backend left unused while uploads waited (wrk
        kept `concurrency` of them in flight, at least one per core)."""
        return max(0.0, 1 - self.backend_cpu_seconds / (self.load.seconds * self.cores))


@dataclass(frozen=True)
class RssPoint:
    uploads: int
    mean_rss_mb: float
    max_rss_mb: float
    # (pid, RSS MB) of each live worker: recycled workers come and go during the run.
    worker_rss_mb: tuple[tuple[int, float], ...]

    @property
    def worker_pids(self) -> tuple[int, ...]:
        return tuple(pid for pid, _ in self.worker_rss_mb)


@dataclass
class Measurements:
    samples: dict[SampleKey, Sample]
    reference: dict[tuple[SampleKey, int], list[ReferenceRun]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # Pipeline and storage in-process, 2 processes, by sample.
    store_reference: dict[SampleKey, list[ReferenceRun]] = field(
        default_factory=lambda: defaultdict(list)
    )
    service: dict[tuple[SampleKey, int], list[ServiceRun]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # The naive peer on the main sample at FIXED_CONCURRENCY, one run per round.
    peer: list[ServiceRun] = field(default_factory=list)
    cached: list[ServiceRun] = field(default_factory=list)
    # The page's lookup of that stored upload by its SHA-256, through the gateway.
    lookup: list[ServiceRun] = field(default_factory=list)
    # The main sample at FIXED_CONCURRENCY sent to one backend directly, one run per round.
    direct: list[DirectRun] = field(default_factory=list)
    rss_trend: list[RssPoint] = field(default_factory=list)
    worker_pids_seen: set[int] = field(default_factory=set)
    peak_worker_rss_mb: float = 0.0
    client_cpu_seconds: float = 0.0
    client_requests: int = 0
    # The bucket path a round trip away (bench.storage_latency), measured after the rest.
    bucket: BucketTimings | None = None


Progress = Callable[[str], None]


class Bench:
    def __init__(self, plan: Plan, work_dir: Path, progress: Progress) -> None:
        self.plan = plan
        self.work_dir = work_dir
        self.progress = progress
        keys = dict.fromkeys((*plan.samples, MAIN_SAMPLE, RSS_SAMPLE))
        self.data = Measurements(samples={key: images.sample(*key) for key in keys})
        self.store_dir = work_dir / "store-reference"

    def run(self) -> Measurements:
        runner = ReferenceRunner(max_processes=2)
        self.store_dir.mkdir()
        try:
            with Service(self.work_dir / "stack") as service, Peer(self.work_dir / "peer") as peer:
                owner_key = issued_owner_key(service.url)
                loads = {
                    key: self._load(service.url, sample, owner_key)
                    for key, sample in self.data.samples.items()
                }
                # The peer (raw OpenCV) ignores the key and issues none.
                peer_load = self._load(
                    peer.url, self.data.samples[MAIN_SAMPLE], owner_key, issues_owners=False
                )
                self._warm_up(service, peer, runner, loads, peer_load)
                for round_number in range(1, self.plan.rounds + 1):
                    self.progress(f"round {round_number}/{self.plan.rounds}")
                    self._round(round_number, service, runner, loads, (peer, peer_load))
                self._rss_trend(service, loads[RSS_SAMPLE])
                self.data.peak_worker_rss_mb = service.peak_worker_rss_mb
        finally:
            runner.close()
        self.progress(f"the bucket path: {self.plan.bucket_uploads} uploads per store")
        bucket_dir = self.work_dir / "bucket"
        bucket_dir.mkdir()
        self.data.bucket = measure_bucket_path(self.plan.bucket_uploads, bucket_dir)
        return self.data

    def _load(
        self, url: str, sample: Sample, owner_key: str, issues_owners: bool = True
    ) -> UploadLoad:
        form = envelope(sample.filename, sample.content_type)
        return UploadLoad(url, form, sample.data, self.work_dir, owner_key, issues_owners)

    def _warm_up(
        self,
        service: Service,
        peer: Peer,
        runner: ReferenceRunner,
        loads: dict[SampleKey, UploadLoad],
        peer_load: UploadLoad,
    ) -> None:
        """First requests pay for imports, page faults and connection setup: not measured."""
        self.progress("warming up")
        for key in self.plan.samples:
            runner.run(self.data.samples[key].data, 2, 1)
            runner.run(self.data.samples[key].data, 2, 1, self.store_dir)
            self._service_run(service, loads[key], 2, self.plan.warmup_requests, "warm")
        self._measured_run(peer, peer_load, 2, self.plan.warmup_requests, "warm")

    def _round(
        self,
        round_number: int,
        service: Service,
        runner: ReferenceRunner,
        loads: dict[SampleKey, UploadLoad],
        peer_and_load: tuple[Peer, UploadLoad],
    ) -> None:
        for key in self.plan.samples:
            sample = self.data.samples[key]
            per_process = self.plan.reference_images[sample.size]
            for processes in (1, 2):
                run = runner.run(sample.data, processes, per_process)
                self.data.reference[(key, processes)].append(run)
            stored = runner.run(sample.data, 2, per_process, self.store_dir)
            self.data.store_reference[key].append(stored)
            concurrencies = CONCURRENCIES if key == MAIN_SAMPLE else (FIXED_CONCURRENCY,)
            requests = self.plan.service_requests[sample.size]
            for concurrency in concurrencies:
                tag = f"r{round_number}c{concurrency}"
                run = self._service_run(service, loads[key], concurrency, requests, tag)
                self.data.service[(key, concurrency)].append(run)
            if key == MAIN_SAMPLE:
                # The peer right beside the service's runs of the same uploads.
                peer, peer_load = peer_and_load
                tag = f"r{round_number}peer"
                run = self._measured_run(peer, peer_load, FIXED_CONCURRENCY, requests, tag)
                self.data.peer.append(run)
                # Untagged bytes: stored by the first request (a no-op in later rounds),
                # then every repeat is answered from the stored result.
                self._service_run(service, loads[key], 1, 1, "")
                cached = self._service_run(service, loads[key], 1, self.plan.cached_requests, "")
                self.data.cached.append(cached)
                lookup = LookupLoad(loads[key], hashlib.sha256(sample.data).hexdigest())
                self.data.lookup.append(self._lookup_run(service, lookup))
                # A tagged run asks the backend itself for a new owner key.
                direct = self._load(service.first_backend_url, sample, loads[key].owner_key)
                self.data.direct.append(
                    self._direct_run(service, direct, requests, f"r{round_number}direct")
                )

    def _service_run(
        self, service: Service, load: UploadLoad, concurrency: int, requests: int, tag: str
    ) -> ServiceRun:
        run = self._measured_run(service, load, concurrency, requests, tag)
        self.data.worker_pids_seen.update(service.worker_memory())
        return run

    def _measured_run(
        self, server: Server, load: UploadLoad, concurrency: int, requests: int, tag: str
    ) -> ServiceRun:
        server.wait_until_idle()
        cpu_before, stored_before = server.cpu_seconds(), server.results_count()
        result = load.run(concurrency, requests, tag)
        server.wait_until_idle()
        cpu_used = server.cpu_seconds() - cpu_before
        stored = server.results_count() - stored_before
        self.data.client_cpu_seconds += result.client_cpu_seconds
        self.data.client_requests += result.requests
        # New uploads are counted on disk (requests cut off when wrk stopped still finish
        # on the server); repeats of cached bytes store nothing, so wrk's count is used.
        processed = stored if tag else result.requests
        return ServiceRun(load=result, images=max(processed, 1), server_cpu_seconds=cpu_used)

    def _direct_run(self, service: Service, load: UploadLoad, requests: int, tag: str) -> DirectRun:
        """New uploads straight to one backend: how much of the cores it leaves idle with
        work waiting (issue 31: one pipeline child per worker queued while another idled).
        The CPU is read as soon as wrk stops, to match wrk's wall time."""
        service.wait_until_idle()
        cpu_before = service.first_backend_cpu_seconds()
        result = load.run(FIXED_CONCURRENCY, requests, tag)
        cpu_used = service.first_backend_cpu_seconds() - cpu_before
        self.data.client_cpu_seconds += result.client_cpu_seconds
        self.data.client_requests += result.requests
        return DirectRun(result, cpu_used, min(os.cpu_count() or 1, FIXED_CONCURRENCY))

    def _lookup_run(self, service: Service, lookup: LookupLoad) -> ServiceRun:
        """Lookups of the upload stored just before; a miss (404) would make a fast but
        false figure, so any error fails the bench."""
        service.wait_until_idle()
        cpu_before = service.cpu_seconds()
        result = lookup.run(1, self.plan.cached_requests)
        service.wait_until_idle()
        if result.errors:
            raise LoadError(f"{result.errors} of {result.requests} lookups failed or missed")
        self.data.client_cpu_seconds += result.client_cpu_seconds
        self.data.client_requests += result.requests
        return ServiceRun(
            load=result,
            images=max(result.requests, 1),
            server_cpu_seconds=service.cpu_seconds() - cpu_before,
        )

    def _rss_trend(self, service: Service, load: UploadLoad) -> None:
        self.progress(f"worker memory over {self.plan.rss_uploads} uploads of 4K images")
        uploads = 0
        while uploads < self.plan.rss_uploads:
            run = self._service_run(
                service, load, FIXED_CONCURRENCY, self.plan.rss_chunk, f"rss{uploads}"
            )
            uploads += run.images
            workers = service.worker_memory()
            rss = {pid: memory.rss_mb for pid, memory in sorted(workers.items())}
            self.data.rss_trend.append(
                RssPoint(
                    uploads, sum(rss.values()) / len(rss), max(rss.values()), tuple(rss.items())
                )
            )
