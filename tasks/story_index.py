"""The story history on disk: what later drops are linked against, queried by key instead of loaded whole.

Layout, one partition per drop (staged with the run's tables and swapped in by the same commit):

    _story_index/drop_id=<drop>/part-00000.parquet   per story: the drop's bounded contribution (STORY_INDEX),
                                                      in row groups of ROW_GROUP rows
    _story_index/drop_id=<drop>/keys.npy             sorted 64-bit lookup keys: one per term, @entity and
                                                      story id of every row
    _story_index/drop_id=<drop>/rows.npy             the row of the part each key belongs to
    _story_vocabulary/drop_id=<drop>/part-00000.parquet   the drop's document frequencies

and the lookup of every drop's keys, tiered as the dedupe index's segments are (`tasks.dedupe_index`):

    _story_index/_lookup/MANIFEST.json               live segments: level, drops (id, rows of its part, run),
                                                      masked drops; replaced atomically
    _story_index/_lookup/segments/<name>/keys.npy    sorted keys of several drops' parts
    _story_index/_lookup/segments/<name>/rows.npy    the row of its drop's part each key belongs to
    _story_index/_lookup/segments/<name>/drops.npy   its drop (index into the manifest entry's drops)
    _story_index/_lookup/segments/<name>/stories.parquet   a copy of its drops' parts, one after the other,
                                                      in row groups of ROW_GROUP rows
    _story_index/_lookup/segments/<name>/starts.npy  where each drop's rows start in it (written last)

A run looks up its documents' candidate keys (the top terms and entities the linker picks candidates by)
in the lookup's segments through memory maps, reads the story ids of the matching rows, then looks up those
stories' ids the same way and reads only their rows (the row groups holding them) from the segments' copies:
every story that could be a candidate, with its whole history, and nothing else
(`tasks.stories.StoryHistory`), from O(log n) files, never one per drop. A merge copies its inputs' rows of
live drops into the merged segment. A segment written by a release before the copies (or whose copy is
damaged) gets one from its drops' parts on first use; a drop whose part cannot be had, or does not have the
rows the lookup indexed, holds none in the copy and is read from its part. The commit adds
the drop's keys as a level-0 segment (`commit_lookup`, under the index lock), masking its earlier ones, and
merges a level holding FANOUT segments into one of the next level, so a run opens O(log n) key arrays for
n drops, not one per drop. A drop the lookup does not hold (a folder written before it existed) is read
through its partition's own keys and added to the lookup on first use; a drop whose commit is pending (its
lookup entry may lag behind its partition) is read through its own keys. A partition written before the
per-partition keys existed gets them built from its part on first use (written atomically: the keys of a
part are a pure function of it, so a crash leaves no keys or whole ones). A damaged file costs that drop's
summaries, with a warning naming it (`textdrops.damaged`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from textdrops.config import StorySettings
from textdrops.damaged import read_parts, warn_unreadable
from textdrops.durable import fsync_path, replace_durably, write_text_durably
from textdrops.faults import crash_point
from textdrops.locking import index_lock
from textdrops.remote import remote_of
from textdrops.schema import STORY_INDEX
from textdrops.staging import (
    COMMIT_MARKER,
    DROP_ID_FILE,
    STAGING,
    live_partition,
    staged_partition,
    staged_story_lookup,
)

log = logging.getLogger(__name__)

INDEX_TABLE = "_story_index"
VOCABULARY_TABLE = "_story_vocabulary"
KEYS, ROWS, DROPS = "keys.npy", "rows.npy", "drops.npy"
STORIES, STARTS = "stories.parquet", "starts.npy"  # a lookup segment's copy of its drops' summaries
LOOKUP = "_lookup"  # _story_index/_lookup/: never a partition (no drop_id=), so no reader of the table sees it
LOOKUP_FORMAT = "textdrops-story-lookup/1"
MANIFEST, SEGMENTS = "MANIFEST.json", "segments"
FANOUT = 4  # a level of the lookup holding this many segments is merged into one of the next level
# a lookup segment of this many keys is merged no further, and a first-use build writes segments of at most
# about this many (a merge holds ~40 bytes a key: ~400 MB); past it segments grow by one per this many keys
MAX_MERGED_KEYS = 10_000_000
_LOOKUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
ROW_GROUP = 32  # rows per row group of a part: a lookup reads (and decodes) only the groups holding its rows
_STORY_PREFIX = "#"  # story-id keys share the key space with words and @entities, which never start so
INDEX_COLUMNS = STORY_INDEX.polars_schema(exclude=("run_id",))
_FIX = "re-run that drop with --force to rebuild it"


def key_of(text: str) -> int:
    """A lookup key: the first 8 bytes of the string's blake2b (stable across processes and versions)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def story_key(story_id: str) -> int:
    return key_of(_STORY_PREFIX + story_id)


def entity_key(name: str) -> str:
    """The linker's key of an entity stored by its display name (see tasks.stories)."""
    return "@" + name.lower()


