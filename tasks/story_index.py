"""The story history on disk: what later drops are linked against, queried by key instead of loaded whole.

Layout, one partition per drop (staged with the run's tables and swapped in by the same commit):

    _story_index/drop_id=<drop>/part-00000.parquet   per story: the drop's bounded contribution (STORY_INDEX),
                                                      in row groups of ROW_GROUP rows
    _story_index/drop_id=<drop>/keys.npy             sorted 64-bit lookup keys: one per term, @entity and
                                                      story id of every row
    _story_index/drop_id=<drop>/rows.npy             the row of the part each key belongs to
    _story_vocabulary/drop_id=<drop>/part-00000.parquet   the drop's document frequencies

A run looks up its documents' candidate keys (the top terms and entities the linker picks candidates by)
in every drop's keys through memory maps, reads the story ids of the matching rows, then looks up those
stories' ids the same way and reads only their rows (the row groups holding them): every story that could
be a candidate, with its whole history, and nothing else (`tasks.stories.StoryHistory`). A partition
written before the lookup existed gets its keys built from its part on first use (written atomically:
the keys of a part are a pure function of it, so a crash leaves no keys or whole ones). A damaged file
costs that drop's summaries, with a warning naming it (`textdrops.damaged`).
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from textdrops.config import StorySettings
from textdrops.damaged import read_parts, warn_unreadable
from textdrops.durable import fsync_path, replace_durably
from textdrops.schema import STORY_INDEX
from textdrops.staging import live_partition

log = logging.getLogger(__name__)

INDEX_TABLE = "_story_index"
VOCABULARY_TABLE = "_story_vocabulary"
KEYS, ROWS = "keys.npy", "rows.npy"
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
        """The given rows of the part (reading only the row groups that hold them)."""
        try:
            parquet = pq.ParquetFile(self.part)
            sizes = [parquet.metadata.row_group(i).num_rows for i in range(parquet.metadata.num_row_groups)]
            starts = np.cumsum([0, *sizes])
            group_of = np.searchsorted(starts, rows, side="right") - 1
            groups = np.unique(group_of)
            table = parquet.read_row_groups(groups.tolist(), columns=columns)
            base = np.cumsum([0, *(sizes[g] for g in groups)])[:-1]  # each read group's first row in `table`
            local = base[np.searchsorted(groups, group_of)] + rows - starts[group_of]
            return pl.from_arrow(table.take(np.asarray(local, dtype=np.int64)))
        except Exception as exc:  # noqa: BLE001
            warn_unreadable("story summaries", self.part, exc, _FIX)
            self.broken = True
            return None


class StoredStories:
    """The `_story_index` partitions of every drop but one, looked up by key (a `tasks.stories` source)."""

    def __init__(self, out_dir: Path, exclude_drop: str) -> None:
        root = Path(out_dir) / INDEX_TABLE
        own = live_partition(Path(out_dir), INDEX_TABLE, exclude_drop)
        folders = sorted(p for p in root.glob("drop_id=*") if p.is_dir() and p != own) if root.exists() else []
        self.segments = []
        for folder in folders:
            parts = sorted(folder.glob("*.parquet"))
            if parts:
                self.segments.extend(_Segment(folder, part) for part in parts[:1])
            if len(parts) > 1:  # one part per drop is all a run writes
                log.warning("%s holds %d parts; only %s is used", folder, len(parts), parts[0].name)

    def __bool__(self) -> bool:
        return bool(self.segments)

    def rows_holding(self, keys: Iterable[str], story_ids: Iterable[str]) -> pl.DataFrame:
        """Every row of the stories that have a row holding one of `keys` (words, @entities) or whose id is
        in `story_ids`. Each drop's matching rows are read once (the row groups holding them); a story's
        rows in drops that hold none of the keys are then found by its id."""
        named = set(story_ids)
        wanted = np.unique(np.array([key_of(k) for k in keys] + [story_key(s) for s in named], dtype=np.uint64))
        read: dict[int, np.ndarray] = {}
        frames = []
        for i, segment in enumerate(self.segments):
            rows = segment.rows_of_keys(wanted) if len(wanted) else np.empty(0, np.int64)
            frame = segment.read_rows(rows) if len(rows) else None
            if frame is not None:
                read[i] = rows
                frames.append(frame.select(list(INDEX_COLUMNS)))
        found = sorted({s for f in frames for s in f["story_id"].to_list()})
        more = np.unique(np.array([story_key(s) for s in found], dtype=np.uint64))
        for i, segment in enumerate(self.segments):
            rows = np.setdiff1d(segment.rows_of_keys(more), read.get(i, ()), assume_unique=True) if len(more) else []
            frame = segment.read_rows(rows) if len(rows) else None
            if frame is not None:
                frames.append(frame.select(list(INDEX_COLUMNS)))
        if not frames:
            return pl.DataFrame(schema=INDEX_COLUMNS)
        rows = pl.concat(frames, how="vertical_relaxed").cast(INDEX_COLUMNS)
        # a key collision reads a row of a story that holds no key: harmless (it is never a candidate), but
        # a story-key collision could add a stranger's rows to a story, so only the stories found keep rows
        return rows.filter(pl.col("story_id").is_in(found))

    def rows_of(self, story_ids: Iterable[str]) -> pl.DataFrame:
        """Every row of the given stories."""
        ids = sorted(set(story_ids))
        return self.rows_holding((), ids).filter(pl.col("story_id").is_in(ids))


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
