"""gunicorn settings for the backend: `gunicorn -c gunicorn.conf.py 'canny:create_app()'`.

Values come from CANNY_* environment variables through canny.settings.ServerSettings
(see docs/api.md, "Settings"); gunicorn's own
GUNICORN_CMD_ARGS still overrides anything here. PROMETHEUS_MULTIPROC_DIR is set first:
prometheus_client reads it when imported (by the app in each worker).
"""

import functools
import gc
import os
import signal
import tempfile
from pathlib import Path

from canny.pipeline_pool import PipelinePool, default_processes
from canny.settings import ServerSettings, SettingsError
from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

# Workers share metrics through files in this directory (prometheus_client multiprocess
# mode); without a configured directory each server run gets a private one.
metrics_dir = Path(
    os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="canny-metrics-")
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
# Must exist before a worker imports the app (and its metrics).
metrics_dir.mkdir(parents=True, exist_ok=True)


# CANNY_* come from the backend's own settings module (pydantic-settings): the same
# parsing, bounds and messages as the app's, without importing the app into the master.
try:
    server = ServerSettings()
except SettingsError as error:
    raise SystemExit(str(error)) from None

bind = server.bind
workers = server.workers
# Threads let a worker answer reads while its uploads wait for a pipeline child (see
# canny.pipeline_runner): CPU and memory are bounded by the children and the pixel
# budget, not by threads, so there are enough that a burst of uploads leaves some free.
# gunicorn's gthread worker, with JSON for gunicorn's own errors and a clean stop.
worker_class = "canny.gunicorn_worker.CannyThreadWorker"
threads = server.threads
timeout = server.timeout
graceful_timeout = server.graceful_timeout
keepalive = 5
worker_tmp_dir = server.worker_tmp_dir
# Nothing here uses gunicornc, and one fixed socket path would clash between instances.
control_socket_disable = True
# Recycle workers now and then so slow leaks in native image libraries cannot pile up;
# the jitter keeps all workers from restarting at the same moment.
max_requests = server.max_requests
max_requests_jitter = server.max_requests_jitter
# The backend's pipeline children, which the master starts (when_ready) and every worker
# shares (canny.pipeline_pool).
pipeline_processes = server.pipeline_processes or default_processes()
opencv_threads = server.opencv_threads

# The app logs one JSON line per request itself, so gunicorn's access log stays off (and
# is not even built: canny.gunicorn_worker.NoAccessLog) and gunicorn's own messages use the
# same JSON format.
accesslog = None
logger_class = "canny.gunicorn_worker.NoAccessLog"
errorlog = "-"
loglevel = server.log_level.lower()
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "canny.json_logs.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"handlers": ["stderr"], "level": loglevel.upper()},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": loglevel.upper(), "propagate": False}
    },
}


def on_starting(server: Arbiter) -> None:
    """Start from empty metric files: samples of an earlier run would be counted again."""
    for stale in metrics_dir.glob("*.db"):
        stale.unlink()


def when_ready(server: Arbiter) -> None:
    """Start the backend's pipeline children, shared by all its workers (see
    canny.pipeline_pool), once, in the master.

    gunicorn calls when_ready at the end of Arbiter.start(), after the listeners exist and
    before the first worker is spawned (gunicorn/arbiter.py, Arbiter.start and run), and
    not again on a reload (SIGHUP: Arbiter.reload calls on_reload only), which re-reads this
    file; so the pool is kept on the arbiter, which outlives reloads, not in this module.
    A worker recycled after max_requests finds it there too: no child restarts with it."""
    server.canny_pipeline_pool = PipelinePool.start(pipeline_processes, opencv_threads)


def on_exit(server: Arbiter) -> None:
    """Stop the children once every worker has stopped (gunicorn calls on_exit in
    Arbiter.halt, after stop() has waited for the workers up to graceful_timeout)."""
    pool = getattr(server, "canny_pipeline_pool", None)
    if pool is not None:
        pool.close()


def post_fork(server: Arbiter, worker: Worker) -> None:
    """Keep freed upload buffers for the next request (see canny.allocator: a 4K upload's
    body and form copies were otherwise faulted in anew, docs/performance-levers.md), and
    give the worker the backend's pipeline children (post_fork runs in the new worker before
    it loads the app; post_worker_init, after, has no arbiter to read them from)."""
    from canny import allocator

    if not allocator.keep_freed_memory():
        server.log.warning("could not set malloc thresholds: uploads will cost more CPU")
    worker.canny_pipeline_pool = getattr(server, "canny_pipeline_pool", None)


def post_worker_init(worker: Worker) -> None:
    """Connect the worker's runner to the backend's pipeline children before it serves (a
    worker started without them, as a test may, starts its own: canny.pipeline_runner).

    Then take what the worker has loaded (Flask, OpenCV, numpy, the app) out of the
    collector's reach: each full collection walked all of it, a pause during which the
    worker answered nobody (docs/performance.md, "Levers kept"). Nothing of that is garbage,
    and what requests allocate is still collected."""
    from canny.extensions import pipeline_runner

    pool = getattr(worker, "canny_pipeline_pool", None)
    runner = pipeline_runner(worker.wsgi)
    if pool is None:
        runner.start()
    else:
        runner.start(pool, on_pool_lost=functools.partial(_stop_the_backend, worker))
    gc.freeze()


def _stop_the_backend(worker: Worker) -> None:
    """The backend's pipeline children are gone (their supervisor was killed): every upload
    would answer 503 from now on. A graceful stop of the master (SIGTERM: gunicorn's
    Arbiter.handle_term) lets what runs finish, and whatever runs the backend starts it
    again with new children (compose's `restart: unless-stopped`, `./run`'s supervision)."""
    worker.log.error("the pipeline children are gone: stopping the backend to restart it")
    os.kill(worker.ppid, signal.SIGTERM)


def child_exit(server: Arbiter, worker: Worker) -> None:
    """Drop the live-gauge files of a dead worker; its counters stay in the sums."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
