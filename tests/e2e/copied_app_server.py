"""Serves a copy of the backend and of the upload page on one origin, for a test that
changes the copy and not the repository (tests/e2e/test_new_parameter.py).

Run as a script with the copy's backend folder first on PYTHONPATH:
`python copied_app_server.py FRONTEND RESULTS PORT`. werkzeug serves the API, the page at
/index.html and the result files at /results/, the three things the gateway puts on one
origin; nginx itself is not under test here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from canny import create_app
from canny.settings import Settings
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.shared_data import SharedDataMiddleware
from werkzeug.serving import make_server

StartResponse = Callable[..., object]


def private_results(results: Path) -> SharedDataMiddleware:
    """Result files as the gateway serves them: private to the browser's cache (what
    ci.smoke checks); werkzeug's own cache headers would say public."""

    class PrivateResults(SharedDataMiddleware):
        def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
            def private(status: str, headers: list[tuple[str, str]], *rest: object) -> object:
                kept = [(name, value) for name, value in headers if name != "Cache-Control"]
                return start_response(status, [*kept, ("Cache-Control", "private")], *rest)

            return super().__call__(environ, private)

    # Mounted at /results by the dispatcher, which moves that prefix out of PATH_INFO.
    return PrivateResults(_not_found, {"/": str(results)})


def _not_found(environ: dict, start_response: StartResponse) -> Iterable[bytes]:
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


def serve(frontend: Path, results: Path, port: int) -> None:
    app = create_app(Settings(results_dir=results))
    # A path with no file under a mount falls through to the app (werkzeug's
    # SharedDataMiddleware.__call__), so /api/ reaches Flask.
    app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
        SharedDataMiddleware(app.wsgi_app, {"/": str(frontend)}),
        {"/results": private_results(results)},
    )
    make_server("127.0.0.1", port, app, threaded=True).serve_forever()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
