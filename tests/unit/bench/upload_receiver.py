"""What receives the bench's uploads in its tests: werkzeug's form parser (the API's reading
of a multipart body) and an HTTP server that stays quiet when wrk drops its connections."""

import io
from http.server import ThreadingHTTPServer

from werkzeug.formparser import parse_form_data
from werkzeug.test import EnvironBuilder


def parse(content_type: str, body: bytes) -> tuple[dict, dict[str, tuple[str, bytes]]]:
    """Form fields, and files as name -> (filename, bytes)."""
    environ = EnvironBuilder(method="POST", input_stream=io.BytesIO(body)).get_environ()
    environ["CONTENT_TYPE"] = content_type
    environ["CONTENT_LENGTH"] = str(len(body))
    # In memory: werkzeug's default spools to temporary files left for the GC to close.
    _, form, files = parse_form_data(environ, stream_factory=lambda **_: io.BytesIO())
    return dict(form), {name: (item.filename, item.read()) for name, item in files.items()}


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """wrk drops its open connections when it stops: expected, not worth a traceback."""
