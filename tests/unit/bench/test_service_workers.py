"""Which processes of a backend the bench counts as gunicorn workers (their memory)."""

from pathlib import Path

from canny.pipeline_pool import CHILD_NAME, SUPERVISOR_NAME

from bench.service import gunicorn_workers
from tests.unit.bench.proc_files import fake_proc


def test_the_pipeline_supervisor_is_not_a_worker(tmp_path: Path) -> None:
    """The master's children are its workers and, since the children are shared, the
    pipeline supervisor (whose own children are the pipeline children): counting it would
    add a worker to every RSS figure."""
    proc = fake_proc(
        tmp_path,
        {
            10: (1, 10, 0),  # the master
            11: (10, 10, 0),  # two workers
            12: (10, 10, 0),
            13: (10, 10, 0),  # the supervisor and a pipeline child
            14: (13, 10, 0),
            20: (1, 20, 0),  # another group
            21: (20, 20, 0),
        },
        names={13: SUPERVISOR_NAME, 14: CHILD_NAME},
    )
    assert sorted(member.pid for member in gunicorn_workers([10], proc)) == [11, 12]
