"""A DNS server for the droplets' containers (their dockerd's --dns): names under
digitaloceanspaces.com resolve to the rehearsal's Spaces stand-in, every other name is
NXDOMAIN. The droplets reach it only by egress, as they reach Spaces.

The wire format is RFC 1035's (section 4.1): a 12-byte header, the question echoed back, one
A record per answer with a pointer (0xc00c) to the question's name.
"""

from __future__ import annotations

import socket
import struct
import threading

ZONE = "digitaloceanspaces.com"
TYPE_A = 1
NXDOMAIN = 3
TTL_S = 60


def _question(query: bytes) -> tuple[str, int, int]:
    """The first question's name, type and the offset after it."""
    labels, offset = [], 12
    while query[offset]:
        length = query[offset]
        labels.append(query[offset + 1 : offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    qtype = struct.unpack("!H", query[offset + 1 : offset + 3])[0]
    return ".".join(labels).lower(), qtype, offset + 5


def answer(query: bytes, address: str) -> bytes:
    """The response to one query: `address` for A records in ZONE, nothing for other types
    there, NXDOMAIN elsewhere."""
    name, qtype, end = _question(query)
    in_zone = name == ZONE or name.endswith("." + ZONE)
    records = b""
    if in_zone and qtype == TYPE_A:
        records = struct.pack("!HHHIH", 0xC00C, TYPE_A, 1, TTL_S, 4) + socket.inet_aton(address)
    flags = 0x8180 | (0 if in_zone else NXDOMAIN)
    query_id = struct.unpack("!H", query[:2])[0]
    header = struct.pack("!HHHHHH", query_id, flags, 1, int(bool(records)), 0, 0)
    return header + query[12:end] + records


class SpacesDns:
    """`with SpacesDns(address):` serves UDP port 53 on `address` until the block ends."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> SpacesDns:
        self._socket.bind((self.address, 53))
        self._socket.settimeout(0.5)
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                query, client = self._socket.recvfrom(512)
            except TimeoutError:
                continue
            try:
                self._socket.sendto(answer(query, self.address), client)
            except (IndexError, struct.error, UnicodeError):
                continue  # not a query we understand: no answer, the client retries elsewhere

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._socket.close()