def row_keys(index: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(keys, rows) of a part's rows, sorted by key: every stored term, @entity and the story id."""
    n = index.height
    rows = pl.Series("row", np.arange(n, dtype=np.uint32))
    framed = index.select("story_id", "terms", "entities").with_columns(rows)
    strings = pl.concat(
        [
            framed.select("row", key=pl.lit(_STORY_PREFIX) + pl.col("story_id")),
            framed.select("row", "terms").explode("terms").select("row", key=pl.col("terms").struct.field("term")),
            framed.select("row", "entities")
            .explode("entities")
            .select("row", key=pl.lit("@") + pl.col("entities").struct.field("name").str.to_lowercase()),
        ]
    ).drop_nulls("key")
    unique = strings["key"].unique().to_list()
    hashed = dict(zip(unique, map(key_of, unique), strict=True))
    # (an empty column comes back from replace_strict without its dtype: cast it, or np.save refuses it)
    keys = strings["key"].replace_strict(hashed, return_dtype=pl.UInt64).to_numpy().astype(np.uint64, copy=False)
    order = np.lexsort((strings["row"].to_numpy(), keys))
    return keys[order], strings["row"].to_numpy()[order].astype(np.uint32)


def write_lookup(folder: Path, index: pl.DataFrame) -> None:
    """The lookup files of a partition whose part holds `index` (rows in the part's order)."""
    keys, rows = row_keys(index)
    # rows first: keys present means both are whole
    replace_durably(folder / ROWS, functools.partial(np.save, arr=rows, allow_pickle=False), sync_folder=False)
    replace_durably(folder / KEYS, functools.partial(np.save, arr=keys, allow_pickle=False), sync_folder=False)
    fsync_path(folder)


@dataclass
class _Segment:
    """One drop's partition of `_story_index`, opened lazily."""

    folder: Path
    part: Path
    keys: np.ndarray | None = None
    rows: np.ndarray | None = None
    broken: bool = False
    reader: _RowReader | None = None

    def open(self) -> bool:
        if self.broken:
            return False
        if self.keys is not None:
            return True
        try:
            keys = np.load(self.folder / KEYS, mmap_mode="r", allow_pickle=False)
            rows = np.load(self.folder / ROWS, mmap_mode="r", allow_pickle=False)
            if len(keys) != len(rows) or keys.dtype != np.uint64:
                raise ValueError("lookup files disagree")
        except (OSError, ValueError, EOFError):  # missing (written before the lookup existed) or damaged
            keys, rows = self._rebuild()
            if keys is None:
                return False
        self.keys, self.rows = keys, rows
        return True

    def _rebuild(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        try:
            index = pl.read_parquet(self.part, hive_partitioning=False, glob=False)
        except Exception as exc:  # noqa: BLE001  (polars raises several error types for a damaged file)
            warn_unreadable("story summaries", self.part, exc, _FIX)
            self.broken = True
            return None, None
        write_lookup(self.folder, index)
        log.info("built the story lookup of %s (a partition written before it existed)", self.folder)
        return row_keys(index)

    def rows_of_keys(self, wanted: np.ndarray) -> np.ndarray:
        """Rows of the part holding one of the sorted `wanted` keys."""
        if not self.open() or not len(self.keys):
            return np.empty(0, np.int64)
        lo = np.searchsorted(self.keys, wanted, side="left")
        hi = np.searchsorted(self.keys, wanted, side="right")
        hit = hi > lo
        if not hit.any():
            return np.empty(0, np.int64)
        lo, hi = lo[hit], hi[hit]
        spans = hi - lo
        positions = np.repeat(lo - np.cumsum(np.r_[0, spans[:-1]]), spans) + np.arange(spans.sum())
        return np.unique(np.asarray(self.rows[np.sort(positions)], dtype=np.int64))

    def read_rows(self, rows: np.ndarray, columns: list[str] | None = None) -> pl.DataFrame | None:
        """The given sorted rows of the part (reading only the row groups that hold them)."""
        try:
            if self.reader is None:
                self.reader = _RowReader(self.part)
            return self.reader.read(rows, columns)
        except Exception as exc:  # noqa: BLE001
            warn_unreadable("story summaries", self.part, exc, _FIX)
            self.broken = True
            return None


class _RowReader:
    """Rows of one Parquet file by position, reading (and decoding) only the row groups that hold them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = pq.ParquetFile(path)
        meta = self.file.metadata
        self.starts = np.cumsum([0, *(meta.row_group(i).num_rows for i in range(meta.num_row_groups))])

    @property
    def num_rows(self) -> int:
        return int(self.starts[-1])

    def read(self, rows: np.ndarray, columns: list[str] | None = None) -> pl.DataFrame:
        """The sorted `rows` (`columns` of them)."""
        group_of = np.searchsorted(self.starts, rows, side="right") - 1
        groups = np.unique(group_of)
        table = self.file.read_row_groups(groups.tolist(), columns=columns)
        sizes = np.diff(self.starts)[groups]
        base = np.cumsum([0, *sizes])[:-1]  # each read group's first row in `table`
        local = base[np.searchsorted(groups, group_of)] + rows - self.starts[group_of]
        return pl.from_arrow(table)[np.asarray(local, dtype=np.int64)]


@dataclass
class _SegmentStories:
    """The summaries a lookup segment holds (`stories.parquet`): the rows of its drops' parts, each drop's rows
    together in the order of the segment's drops, from `starts[i]` to `starts[i + 1]` (a drop masked when the
    segment was written holds none), so a key's row in its drop's part is row `starts[drop] + row` here."""

    reader: _RowReader
    starts: np.ndarray
    held: np.ndarray  # per drop: whether its rows are here (False: it is read from its own part)

    def part_rows(self, rows: np.ndarray) -> np.ndarray:
        """Each of the segment's `rows`' row in its drop's part."""
        return rows - self.starts[np.searchsorted(self.starts, rows, side="right") - 1]


class StoredStories:
    """The `_story_index` partitions of every drop but one, looked up by key (a `tasks.stories` source): through
    the tiered lookup (`_story_index/_lookup/`) for the drops it holds, through each partition's own keys for
    the others (a drop whose commit is pending), which are added to the lookup on first use."""

    def __init__(self, out_dir: Path, exclude_drop: str) -> None:
        self.out_dir = Path(out_dir)
        root = self.out_dir / INDEX_TABLE
        own = live_partition(self.out_dir, INDEX_TABLE, exclude_drop)
        folders = sorted(p for p in root.glob("drop_id=*") if p.is_dir() and p != own) if root.exists() else []
        self.folders = {folder.name.removeprefix("drop_id="): folder for folder in folders}
        self.segments: dict[str, _Segment | None] = {}  # the partitions opened, by drop (None: no part)
        self.lookup: list[tuple[LookupSegment, np.ndarray, np.ndarray, np.ndarray]] = []  # (segment, keys, rows, drops)
        self.stories: dict[str, _SegmentStories] = {}  # the summaries of each segment that holds them
        self.covered: dict[str, int] = {}  # drops read through the lookup: rows of the part it indexed
        self.checked: set[str] = set()  # covered drops whose part was found to be the one indexed
        if self.folders:
            self._open_lookup()
        self.uncovered = [d for d in self.folders if d not in self.covered and self._segment(d) is not None]

    def _segment(self, drop: str) -> _Segment | None:
        """The drop's partition (its first part); a drop the lookup holds is not listed (its part is known)."""
        if drop not in self.segments:
            folder = self.folders[drop]
            known = folder / "part-00000.parquet"
            if drop in self.covered and known.exists():
                self.segments[drop] = _Segment(folder, known)
                return self.segments[drop]
            parts = sorted(folder.glob("*.parquet"))
            if len(parts) > 1:  # one part per drop is all a run writes
                log.warning("%s holds %d parts; only %s is used", folder, len(parts), parts[0].name)
            self.segments[drop] = _Segment(folder, parts[0]) if parts else None
        return self.segments[drop]

    def _open_lookup(self) -> None:
        pending = _pending_drops(self.out_dir)
        live = read_lookup(self.out_dir)
        indexed = {d for s in live for d in s.live()}
        missing = [d for d in self.folders if d not in indexed and d not in pending]
        if missing:
            self._build(missing)
            live = read_lookup(self.out_dir)
        stories = [_open_segment_stories(self.out_dir, s) for s in live]
        if any(held is None for held in stories):  # written by an earlier release, or damaged: copied (again)
            self._add_stories(pending)
            live = read_lookup(self.out_dir)
            stories = [_open_segment_stories(self.out_dir, s) for s in live]
        for segment, held in zip(live, stories, strict=True):
            try:
                opened = _open_lookup_segment(self.out_dir, segment)
            except (OSError, ValueError, EOFError) as exc:  # its drops are read from their partitions
                log.warning("story lookup segment %s is unreadable (%s); its drops are read as they are", segment, exc)
                continue
            self.lookup.append((segment, *opened))
            if held is not None:
                self.stories[segment.name] = held
            for drop, (rows, _) in segment.live().items():
                if drop in self.folders and drop not in pending:
                    self.covered[drop] = rows

    def _build(self, missing: list[str]) -> None:
        """Add the drops' partitions (written before the lookup existed, or outside a commit) to the lookup, in
        segments of at most about MAX_MERGED_KEYS keys."""
        try:
            with index_lock(self.out_dir):
                indexed = {d for s in read_lookup(self.out_dir) for d in s.live()}
                parts, held, added = [], 0, 0
                for drop in missing:
                    segment = self._segment(drop)
                    if drop in indexed or segment is None or not segment.open():
                        continue
                    parts.append(
                        (
                            (drop, _part_rows(segment.part), ""),
                            np.asarray(segment.keys),
                            np.asarray(segment.rows),
                            segment.part,
                        )
                    )
                    held += len(segment.keys)
                    segment.keys = segment.rows = None  # the lookup holds them now (and memory does not)
                    if held >= MAX_MERGED_KEYS or drop == missing[-1]:
                        self._add_built(parts)
                        added += len(parts)
                        parts, held = [], 0
                if parts:
                    self._add_built(parts)
                    added += len(parts)
                log.info("added %d drops to the story lookup of %s", added, self.out_dir)
        except OSError as exc:  # a read-only copy, say: the drops are read from their partitions
            log.warning("could not add %d drops to the story lookup of %s: %s", len(missing), self.out_dir, exc)

    def _add_stories(self, pending: set[str]) -> None:
        """Give the lookup segments written without their drops' summaries (by a release before they held
        them) a copy of them, read once from the drops' parts, so later runs read O(log n) files."""
        try:
            with index_lock(self.out_dir):
                added = sum(_add_segment_stories(self.out_dir, s, pending) for s in read_lookup(self.out_dir))
            if added:
                log.info("copied the story summaries of %d lookup segments of %s into them", added, self.out_dir)
        except OSError as exc:  # a read-only copy, say: the drops are read from their partitions
            log.warning("could not copy the story summaries into the lookup of %s: %s", self.out_dir, exc)

    def _add_built(self, parts: list[tuple[tuple[str, int, str], np.ndarray, np.ndarray, Path | None]]) -> None:
        name = f"built-{hashlib.sha1(json.dumps([p[0] for p in parts]).encode()).hexdigest()[:20]}"
        level = 0  # the level of as many drops merged, so the drops of a large folder are not rewritten by
        while FANOUT ** (level + 1) <= len(parts):  # each merge of the few coming next
            level += 1
        _add_to_lookup(self.out_dir, name, parts, level)

    def __bool__(self) -> bool:
        return bool(self.covered or self.uncovered)

    def _matches(self, wanted: np.ndarray) -> dict[tuple[str, str], np.ndarray]:
        """Rows holding one of the sorted `wanted` keys, by where they are read: ("segment", name) for rows of
        a lookup segment's summaries, ("part", drop) for rows of a drop's own part."""
        found: dict[tuple[str, str], list[np.ndarray]] = {}
        for segment, keys, rows, drops in self.lookup:
            stories = self.stories.get(segment.name)
            if not len(keys):
                continue
            lo = np.searchsorted(keys, wanted, side="left")
            hi = np.searchsorted(keys, wanted, side="right")
            hit = hi > lo
            if not hit.any():
                continue
            lo, hi = lo[hit], hi[hit]
            spans = hi - lo
            positions = np.sort(np.repeat(lo - np.cumsum(np.r_[0, spans[:-1]]), spans) + np.arange(spans.sum()))
            owners = np.asarray(drops[positions], dtype=np.int64)
            rows_found = np.asarray(rows[positions], dtype=np.int64)
            live = segment.live()  # once per segment: a merged segment holds thousands of drops
            wanted_owner = np.zeros(len(segment.drops), dtype=bool)
            for i in np.unique(owners).tolist():
                drop = segment.drops[i][0]
                wanted_owner[i] = drop in self.covered and drop in live
            if stories is not None:
                take = wanted_owner[owners] & stories.held[owners]
                found.setdefault(("segment", segment.name), []).append(stories.starts[owners[take]] + rows_found[take])
                wanted_owner &= ~stories.held
            for i in np.flatnonzero(wanted_owner).tolist():
                found.setdefault(("part", segment.drops[i][0]), []).append(rows_found[owners == i])
        result = {source: np.unique(np.concatenate(parts)) for source, parts in found.items()}
        for drop in self.uncovered:
            rows = self._segment(drop).rows_of_keys(wanted)
            if len(rows):
                result["part", drop] = rows
        return result

    def _still_indexed(self, drop: str) -> bool:
        """Whether the drop's part is the one the lookup indexed (same rows); if not, the drop is read through
        its own keys from now on."""
        if drop not in self.covered or drop in self.checked:
            return True
        self.checked.add(drop)
        try:
            same = _part_rows(self._segment(drop).part) == self.covered[drop]
        except Exception:  # noqa: BLE001  (read_rows warns about a damaged part)
            return True
        if not same:
            log.warning("the story lookup of drop %s lags behind its partition; its own keys are read", drop)
            del self.covered[drop]
            self.uncovered.append(drop)
        return same

    def _read_matching(
        self, wanted: np.ndarray, read: dict[tuple[str, str], np.ndarray], columns: list[str]
    ) -> list[pl.DataFrame]:
        """`columns` of the rows holding one of the sorted `wanted` keys, but those in `read` (which they are
        added to), each with where it was read (`_src`, a key of `read`, and `_at`, its row there) and its row
        in its drop's part (`_row`)."""
        frames = []
        for source, rows in sorted(self._matches(wanted).items() if len(wanted) else ()):
            kind, name = source
            if kind == "part":
                segment = self._segment(name)
                if segment is None:
                    continue
                if not self._still_indexed(name):
                    rows = segment.rows_of_keys(wanted)
            rows = np.setdiff1d(rows, read.get(source, ()), assume_unique=True)
            if not len(rows):
                continue
            frame = self._read(source, rows, columns)
            if frame is not None:
                read[source] = np.union1d(read.get(source, ()), rows).astype(np.int64)
                local = rows if kind == "part" else self.stories[name].part_rows(rows)
                frames.append(
                    frame.select(columns).with_columns(
                        _src=pl.lit(f"{kind}/{name}"), _at=pl.Series(rows), _row=pl.Series(local, dtype=pl.Int64)
                    )
                )
        return frames

    def _read(self, source: tuple[str, str], rows: np.ndarray, columns: list[str] | None) -> pl.DataFrame | None:
        """The sorted `rows` of a source (see _matches), None with a warning naming its file when unreadable."""
        kind, name = source
        if kind == "part":
            return self._segment(name).read_rows(rows, columns)
        reader = self.stories[name].reader
        try:
            return reader.read(rows, columns)
        except Exception as exc:  # noqa: BLE001  (a file damaged since it was opened)
            warn_unreadable("story summaries", reader.path, exc, f"delete {STARTS} beside it to rebuild it")
            return None

    def rows_holding(
        self, keys: Iterable[str], story_ids: Iterable[str], window: tuple[date, date] | None = None
    ) -> pl.DataFrame:
        """Every row of the stories that have a row holding one of `keys` (words, @entities) or whose id is
        in `story_ids`, in drop order (each drop's rows in its part's order); with a `window` (first, last
        day), only the stories with a row dated within it (`last_date >= first`, `first_date <= last`). The
        matching rows' ids and dates are read first (the row groups holding them), from the lookup segment
        that holds the summaries of their drop or from the drop's own part; a story's rows in drops that hold
        none of the keys are then found by its id; then the whole rows of the stories wanted."""
        named = set(story_ids)
        wanted = np.unique(np.array([key_of(k) for k in keys] + [story_key(s) for s in named], dtype=np.uint64))
        read: dict[tuple[str, str], np.ndarray] = {}
        light = ["story_id", "drop_id", "first_date", "last_date"]
        frames = [f.with_columns(_pass=0) for f in self._read_matching(wanted, read, light)]
        found = sorted({s for f in frames for s in f["story_id"].to_list()})
        more = np.unique(np.array([story_key(s) for s in found], dtype=np.uint64))
        frames += [f.with_columns(_pass=1) for f in self._read_matching(more, read, light)]
        # a key collision reads a row of a story that holds no key: harmless (it is never a candidate), but
        # a story-key collision could add a stranger's rows to a story, so only the stories found keep rows
        dates = pl.concat(frames, how="vertical_relaxed").filter(pl.col("story_id").is_in(found)) if frames else None
        if dates is not None and window is not None:
            first, last = window
            active = dates.filter((pl.col("last_date") >= first) & (pl.col("first_date") <= last))["story_id"]
            dates = dates.filter(pl.col("story_id").is_in(active.unique().implode()))
        if dates is None or not dates.height:
            return pl.DataFrame(schema=INDEX_COLUMNS)
        whole = []
        for (src,), at in dates.group_by("_src"):
            kind, _, name = src.partition("/")
            rows = np.sort(at["_at"].to_numpy())
            frame = self._read((kind, name), rows, None)
            if frame is not None:
                whole.append(frame.select(list(INDEX_COLUMNS)).with_columns(_src=pl.lit(src), _at=pl.Series(rows)))
        if not whole:
            return pl.DataFrame(schema=INDEX_COLUMNS)
        order = dates.select("_src", "_at", "_pass", "_row")
        rows = pl.concat(whole, how="vertical_relaxed").join(order, on=["_src", "_at"])
        return rows.sort("_pass", "drop_id", "_row").drop("_src", "_at", "_pass", "_row").cast(INDEX_COLUMNS)

    def rows_of(self, story_ids: Iterable[str]) -> pl.DataFrame:
        """Every row of the given stories."""
        ids = sorted(set(story_ids))
        return self.rows_holding((), ids).filter(pl.col("story_id").is_in(ids))


# --- the tiered lookup of every drop's keys --------------------------------------------------------------------


@dataclass(frozen=True)
class LookupSegment:
    """A live segment of the lookup: the keys of several drops' parts, `drops` as (drop_id, rows of its part,
    run that wrote it or "" when built from a partition on first use), in the order `drops.npy` indexes
    them. `masked` drops were re-run since: their keys here are no longer live."""

    name: str
    level: int
    drops: tuple[tuple[str, int, str], ...]
    masked: tuple[str, ...] = ()
    keys: int = 0

    def live(self) -> dict[str, tuple[int, str]]:
        return {drop: (rows, run) for drop, rows, run in self.drops if drop not in self.masked}

    def entry(self) -> dict:
        return {
            "name": self.name,
            "level": self.level,
            "drops": [list(d) for d in self.drops],
            "masked": list(self.masked),
            "keys": self.keys,
        }


def lookup_root(out_dir: Path) -> Path:
    return Path(out_dir) / INDEX_TABLE / LOOKUP


def _valid_lookup_segment(entry: object) -> LookupSegment | None:
    try:
        name, level, drops, masked = entry["name"], entry["level"], entry["drops"], entry["masked"]
        members = tuple((str(d), int(n), str(r)) for d, n, r in drops)
        keys = int(entry.get("keys", 0))
    except (KeyError, TypeError, ValueError):
        return None
    if not (isinstance(name, str) and _LOOKUP_NAME.match(name) and isinstance(level, int) and members):
        return None
    return LookupSegment(name, level, members, tuple(str(m) for m in masked), keys)


def read_lookup(out_dir: Path) -> list[LookupSegment]:
    """The live segments of the lookup (none when it does not exist yet or its manifest is unreadable: the
    drops are then read from their partitions, and the lookup is built again)."""
    path = lookup_root(out_dir) / MANIFEST
    if not path.exists():
        return []
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["segments"]
        segments = [_valid_lookup_segment(e) for e in entries]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s is unreadable (%s): the story lookup is built again from the partitions", path, exc)
        return []
    if any(s is None for s in segments):
        log.warning("%s holds a malformed entry: the story lookup is built again from the partitions", path)
        return []
    return segments


def _lookup_text(segments: list[LookupSegment]) -> str:
    return json.dumps({"format": LOOKUP_FORMAT, "segments": [s.entry() for s in segments]})


def _lookup_hash(out_dir: Path) -> str:
    path = lookup_root(out_dir) / MANIFEST
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def _write_lookup_manifest(out_dir: Path, segments: list[LookupSegment]) -> None:
    write_text_durably(lookup_root(out_dir) / MANIFEST, _lookup_text(segments))
    crash_point("after_story_lookup_swap")
    _remove_unnamed(out_dir, segments)


def _remove_unnamed(out_dir: Path, segments: list[LookupSegment]) -> None:
    """Delete the segment folders the manifest does not name (replaced, merged, or left by a crash)."""
    for folder in (lookup_root(out_dir) / SEGMENTS).iterdir():
        if folder.name not in {s.name for s in segments}:
            shutil.rmtree(folder, ignore_errors=True)


Part = tuple[tuple[str, int, str], np.ndarray, np.ndarray, "Path | None"]  # entry, keys, rows, the drop's part


def _write_lookup_segment(
    folder: Path,
    level: int,
    entries: list[tuple[str, int, str]],
    keys: np.ndarray,
    rows: np.ndarray,
    drops: np.ndarray,
    stories: Iterable[pl.DataFrame | None],
) -> LookupSegment:
    """One segment of the lookup (each key's row and drop, an index into `entries`) written to `folder`, sorted
    by key, with `stories`, the summaries of each entry in turn, copied into it (files fsynced, not yet named
    by the manifest). An entry without them (None: its part unreadable, say) is read from its own part."""
    if folder.exists():  # a segment a crash left unnamed
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    order = np.argsort(keys, kind="stable")  # each drop's keys are sorted already: runs that timsort merges
    for file_name, array, dtype in ((KEYS, keys, np.uint64), (ROWS, rows, np.uint32), (DROPS, drops, np.uint32)):
        with open(folder / file_name, "wb") as handle:
            np.save(handle, array[order].astype(dtype, copy=False), allow_pickle=False)
            handle.flush()
            os.fsync(handle.fileno())
    _write_segment_stories(folder, entries, stories)
    fsync_path(folder)
    fsync_path(folder.parent)
    return LookupSegment(folder.name, level, tuple(entries), (), len(keys))


_STORIES_SCHEMA = pl.DataFrame(schema=INDEX_COLUMNS).to_arrow().schema


def _write_segment_stories(folder: Path, entries: list[tuple[str, int, str]], stories: Iterable) -> None:
    """`stories.parquet` and `starts.npy` of a segment (see _SegmentStories), one entry's rows at a time; the
    starts last (they present mean both are whole). An entry whose rows are missing (None) or not as many as
    the entry says gets none: that drop is read from its own part."""
    tmp = folder / f".{STORIES}.tmp"
    starts = [0]
    with pq.ParquetWriter(tmp, _STORIES_SCHEMA) as writer:
        for (drop, count, _), frame in zip(entries, stories, strict=True):
            if frame is not None and frame.height != count:
                log.info("story lookup segment %s: drop %s has %d rows, not %d", folder.name, drop, frame.height, count)
                frame = None
            if frame is not None and frame.height:
                table = frame.select(list(INDEX_COLUMNS)).cast(INDEX_COLUMNS).to_arrow()
                writer.write_table(table.cast(_STORIES_SCHEMA), row_group_size=ROW_GROUP)
            starts.append(starts[-1] + (frame.height if frame is not None else 0))
    fsync_path(tmp)
    os.replace(tmp, folder / STORIES)
    replace_durably(folder / STARTS, functools.partial(np.save, arr=np.asarray(starts, np.int64), allow_pickle=False))


def _part_stories(drop: str, part: Path | None, pending: Iterable[str] = ()) -> pl.DataFrame | None:
    """A drop's summaries from its part (for a segment's copy), None when it has none or its commit is pending
    (its part may be ahead of the lookup)."""
    if part is None or drop in pending:
        return None
    try:
        return pl.read_parquet(part, hive_partitioning=False, glob=False)
    except Exception as exc:  # noqa: BLE001  (polars raises several error types for a damaged file)
        warn_unreadable("story summaries", part, exc, _FIX)
        return None


def _live_part(out_dir: Path, drop: str) -> Path | None:
    parts = sorted(live_partition(Path(out_dir), INDEX_TABLE, drop).glob("*.parquet"))
    return parts[0] if parts else None


def _open_segment_stories(out_dir: Path, segment: LookupSegment) -> _SegmentStories | None:
    """The summaries the segment holds, None when it holds none or they are unreadable (its drops are then
    read from their parts)."""
    folder = lookup_root(out_dir) / SEGMENTS / segment.name
    if not (folder / STARTS).exists():
        return None
    try:
        starts = np.load(folder / STARTS, allow_pickle=False)
        reader = _RowReader(folder / STORIES)
        if len(starts) != len(segment.drops) + 1 or int(starts[-1]) != reader.num_rows:
            raise ValueError(f"{STARTS} disagrees with the segment")
        held = np.diff(starts) == np.array([rows for _, rows, _ in segment.drops], dtype=np.int64)
    except Exception as exc:  # noqa: BLE001  (pyarrow raises several error types for a damaged file)
        log.warning("story summaries of lookup segment %s unreadable (%s): its drops' parts are read", folder, exc)
        return None
    return _SegmentStories(reader, starts.astype(np.int64), held)


def _add_segment_stories(out_dir: Path, segment: LookupSegment, pending: set[str]) -> bool:
    """Copy the summaries of a segment's live drops into it, if it holds none (True when written). The caller
    holds the index lock. A drop whose part cannot be had (or whose commit is pending) gets no copy: it is read
    from its part."""
    folder = lookup_root(out_dir) / SEGMENTS / segment.name
    if _open_segment_stories(out_dir, segment) is not None or not folder.is_dir():
        return False
    masked = set(segment.masked)
    frames = (
        None if drop in masked else _part_stories(drop, _live_part(out_dir, drop), pending)
        for drop, _, _ in segment.drops
    )
    _write_segment_stories(folder, list(segment.drops), frames)
    fsync_path(folder)
    return True


def _of_drops(folder: Path, level: int, parts: list[Part]) -> LookupSegment:
    """`_write_lookup_segment` of each (drop entry, keys, rows, part) of `parts`, their parts' rows copied in."""
    keys = np.concatenate([p[1] for p in parts]).astype(np.uint64, copy=False)
    rows = np.concatenate([p[2] for p in parts]).astype(np.uint32, copy=False)
    drops = np.repeat(np.arange(len(parts), dtype=np.uint32), [len(p[1]) for p in parts])
    stories = (_part_stories(entry[0], part) for entry, _, _, part in parts)
    return _write_lookup_segment(folder, level, [p[0] for p in parts], keys, rows, drops, stories)


def _open_lookup_segment(out_dir: Path, segment: LookupSegment) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    folder = lookup_root(out_dir) / SEGMENTS / segment.name
    keys, rows, drops = (np.load(folder / f, mmap_mode="r", allow_pickle=False) for f in (KEYS, ROWS, DROPS))
    if not (len(keys) == len(rows) == len(drops)) or keys.dtype != np.uint64:
        raise ValueError("lookup files disagree")
    if len(drops) and int(drops.max()) >= len(segment.drops):
        raise ValueError(f"drops.npy disagrees with the manifest ({len(segment.drops)} drops)")
    return keys, rows, drops


def _add_to_lookup(out_dir: Path, name: str, parts: list[Part], level: int = 0) -> None:
    """Make `parts` the live keys of their drops (replacing the earlier ones) as a segment of `level`, then
    merge full levels. The caller holds the index lock."""
    (lookup_root(out_dir) / SEGMENTS).mkdir(parents=True, exist_ok=True)
    live = read_lookup(out_dir)
    new = _of_drops(lookup_root(out_dir) / SEGMENTS / name, level, parts)
    crash_point("mid_story_lookup_add")
    _write_lookup_manifest(out_dir, [*_lookup_without(live, {d for d, _, _ in new.drops}), new])
    _merge_lookup_levels(out_dir)


def _merge_lookup_levels(out_dir: Path) -> None:
    """Merge the lookup's full levels; a full disk postpones the merge (the lookup stays valid as it is)."""
    try:
        _merge_full_levels(out_dir)
    except OSError as exc:
        log.warning("the story lookup of %s was not merged (%s); the next commit merges it", out_dir, exc)
        _remove_unnamed(out_dir, read_lookup(out_dir))


def _lookup_without(segments: list[LookupSegment], drop_ids: set[str]) -> list[LookupSegment]:
    """The segments with the drops' keys no longer live: masked, or the segment left out when none is left."""
    kept = []
    for s in segments:
        live = s.live()
        replaced = sorted(drop_ids.intersection(live))
        if not replaced:
            kept.append(s)
        elif len(replaced) < len(live):
            kept.append(dataclasses.replace(s, masked=(*s.masked, *replaced)))
    return kept


def _merge_full_levels(out_dir: Path) -> None:
    """Merge the lookup's full levels (FANOUT segments) into the next one, masked drops left out, until none
    is full: written whole before the manifest names the merged segment, inputs deleted after it."""
    live = read_lookup(out_dir)
    while True:
        mergeable = {
            lv: [s for s in live if s.level == lv and s.keys < MAX_MERGED_KEYS] for lv in {s.level for s in live}
        }
        level = next((lv for lv in sorted(mergeable) if len(mergeable[lv]) >= FANOUT), None)
        if level is None:
            return
        inputs = mergeable[level][:FANOUT]
        entries: list[tuple[str, int, str]] = []
        keys_of, rows_of, drops_of, read = [], [], [], []
        for segment in inputs:
            try:
                keys, rows, drops = _open_lookup_segment(out_dir, segment)
            except (OSError, ValueError, EOFError) as exc:  # its drops are read from their partitions (and re-added)
                log.warning("story lookup segment %s is unreadable (%s): left out of a merge", segment.name, exc)
                continue
            index = np.full(len(segment.drops), -1, dtype=np.int64)
            for i, entry in enumerate(segment.drops):
                if entry[0] not in segment.masked:
                    index[i] = len(entries)
                    entries.append(entry)
            owner = index[np.asarray(drops, dtype=np.int64)]
            keep = owner >= 0
            keys_of.append(np.asarray(keys)[keep])
            rows_of.append(np.asarray(rows)[keep])
            drops_of.append(owner[keep].astype(np.uint32))
            read.append(segment)
        described = json.dumps([[s.name, sorted(s.masked)] for s in inputs]).encode()
        name = f"L{level + 1}-{hashlib.sha1(described).hexdigest()[:20]}"
        folder = lookup_root(out_dir) / SEGMENTS / name
        merged = (
            [
                _write_lookup_segment(
                    folder,
                    level + 1,
                    entries,
                    *map(np.concatenate, (keys_of, rows_of, drops_of)),
                    _merged_stories(out_dir, read),
                )
            ]
            if entries
            else []
        )
        crash_point("mid_story_lookup_merge")
        first = live.index(inputs[0])
        rest = [s for s in live if s not in inputs]
        _write_lookup_manifest(out_dir, rest[:first] + merged + rest[first:])
        live = rest[:first] + merged + rest[first:]


def _merged_stories(out_dir: Path, inputs: list[LookupSegment]) -> Iterator[pl.DataFrame]:
    """The summaries of the inputs' live drops in turn, for a merge: from each input's copy (read whole, one
    input at a time), or from the drops' parts for an input that holds none."""
    pending = _pending_drops(out_dir)
    for segment in inputs:
        stories = _open_segment_stories(out_dir, segment)
        held = pl.from_arrow(stories.reader.file.read()) if stories is not None else None
        for i, (drop, _, _) in enumerate(segment.drops):
            if drop in segment.masked:
                continue
            if held is None or not stories.held[i]:
                yield _part_stories(drop, _live_part(out_dir, drop), pending)
            else:
                yield held.slice(int(stories.starts[i]), int(stories.starts[i + 1] - stories.starts[i]))


def _part_rows(part: Path) -> int:
    return pq.ParquetFile(part).metadata.num_rows


def _level0_name(drop_id: str, run_id: str) -> str:
    safe_run = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)[:80]
    return f"{hashlib.sha1(drop_id.encode()).hexdigest()[:12]}-{safe_run}"


