"""The DigitalOcean fingerprint of an OpenSSH public key, to find it among the account's keys.

DigitalOcean refuses a second upload of a key whose fingerprint is already in the account
("422 SSH Key is already in use on your account", e.g. digitalocean/ansible-collection#102),
and identifies keys by the MD5 fingerprint of the key blob, colon-separated (the `fingerprint`
attribute of digitalocean_ssh_key in terraform-provider-digitalocean docs/resources/ssh_key.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib


class PublicKeyError(ValueError):
    """The text is not an OpenSSH public key line."""


def md5_fingerprint(public_key: str) -> str:
    """ "ssh-ed25519 AAAA... comment" -> "aa:bb:...", as DigitalOcean shows it."""
    parts = public_key.split()
    if len(parts) < 2:
        raise PublicKeyError("expected `<type> <base64 key> [comment]`")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except binascii.Error as error:
        raise PublicKeyError(f"the key is not base64: {error}") from error
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[index : index + 2] for index in range(0, len(digest), 2))
