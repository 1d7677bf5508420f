"""gunicorn.conf.py: settings from the environment, and clear failures on bad values."""

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

CONF = Path(__file__).resolve().parents[3] / "app" / "backend" / "gunicorn.conf.py"


@pytest.fixture
def metrics_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "metrics"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    names = (
        "CANNY_BIND",
        "CANNY_WORKERS",
        "CANNY_THREADS",
        "CANNY_MAX_REQUESTS",
        "CANNY_WORKER_TMP_DIR",
        "CANNY_TIMEOUT",
        "CANNY_MAX_REQUESTS_JITTER",
        "CANNY_LOG_LEVEL",
    )
    for name in names:
        monkeypatch.delenv(name, raising=False)
    return directory


def test_defaults_are_production_safe(metrics_dir: Path) -> None:
    conf = runpy.run_path(str(CONF))
    assert conf["bind"] == "127.0.0.1:8000", "default bind must stay on loopback"
    assert (conf["workers"], conf["threads"]) == (2, 16)
    assert conf["worker_class"] == "canny.gunicorn_worker.CannyThreadWorker"
    assert conf["max_requests"] > 0 and conf["max_requests_jitter"] > 0
    assert conf["graceful_timeout"] <= conf["timeout"]
    assert conf["control_socket_disable"] is True
    assert metrics_dir.is_dir(), "the multiprocess metrics directory must exist before import"


def test_environment_overrides(metrics_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANNY_BIND", "0.0.0.0:9000")
    monkeypatch.setenv("CANNY_WORKERS", "4")
    monkeypatch.setenv("CANNY_MAX_REQUESTS", "0")
    monkeypatch.setenv("CANNY_WORKER_TMP_DIR", "/dev/shm")
    conf = runpy.run_path(str(CONF))
    assert (conf["bind"], conf["workers"], conf["max_requests"]) == ("0.0.0.0:9000", 4, 0)
    assert conf["worker_tmp_dir"] == "/dev/shm"


def test_the_log_level_is_the_apps_setting(
    metrics_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANNY_LOG_LEVEL", "Warning")
    conf = runpy.run_path(str(CONF))
    assert conf["loglevel"] == "warning"
    assert conf["logconfig_dict"]["root"]["level"] == "WARNING"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CANNY_WORKERS", "0"),
        ("CANNY_THREADS", "two"),
        ("CANNY_TIMEOUT", "-1"),
        ("CANNY_MAX_REQUESTS_JITTER", "lots"),
        ("CANNY_LOG_LEVEL", "LOUD"),
    ],
)
def test_invalid_values_stop_the_server(
    metrics_dir: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit, match=name):
        runpy.run_path(str(CONF))


def test_stale_metric_files_are_removed_on_start(metrics_dir: Path) -> None:
    conf = runpy.run_path(str(CONF))
    stale = metrics_dir / "counter_12345.db"
    stale.write_bytes(b"old samples")
    conf["on_starting"](None)
    assert not stale.exists(), "samples of an earlier run would be counted again"


class RecordingLog:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)


class FakeServer:
    def __init__(self) -> None:
        self.log = RecordingLog()


@pytest.mark.parametrize("applied", [True, False])
def test_workers_set_malloc_thresholds_and_say_when_they_cannot(
    metrics_dir: Path, monkeypatch: pytest.MonkeyPatch, applied: bool
) -> None:
    from canny import allocator

    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(1) or applied)
    conf = runpy.run_path(str(CONF))
    server = FakeServer()
    conf["post_fork"](server, SimpleNamespace())
    assert calls == [1], "every worker must set the thresholds after the fork"
    assert bool(server.log.warnings) is not applied


def test_workers_start_pipeline_children_and_freeze_before_serving(
    metrics_dir: Path, tmp_path: Path
) -> None:
    import gc

    # As in gunicorn: the config file (which makes the metrics directory) before the app.
    conf = runpy.run_path(str(CONF))
    from canny import create_app
    from canny.extensions import pipeline_runner
    from canny.settings import Settings

    worker = SimpleNamespace(wsgi=create_app(Settings(results_dir=tmp_path / "results")))
    runner = pipeline_runner(worker.wsgi)
    assert runner.child_pids() == []
    assert gc.get_freeze_count() == 0
    try:
        conf["post_worker_init"](worker)
        assert gc.get_freeze_count() > 1000, "the loaded modules must leave the collector's reach"
    finally:
        gc.unfreeze()
    assert len(runner.child_pids()) == runner.processes, "children ready before serving"
    runner.close()


