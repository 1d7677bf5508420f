"""Where the app keeps its settings and result store, and how request code reaches them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:  # only for annotations: keeps this module free of import cycles
    from canny.settings import Settings
    from canny.storage import ResultStore


def init_app(app: Flask, settings: Settings, store: ResultStore) -> None:
    app.extensions["canny_settings"] = settings
    app.extensions["canny_store"] = store


def current_settings() -> Settings:
    return current_app.extensions["canny_settings"]


def current_store() -> ResultStore:
    return current_app.extensions["canny_store"]
