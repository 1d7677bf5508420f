"""The bucket-path verdicts: round trips are counted from medians against the file store."""

from pathlib import Path

from canny.settings import Settings

from bench.storage_latency import IN_PROCESS, ROUND_TRIP_S, page_milliseconds, verdicts

TRIP_MS = ROUND_TRIP_S * 1000


def test_two_extra_round_trips_per_upload_and_three_per_page_meet_the_targets() -> None:
    figures = verdicts([10.0, 12.0, 11.0], [11 + 2 * TRIP_MS] * 3, [3 * TRIP_MS] * 3)
    assert figures["upload_extra_round_trips"] == 2
    assert figures["upload_target_met"] and figures["page_target_met"]


def test_one_more_round_trip_misses_each_target() -> None:
    figures = verdicts([11.0], [11 + 3 * TRIP_MS], [4 * TRIP_MS])
    assert figures["upload_extra_round_trips"] == 3 and figures["page_round_trips"] == 4
    assert not figures["upload_target_met"] and not figures["page_target_met"]


def test_a_page_is_timed_first_shown_by_a_new_backend_and_again(tmp_path: Path) -> None:
    """Each first showing is a new app (it has read none of the owner's entries), warmed by
    another owner's page; a second showing follows on the same app."""
    settings = Settings(results_dir=tmp_path / "results", **IN_PROCESS)
    first, again = page_milliseconds(settings, pages=2)
    assert len(first) == len(again) == 2
    assert all(ms > 0 for ms in first + again)
