"""Which machine the figures came from: cores, CPU model, memory, load when the run began."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Machine:
    cores: int
    cpu_model: str
    memory_gb: float
    load_average: float


def cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return "unknown"


def memory_gb(meminfo: str) -> float:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    raise ValueError("no MemTotal line in meminfo")


def this_machine(proc: Path = Path("/proc")) -> Machine:
    return Machine(
        cores=os.cpu_count() or 1,
        cpu_model=cpu_model((proc / "cpuinfo").read_text()),
        memory_gb=round(memory_gb((proc / "meminfo").read_text()), 1),
        load_average=os.getloadavg()[0],
    )
