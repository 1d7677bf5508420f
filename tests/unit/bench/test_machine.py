"""The machine description printed with the figures."""

import pytest

from bench.machine import cpu_model, memory_gb, this_machine


def test_cpu_model_is_the_first_model_name() -> None:
    cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 7543\n\nprocessor\t: 1\nmodel name\t: other\n"
    assert cpu_model(cpuinfo) == "AMD EPYC 7543"


def test_cpu_model_unknown_without_the_line() -> None:
    assert cpu_model("processor\t: 0\n") == "unknown"


def test_memory_gb_from_memtotal() -> None:
    assert memory_gb("MemTotal:       4194304 kB\nMemFree: 1 kB\n") == pytest.approx(4.0)


def test_this_machine_reads_proc() -> None:
    machine = this_machine()
    assert machine.cores >= 1 and machine.memory_gb > 0 and machine.cpu_model
