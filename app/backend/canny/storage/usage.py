"""An owner's kept usage record: what the per-owner quota check reads, in one read, instead
of counting the owner's results and references on every upload.

The record is a hint, never the truth: a save adds its result to it, a delete removes it,
and nothing else writes it but a recount from the owner's index and references (the
truth). So it can be

- ahead: after re-runs (each adds its shared original again), a bucket's lifecycle
  expiry, a delete racing a save (which puts back the record it read before). The quota
  check then recounts before it refuses, so an upload is never refused on a record alone;
- behind: when two saves of one owner race (on a bucket both read the record before
  either writes it, and one addition is lost) or a save stops between its index entry and
  the record. The limit is then passed by at most what was in flight, and the record is
  recounted once it is RECOUNT_SECONDS old, so the error cannot outlive that;
- missing or unreadable (a new owner, a record from a crash half-written): recounted.
  An owner with no results gets no record (a refused first upload leaves nothing), so
  its first save has none to add to, and its second upload's check writes one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from canny.storage.contract import Reference

# How long a record is trusted before the next quota check recounts it: what bounds how
# long a lost addition lets an owner stay past a limit. A recount costs one listing of the
# owner's index and one of its references (a request per 1,000 on a bucket), so one per
# owner every few minutes is nothing beside the uploads that keep it current.
RECOUNT_SECONDS = 300.0
# The most results a recount counts: CANNY_OWNER_MAX_RESULTS is at most this (settings), so
# counting further would change no answer, and a bucket counts them in one request.
COUNTED_RESULTS_MAX = 1000
# The record's name inside the owner's folder (file store) or prefix (bucket): no id or
# reference can have it.
RECORD_NAME = "usage"


@dataclass(frozen=True)
class Usage:
    """An owner's results and stored bytes (contract.bytes_used's way of counting), as of
    the last recount at `counted_at` (seconds since the epoch) plus saves since."""

    results: int
    bytes: int
    counted_at: float

    def is_stale(self, now: float) -> bool:
        """Due for a recount; a clock set back counts as due too."""
        return not 0 <= now - self.counted_at < RECOUNT_SECONDS

    def with_result(self, reference: Reference | None) -> Usage:
        """After one more save: one result, and its reference's bytes (own and shared, the
        shared ones counted again even when another result holds them: ahead, never
        behind); a result that shares nothing counts no bytes, as in bytes_used."""
        added = 0 if reference is None else reference.own_bytes + reference.content_bytes
        return replace(self, results=self.results + 1, bytes=self.bytes + added)

    def encode(self) -> bytes:
        return json.dumps(
            {"results": self.results, "bytes": self.bytes, "counted_at": self.counted_at}
        ).encode()

    @classmethod
    def decode(cls, body: bytes) -> Usage | None:
        """The record in `body`; None for anything unreadable (then it is recounted)."""
        try:
            fields = json.loads(body)
            usage = cls(int(fields["results"]), int(fields["bytes"]), float(fields["counted_at"]))
        except (ValueError, TypeError, KeyError):
            return None
        return usage if usage.results >= 0 and usage.bytes >= 0 else None
