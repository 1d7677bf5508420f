"""bench/png_encoders.py: the pixel check that decides whether an encoder may count."""

import json

import numpy as np
import pytest

from bench.png_encoders import CANDIDATES, main, same_pixels


def edge_map() -> np.ndarray:
    rng = np.random.default_rng(5)
    return np.where(rng.random((48, 64)) > 0.9, 255, 0).astype(np.uint8)


@pytest.mark.parametrize("name", list(CANDIDATES))
def test_every_candidate_keeps_the_pixels_of_an_edge_map(name: str) -> None:
    edges = edge_map()
    assert same_pixels(CANDIDATES[name](edges), edges)


def test_a_changed_pixel_is_caught() -> None:
    edges = edge_map()
    changed = edges.copy()
    changed[0, 0] = 255 - changed[0, 0]
    assert not same_pixels(CANDIDATES["pillow bilevel level 1"](changed), edges)
    assert not same_pixels(b"not a png", edges)


def test_the_script_prints_a_row_per_sample_and_encoder(capsys: pytest.CaptureFixture) -> None:
    assert main(["--repeats", "1", "--rounds", "1"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 * len(CANDIDATES)
    assert all(row["identical_pixels"] and row["cpu_ms"]["median"] >= 0 for row in rows)
