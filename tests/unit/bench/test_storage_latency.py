"""The bucket-path verdicts: round trips are counted from medians against the file store."""

from bench.storage_latency import ROUND_TRIP_S, verdicts

TRIP_MS = ROUND_TRIP_S * 1000


def test_two_extra_round_trips_per_upload_and_three_per_page_meet_the_targets() -> None:
    figures = verdicts([10.0, 12.0, 11.0], [11 + 2 * TRIP_MS] * 3, [3 * TRIP_MS] * 3)
    assert figures["upload_extra_round_trips"] == 2
    assert figures["upload_target_met"] and figures["page_target_met"]


def test_one_more_round_trip_misses_each_target() -> None:
    figures = verdicts([11.0], [11 + 3 * TRIP_MS], [4 * TRIP_MS])
    assert figures["upload_extra_round_trips"] == 3 and figures["page_round_trips"] == 4
    assert not figures["upload_target_met"] and not figures["page_target_met"]
