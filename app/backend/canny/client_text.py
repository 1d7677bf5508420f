"""Client-sent text as error messages quote it: bounded, so a 100 KB field name or value
is never echoed back whole (the probe got its 100 KB name back in a 400 body)."""

from __future__ import annotations

QUOTED_CHARACTERS = 40


def quoted(text: str) -> str:
    """`text` as repr() quotes it, cut to its first QUOTED_CHARACTERS characters."""
    if len(text) <= QUOTED_CHARACTERS:
        return repr(text)
    return f"{text[:QUOTED_CHARACTERS]!r}... ({len(text)} characters)"
