"""Where the app keeps its settings, result store and pipeline runner, and how code reaches
them: request code through the current app, gunicorn's worker hook through the app it serves
(gunicorn.conf.py), neither through a blueprint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app

from canny.owner_keys import OwnerKeys
from canny.pipeline_runner import PipelineRunner

if TYPE_CHECKING:  # only for annotations: keeps this module free of import cycles
    from canny.settings import Settings
    from canny.storage import ResultStore


def init_app(app: Flask, settings: Settings, store: ResultStore) -> None:
    """Making the runner starts no child: under gunicorn the master starts the backend's
    children and each worker's runner connects to them before it serves (gunicorn.conf.py);
    elsewhere the first upload starts a pool of the runner's own (PipelineRunner.start)."""
    app.extensions["canny_settings"] = settings
    app.extensions["canny_store"] = store
    # Built here so a missing or short secret stops the app at startup, not at a request.
    app.extensions["canny_owner_keys"] = OwnerKeys.from_settings(settings)
    app.extensions["canny_pipeline_runner"] = PipelineRunner(
        settings.max_processing_seconds,
        settings.pipeline_processes,
        settings.pixel_budget,
        opencv_threads=settings.opencv_threads,
        waiting=settings.pipeline_queue,
    )


def pipeline_runner(app: Flask) -> PipelineRunner:
    return app.extensions["canny_pipeline_runner"]


def current_settings() -> Settings:
    return current_app.extensions["canny_settings"]


def current_owner_keys() -> OwnerKeys:
    return current_app.extensions["canny_owner_keys"]


def current_store() -> ResultStore:
    return current_app.extensions["canny_store"]


def current_runner() -> PipelineRunner:
    return pipeline_runner(current_app)
