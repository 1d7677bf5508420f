"""canny/error_handlers.py maps failures to JSON and holds no app state: the app factory passes
it in. canny/errors.py, the exception classes, is plain Python."""

import ast
import sys
from pathlib import Path

from canny import error_handlers, errors
from flask import Flask, request

HANDLERS_SOURCE = Path(error_handlers.__file__).read_text(encoding="utf-8")
ERRORS_SOURCE = Path(errors.__file__).read_text(encoding="utf-8")


def _imported(source: str) -> set[str]:
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            imported |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
    return imported


def test_the_body_limit_message_names_the_limit_it_was_given() -> None:
    """A bare Flask app, no canny settings or store in it: the handler needs only the limit."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 10
    error_handlers.init_app(app, max_upload_bytes=4321)
    # Reading the body is what makes Flask check MAX_CONTENT_LENGTH.
    app.add_url_rule("/upload", "upload", lambda: request.get_data(), methods=["POST"])
    response = app.test_client().post("/upload", data=b"x" * 100)
    assert response.status_code == 413
    assert response.get_json() == errors.error_body(
        "payload_too_large", "the upload is larger than the limit of 4321 bytes"
    )


def test_the_handlers_read_no_app_state() -> None:
    reaching_in = {
        name
        for name in _imported(HANDLERS_SOURCE)
        if (name.startswith("canny.") and not name.startswith("canny.errors."))
        or name.split(".")[-1] in {"current_app", "g", "session"}
    }
    assert not reaching_in, f"canny/error_handlers.py reaches into app state through {reaching_in}"


def test_the_exception_classes_need_only_the_standard_library() -> None:
    """Pipeline children and gunicorn's master import them; Flask would follow."""
    outside = {
        name
        for name in _imported(ERRORS_SOURCE)
        if name.split(".")[0] not in sys.stdlib_module_names and name.split(".")[0] != "__future__"
    }
    assert outside == set()