def test_the_master_starts_one_pool_of_children_that_every_worker_shares(
    metrics_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 31: with a child per worker, one child queued uploads while another idled. The
    master starts CANNY_PIPELINE_PROCESSES children before any worker (when_ready), each
    worker's runner uses those (post_fork, post_worker_init) and starts none of its own,
    and on_exit stops them."""
    import gc

    monkeypatch.setenv("CANNY_PIPELINE_PROCESSES", "2")
    conf = runpy.run_path(str(CONF))
    from canny import create_app
    from canny.extensions import pipeline_runner
    from canny.settings import Settings

    server = FakeServer()
    conf["when_ready"](server)
    pool = server.canny_pipeline_pool
    runners = []
    try:
        assert len(pool.child_pids()) == 2
        for _ in range(2):
            worker = SimpleNamespace(wsgi=create_app(Settings(results_dir=tmp_path / "results")))
            conf["post_fork"](server, worker)
            try:
                conf["post_worker_init"](worker)
            finally:
                gc.unfreeze()
            runners.append(pipeline_runner(worker.wsgi))
        assert [runner.child_pids() for runner in runners] == [pool.child_pids()] * 2
        for runner in runners:
            runner.close()  # a worker's exit leaves the backend's children alone
        assert len(pool.child_pids()) == 2
    finally:
        conf["on_exit"](server)
    assert pool.child_pids() == []


# gunicorn's master, as gunicorn/arbiter.py sets it up: WSGIApplication reads the config file,
# Arbiter(app) configures logging (the JSON formatter) and loads the worker class; the app is
# loaded in each worker unless preload_app is set
# (https://docs.gunicorn.org/en/stable/settings.html#preload-app).
MASTER_START = """
import json, sys
sys.argv = ["gunicorn", "-c", sys.argv[1], "canny:create_app()"]
from gunicorn.app.wsgiapp import WSGIApplication
from gunicorn.arbiter import Arbiter
application = WSGIApplication()
arbiter = Arbiter(application)
application.cfg.on_starting(arbiter)
print(json.dumps({"worker": arbiter.worker_class.__name__, "modules": sorted(sys.modules)}))
"""
# What the master itself needs: the worker class, the log formatter, the pipeline pool it
# starts (which leaves OpenCV to its forkserver) and what they import.
MASTER_MODULES = {
    "canny",
    "canny.errors",
    "canny.gunicorn_worker",
    "canny.json_logs",
    "canny.pipeline_pool",
    "canny.settings",
    "canny.upload_handover",
}


def test_the_master_does_not_import_the_app(metrics_dir: Path) -> None:
    """A master that imports the app loads OpenCV, numpy and the store it never uses, and
    every worker inherits that state through fork."""
    result = subprocess.run(
        [sys.executable, "-I", "-c", MASTER_START, str(CONF)],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.splitlines()[-1])
    assert loaded["worker"] == "CannyThreadWorker"
    modules = set(loaded["modules"])
    canny_modules = {name for name in modules if name.split(".")[0] == "canny"}
    assert canny_modules <= MASTER_MODULES, f"the master imported {canny_modules - MASTER_MODULES}"
    assert "canny.images_api" not in modules and "canny.app_factory" not in modules
    assert not {"cv2", "numpy"} & modules, "the master must not load OpenCV or numpy"
    assert not {"flask", "werkzeug", "jinja2"} & modules, "the master must not load Flask"


def test_gunicorn_builds_no_access_log_for_the_app_to_discard(metrics_dir: Path) -> None:
    """With `logconfig_dict` set, gunicorn's own Logger.access builds every request's log
    atoms (it reads the response, the request and the environment) for a logger with no
    handler; the configured logger class does nothing there."""
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    conf = runpy.run_path(str(CONF))
    config = Config()
    for name in ("logger_class", "logconfig_dict", "accesslog", "errorlog", "loglevel"):
        config.set(name, conf[name])
    logger = config.logger_class(config)
    assert isinstance(logger, Logger)
    no_request = SimpleNamespace()  # any attribute gunicorn's atoms read would fail
    assert logger.access(no_request, no_request, {}, None) is None
    with pytest.raises(AttributeError):
        Logger(config).access(no_request, no_request, {}, None)