def _drop_keys(folder: Path, entry: tuple[str, str]) -> Part | None:
    """The lookup part of a partition folder, its `entry` (drop, run) given; None without a readable part."""
    parts = sorted(folder.glob("*.parquet"))
    segment = _Segment(folder, parts[0]) if parts else None
    if segment is None or not segment.open():
        return None
    drop, run = entry
    return (drop, _part_rows(parts[0]), run), np.asarray(segment.keys), np.asarray(segment.rows), parts[0]


def stage_lookup(out_dir: Path, drop_id: str, run_id: str) -> None:
    """Before the commit marker: the drop's lookup segment from its staged `_story_index` partition, and the
    lookup manifest that will name it (with the hash of the live one it was computed from), so that the
    commit only renames. The caller holds the index lock (the live manifest cannot change before its commit)."""
    found = _drop_keys(staged_partition(Path(out_dir), run_id, INDEX_TABLE, drop_id), (drop_id, run_id))
    if found is None:
        return
    stage = staged_story_lookup(Path(out_dir), run_id)
    stage.mkdir(parents=True, exist_ok=True)
    new = _of_drops(stage / _level0_name(drop_id, run_id), 0, [found])
    write_text_durably(stage / MANIFEST, _lookup_text([*_lookup_without(read_lookup(out_dir), {drop_id}), new]))
    write_text_durably(stage / f"{MANIFEST}.base", _lookup_hash(out_dir))
    (lookup_root(out_dir) / SEGMENTS).mkdir(parents=True, exist_ok=True)  # the commit creates no folder either


