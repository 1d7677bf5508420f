"""canny/errors.py maps failures to JSON and holds no app state: the app factory passes it in."""

import ast
from pathlib import Path

from canny import errors
from flask import Flask, request

ERRORS_SOURCE = Path(errors.__file__).read_text(encoding="utf-8")


def test_the_body_limit_message_names_the_limit_it_was_given() -> None:
    """A bare Flask app, no canny settings or store in it: the handler needs only the limit."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 10
    errors.init_app(app, max_upload_bytes=4321)
    # Reading the body is what makes Flask check MAX_CONTENT_LENGTH.
    app.add_url_rule("/upload", "upload", lambda: request.get_data(), methods=["POST"])
    response = app.test_client().post("/upload", data=b"x" * 100)
    assert response.status_code == 413
    assert response.get_json() == errors.error_body(
        "payload_too_large", "the upload is larger than the limit of 4321 bytes"
    )


def test_the_error_module_reads_no_app_state() -> None:
    imported = set()
    for node in ast.walk(ast.parse(ERRORS_SOURCE)):
        if isinstance(node, ast.ImportFrom):
            imported |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
    reaching_in = {
        name
        for name in imported
        if name.startswith("canny.") or name.split(".")[-1] in {"current_app", "g", "session"}
    }
    assert not reaching_in, f"canny/errors.py reaches into app state through {reaching_in}"
