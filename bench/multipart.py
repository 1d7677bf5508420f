"""The multipart/form-data upload of the API, split around the file's bytes.

The load client sends thousands of uploads that differ only in the file part, so the
envelope is built once and each request is `head + file + tail` (one concatenation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Envelope:
    content_type: str
    head: bytes
    tail: bytes

    def body(self, file_bytes: bytes) -> bytes:
        return b"".join((self.head, file_bytes, self.tail))


def envelope(
    filename: str,
    file_type: str,
    fields: Mapping[str, str] | None = None,
    boundary: str = "canny-bench-boundary-7MA4YWxkTrZu0gW",
) -> Envelope:
    """Form fields first, then the `file` part whose bytes go between head and tail."""
    if any(char in filename for char in '"\r\n'):
        raise ValueError(f"filename must not contain quotes or line breaks: {filename!r}")
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in (fields or {}).items()
    ]
    parts.append(
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {file_type}\r\n\r\n"
    )
    return Envelope(
        content_type=f"multipart/form-data; boundary={boundary}",
        head="".join(parts).encode(),
        tail=f"\r\n--{boundary}--\r\n".encode(),
    )