def commit_lookup(out_dir: Path, drop_id: str, run_id: str) -> None:
    """Make the drop's staged lookup segment its keys in the lookup, replacing its earlier ones, as its
    `_story_index` partition was just swapped in; then merge full levels (idempotent: recovery calls it
    again). With the staged manifest still computed from the live one, the commit only renames; otherwise
    (a marker of an earlier version) the drop's keys are read from its live partition. The caller holds the
    index lock."""
    out_dir = Path(out_dir)
    stage = staged_story_lookup(Path(out_dir), run_id)
    name = _level0_name(drop_id, run_id)
    segments_dir = lookup_root(out_dir) / SEGMENTS
    if (stage / name).exists():
        segments_dir.mkdir(parents=True, exist_ok=True)
        if (segments_dir / name).exists():
            shutil.rmtree(segments_dir / name)
        os.rename(stage / name, segments_dir / name)
        fsync_path(segments_dir)
        crash_point("mid_story_lookup_add")
    live = read_lookup(out_dir)
    if any(s.live().get(drop_id, (0, None))[1] == run_id for s in live):
        _merge_lookup_levels(out_dir)
        return
    base = stage / f"{MANIFEST}.base"
    if (stage / MANIFEST).exists() and base.exists() and base.read_text(encoding="utf-8") == _lookup_hash(out_dir):
        os.replace(stage / MANIFEST, lookup_root(out_dir) / MANIFEST)
        fsync_path(lookup_root(out_dir))
        crash_point("after_story_lookup_swap")
        _remove_unnamed(out_dir, read_lookup(out_dir))
        _merge_lookup_levels(out_dir)
        return
    found = _drop_keys(live_partition(out_dir, INDEX_TABLE, drop_id), (drop_id, run_id))
    if found is not None:
        _add_to_lookup(out_dir, name, [found])


