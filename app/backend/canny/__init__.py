"""Canny edge detection service: `gunicorn 'canny:create_app()'`.

Importing the package imports nothing else: gunicorn's master loads the worker class and the
log formatter from it (gunicorn.conf.py) and must not import the app, OpenCV or the store,
which only the workers use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: importing flask here would load it in the master
    from flask import Flask

    from canny.settings import Settings

# Room for the multipart envelope and the small form fields around the file itself (the
# backend's body limit; `./run`'s gateway allows the same).
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app; settings come from the environment unless a test passes its own."""
    # Imported here, in the worker that calls it, never at package import (see above).
    from canny.app_factory import build_app

    return build_app(settings)
