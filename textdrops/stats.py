"""What the steps of a run did: counts per group and seconds per stage, one mergeable type.

Every step returns a `StageStats`; the run record adds them up (`a + b`, `StageStats.total`). Keys keep
the order they were first seen in, so a merged total lists its keys as the run met them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

# count groups
QUARANTINE_REASONS = "quarantine_reasons"  # files quarantined, per reason
CHARS_REMOVED = "chars_removed"  # characters cleanup removed, per rule
LINES_REMOVED = "lines_removed"  # lines cleanup removed, per rule
STATUSES = "statuses"  # documents per dedupe status
ROWS = "rows"  # rows written per table
HISTORY = "history"  # documents of earlier drops dedupe searched, and of which shared a key with this drop
STORIES = "stories"  # what story linking did (documents linked, new stories, joined stories of earlier drops)


@dataclass
class StageStats:
    """Counts (group -> key -> n) and seconds per stage; picklable, so it crosses process pools and Prefect."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    _last: float = field(default_factory=time.perf_counter, repr=False, compare=False)

    def lap(self, stage: str) -> float:
        """Add the time since the last lap (or since these stats were made) to `stage`; returns it."""
        now = time.perf_counter()
        elapsed, self._last = now - self._last, now
        self.seconds[stage] = self.seconds.get(stage, 0.0) + elapsed
        return elapsed

    def count(self, group: str, pairs: Iterable[tuple[str, int]]) -> StageStats:
        """Add (key, n) pairs to a group of counts; returns self."""
        totals = self.counts.setdefault(group, {})
        for key, value in pairs:
            totals[key] = totals.get(key, 0) + int(value)
        return self

    def counted(self, group: str) -> dict[str, int]:
        """The counts of one group ({} when nothing was counted)."""
        return dict(self.counts.get(group, {}))

    def __add__(self, other: StageStats) -> StageStats:
        merged = StageStats({group: dict(values) for group, values in self.counts.items()}, dict(self.seconds))
        for group, values in other.counts.items():
            merged.count(group, values.items())
        for stage, seconds in other.seconds.items():
            merged.seconds[stage] = merged.seconds.get(stage, 0.0) + seconds
        return merged

    @classmethod
    def total(cls, parts: Iterable[StageStats]) -> StageStats:
        """The sum of many stats, in order."""
        result = cls()
        for part in parts:
            result = result + part
        return result