def _pending_drops(out_dir: Path) -> set[str]:
    """Drops with a commit under way or interrupted: their lookup entries may lag behind their partition."""
    root = Path(out_dir) / STAGING
    pending = set()
    for marker in root.glob(f"*/{COMMIT_MARKER}") if root.exists() else ():
        try:
            pending.add((marker.parent / DROP_ID_FILE).read_text(encoding="utf-8"))
        except OSError:
            pending.add("")  # unknown drop: see _covered
    return pending


def recent_vocabulary(out_dir: Path, exclude_drop: str, settings: StorySettings) -> pl.DataFrame | None:
    """The `_story_vocabulary` rows of the latest `vocabulary_drops` other drops that have any (newest parts
    are read first, and only as many as needed)."""
    root = Path(out_dir) / VOCABULARY_TABLE
    if not root.exists():
        return None
    own = live_partition(Path(out_dir), VOCABULARY_TABLE, exclude_drop)
    folders = sorted((p for p in root.glob("drop_id=*") if p.is_dir() and p != own), reverse=True)
    frames, drops = [], 0
    for folder in folders:
        if drops >= settings.vocabulary_drops:
            break
        found = read_parts(sorted(folder.glob("*.parquet")), "story vocabulary", _FIX)
        found = [f for f in found if f.height]
        frames.extend(found)
        drops += bool(found)
    return pl.concat(frames, how="vertical_relaxed") if frames else None


