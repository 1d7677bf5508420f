"""Builds the Flask app: settings, store, logging, JSON errors and the three blueprints."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from canny import (
    MULTIPART_OVERHEAD_BYTES,
    config_api,
    error_handlers,
    extensions,
    images_api,
    ops_api,
    pipeline,
    request_log,
    request_metrics,
)
from canny.settings import Settings
from canny.storage.selection import start_storage


def build_app(settings: Settings | None = None) -> Flask:
    """Build the app; settings come from the environment unless a test passes its own."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    # The gateway (one proxy) sets X-Forwarded-Proto to the scheme the client used; trust
    # that one header so cookies get `Secure` over HTTPS. Other X-Forwarded-* stay ignored.
    # https://flask.palletsprojects.com/en/stable/deploying/proxy_fix/
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=0, x_proto=1, x_host=0, x_port=0, x_prefix=0)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
    app.json.sort_keys = False
    pipeline.tune_opencv(settings.opencv_threads)

    store, sweeper = start_storage(settings)
    if sweeper is not None:
        app.extensions["canny_retention"] = sweeper
    extensions.init_app(app, settings, store)

    request_log.init_app(app, settings.log_level)
    request_metrics.init_app(app)
    error_handlers.init_app(app, max_upload_bytes=settings.max_upload_bytes)
    app.register_blueprint(images_api.blueprint)
    app.register_blueprint(config_api.blueprint)
    app.register_blueprint(ops_api.blueprint)
    return app
