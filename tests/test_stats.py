"""StageStats: the counts and seconds of a run's steps add up, in the order the run met them."""

from __future__ import annotations

import pickle

from textdrops.stats import QUARANTINE_REASONS, StageStats


def test_merging_adds_counts_and_seconds_and_keeps_first_seen_order():
    load = StageStats(seconds={"load": 1.0, "write": 0.5}).count(QUARANTINE_REASONS, [("binary", 2)])
    clean = StageStats(seconds={"clean": 2.0, "write": 0.25}).count(
        QUARANTINE_REASONS, [("empty_after_cleanup", 1), ("binary", 1)]
    )
    total = load + clean
    assert list(total.counted(QUARANTINE_REASONS).items()) == [("binary", 3), ("empty_after_cleanup", 1)]
    assert total.seconds == {"load": 1.0, "write": 0.75, "clean": 2.0}
    assert list(total.seconds) == ["load", "write", "clean"]
    # the parts are left as they were
    assert load.counted(QUARANTINE_REASONS) == {"binary": 2} and load.seconds == {"load": 1.0, "write": 0.5}


def test_total_of_many_equals_adding_them_in_turn_and_of_none_is_empty():
    parts = [StageStats().count("statuses", [("kept", i)]) for i in range(1, 4)]
    assert StageStats.total(parts) == parts[0] + parts[1] + parts[2]
    assert StageStats.total(parts).counted("statuses") == {"kept": 6}
    assert StageStats.total([]) == StageStats() and StageStats().counted("anything") == {}


def test_laps_add_time_to_their_stage_and_stats_survive_pickling():
    stats = StageStats()
    first = stats.lap("clean")
    second = stats.lap("clean")
    stats.lap("write")
    assert stats.seconds["clean"] == first + second and set(stats.seconds) == {"clean", "write"}
    assert pickle.loads(pickle.dumps(stats)) == stats  # results cross process pools and Prefect
