"""Real OpenPGP keys for tests, made by gpg in a throwaway home: gpg is the oracle the boot
script's gpg-free fingerprint check is compared against."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OpenPgpKey:
    fingerprint: str
    armored: str


class KeyMaker:
    def __init__(self, gpg: str, home: Path) -> None:
        self.gpg = gpg
        self.home = home
        home.mkdir(mode=0o700)

    def _run(self, *args: str) -> str:
        return subprocess.run(
            [self.gpg, "--homedir", str(self.home), "--batch", "--quiet", *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout

    def make(self, email: str, algorithm: str = "ed25519") -> OpenPgpKey:
        self._run(
            "--passphrase", "", "--quick-gen-key", f"Test <{email}>", algorithm, "default", "never"
        )
        listing = self._run("--with-colons", "--fingerprint", email)
        fingerprint = next(
            line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
        )
        return OpenPgpKey(fingerprint, self._run("--armor", "--export", email))

    def export_together(self, *emails: str) -> str:
        """Several keys in one armored block, as a tampered key file could hold them."""
        return self._run("--armor", "--export", *emails)
