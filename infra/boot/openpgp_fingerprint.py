"""Check that an ASCII-armored OpenPGP key file holds only keys of a pinned set.

    python3 openpgp_fingerprint.py KEY_FILE FINGERPRINT [FINGERPRINT ...]

Runs on the droplet at first boot, before apt trusts a repository key fetched over HTTPS.
Debian's cloud images have python3 (cloud-init needs it) but not gpg (canonical/cloud-init
#5535), so the check uses only the standard library: a v4 fingerprint is the SHA-1 of 0x99,
the two-octet body length and the public-key packet body (RFC 4880 section 12.2; packet
headers: section 4.2; armor: section 6.2). Every primary key in the file must be one of the
pinned fingerprints, because apt trusts every key in a `signed-by` file, not only the first
one. A set, not one key: vendors rotate by publishing the old and the new key together for a
while, so a set pinning both (the new one added when it is announced) keeps the boot working
through the rotation, while a key nobody pinned still fails it.
Exit 0 when the keys are pinned ones; 1 with the reason on stderr otherwise.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import sys
from collections.abc import Iterator

PUBLIC_KEY_TAG = 6
_BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
_END = "-----END PGP PUBLIC KEY BLOCK-----"


class KeyFileError(ValueError):
    """The file is not one armored OpenPGP public key this check can read."""


def dearmor(text: str) -> bytes:
    """The binary packets of every armored block (headers and =CRC lines dropped).

    Every block counts: a second block appended to the file would be a second trusted key.
    """
    lines = [line.strip() for line in text.strip().splitlines()]
    if _BEGIN not in lines:
        raise KeyFileError("not an ASCII-armored OpenPGP public key block")
    data = b""
    while _BEGIN in lines:
        start = lines.index(_BEGIN)
        if _END not in lines[start:]:
            raise KeyFileError("an armored block has no END line")
        end = start + lines[start:].index(_END)
        body = lines[start + 1 : end]
        if "" in body:
            body = body[body.index("") + 1 :]
        encoded = "".join(line for line in body if line and not line.startswith("="))
        try:
            data += base64.b64decode(encoded, validate=True)
        except binascii.Error as error:
            raise KeyFileError(f"the armored data is not base64: {error}") from error
        lines = lines[end + 1 :]
    return data


def packets(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(tag, body) of each packet, old and new header formats (no partial lengths)."""
    offset = 0
    while offset < len(data):
        first = data[offset]
        if not first & 0x80:
            raise KeyFileError(f"byte {offset} does not start an OpenPGP packet")
        if first & 0x40:
            tag = first & 0x3F
            length, header = _new_length(data, offset + 1)
        else:
            tag = (first >> 2) & 0x0F
            size = {0: 1, 1: 2, 2: 4}.get(first & 0x03)
            if size is None:
                raise KeyFileError("indeterminate packet length")
            length = int.from_bytes(data[offset + 1 : offset + 1 + size], "big")
            header = 1 + size
        body = data[offset + header : offset + header + length]
        if len(body) != length:
            raise KeyFileError("truncated packet")
        yield tag, body
        offset += header + length


def _new_length(data: bytes, at: int) -> tuple[int, int]:
    first = data[at]
    if first < 192:
        return first, 2
    if first < 224:
        return ((first - 192) << 8) + data[at + 1] + 192, 3
    if first == 255:
        return int.from_bytes(data[at + 1 : at + 5], "big"), 6
    raise KeyFileError("partial body lengths are not allowed in a key")


def fingerprints(text: str) -> list[str]:
    """The v4 fingerprint of every primary public key in the armored text."""
    found = []
    for tag, body in packets(dearmor(text)):
        if tag != PUBLIC_KEY_TAG:
            continue
        if not body or body[0] != 4:
            raise KeyFileError(f"version {body[:1].hex() or '?'} key: only v4 keys are pinned")
        digest = hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body)  # noqa: S324
        found.append(digest.hexdigest().upper())
    return found


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(
            "usage: openpgp_fingerprint.py KEY_FILE FINGERPRINT [FINGERPRINT ...]", file=sys.stderr
        )
        return 64
    path = argv[0]
    pinned = {fingerprint.replace(" ", "").upper() for fingerprint in argv[1:]}
    try:
        with open(path, encoding="ascii") as handle:
            found = fingerprints(handle.read())
    except (OSError, UnicodeDecodeError, KeyFileError) as error:
        print(f"{path}: {error}", file=sys.stderr)
        return 1
    unpinned = [fingerprint for fingerprint in found if fingerprint not in pinned]
    if not found or unpinned:
        print(
            f"{path}: expected only keys of {sorted(pinned)}, found {found} "
            f"(not pinned: {unpinned})",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
