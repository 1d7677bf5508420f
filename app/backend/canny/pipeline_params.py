"""The edge parameters as plain data, for the pipeline and its child processes.

A pipeline child imports only what the pipeline needs: not the pydantic model
(canny.edge_params.EdgeParams: docs/performance.md, "Levers kept"), nor OpenCV for those that
only build these values.
"""

from __future__ import annotations

from typing import NamedTuple


class CannyParams(NamedTuple):
    """What the pipeline reads; EdgeParams.canny_params() makes one from the model."""

    low: int
    high: int
    blur: int
