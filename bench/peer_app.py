"""The naive peer: the edge service as a first version would write it, for comparison.

A plain Flask app (`request.files`, OpenCV's default PNG flags and threads, files written
with open().write(), no fsync, no content address, no limits). It exists only so that
`python -m bench` can say how far the product is ahead of it; it is never deployed.
Run it as `gunicorn 'bench.peer_app:create_peer_app()'` with PEER_RESULTS_DIR set.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import cv2
import numpy as np
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

RESULTS_DIR_VARIABLE = "PEER_RESULTS_DIR"
BLUR, LOW, HIGH = 5, 100, 200


def create_peer_app(results_dir: Path | None = None) -> Flask:
    folder = Path(results_dir or os.environ[RESULTS_DIR_VARIABLE])
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return jsonify(status="ok")

    @app.post("/api/images")
    def upload() -> ResponseReturnValue:
        # werkzeug's form parser, as Flask's upload pattern uses it:
        # https://flask.palletsprojects.com/en/stable/patterns/fileuploads/
        original = request.files["file"].read()
        image = cv2.imdecode(np.frombuffer(original, dtype=np.uint8), cv2.IMREAD_COLOR)
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        blurred = cv2.GaussianBlur(gray, (BLUR, BLUR), 0)
        edges = cv2.Canny(blurred, LOW, HIGH)
        _, png = cv2.imencode(".png", edges)
        name = uuid.uuid4().hex
        with open(folder / f"{name}.png", "wb") as edges_file:
            edges_file.write(png.tobytes())
        with open(folder / f"{name}.orig", "wb") as original_file:
            original_file.write(original)
        height, width = edges.shape
        return jsonify(id=name, width=width, height=height), 201

    return app