def stories_of_other_drops(out_dir: Path, docs: pl.DataFrame, drop_id: str) -> dict[str, str]:
    """Stories of the kept documents in other drops that some of this drop's rows duplicate."""
    wanted = docs.filter(pl.col("duplicate_of_drop").is_not_null() & (pl.col("duplicate_of_drop") != drop_id))
    found: dict[str, str] = {}
    remote = remote_of(out_dir)
    if remote is not None:  # outputs in object storage: other drops' rows are in the store's table only
        others = sorted(set(wanted["duplicate_of_drop"].to_list()))
        rows = remote.read_drops("documents", others, ["doc_id", "story_id"], wanted["cluster_id"].to_list())
        return {d: s for d, s in rows.iter_rows() if s is not None} if rows.height else found
    for other in sorted(set(wanted["duplicate_of_drop"].to_list())):
        ids = wanted.filter(pl.col("duplicate_of_drop") == other)["cluster_id"].implode()
        for part in sorted(live_partition(out_dir, "documents", other).glob("*.parquet")):
            try:
                rows = (
                    pl.scan_parquet(part, hive_partitioning=False, missing_columns="insert", glob=False)
                    .filter(pl.col("doc_id").is_in(ids))
                    .select("doc_id", "story_id")
                    .collect()
                )
            except Exception as exc:  # noqa: BLE001  (a damaged part: its duplicates start their own stories)
                warn_unreadable("documents part", part, exc, f"re-run drop {other} with --force to rebuild it")
                continue
            found.update({d: s for d, s in rows.iter_rows() if s is not None})
    return found


def window_of(days: pl.Series) -> tuple[date | None, date | None]:
    days = days.drop_nulls()
    return (days.min(), days.max()) if days.len() else (None, None)
