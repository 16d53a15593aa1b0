"""The dedupe index: what every later run deduplicates against, queried by key instead of loaded whole.

Layout under `<out>/_dedupe_index/`:

    MANIFEST.json                     which segments are live, their level, drops and masked drops; replaced
                                      atomically
    segments/<name>/segment.json      the segment's drops, document count, level and signature kind
    segments/<name>/docs.npy          per document: doc_id (16 bytes), content_hash (20 bytes), keep rank
    segments/<name>/signatures.npy    per document: the MinHash signature (num_perm x uint32)
    segments/<name>/keys.npy          sorted 32-bit lookup keys: one per LSH band and one for the exact hash
    segments/<name>/rows.npy          the document (row of docs.npy) each key belongs to
    segments/<name>/drops.npy         (merged segments only) per document: its drop, as an index into the
                                      manifest entry's `drops`

A run looks up its own documents' keys in every live segment (a binary search in a memory-mapped sorted
array), reads only the matching documents' signatures, and keeps those that truly share a band key or
the exact hash (the 32-bit lookup key only narrows the search). Segments are tiered as an LSM tree's: a
run writes its drop's segment (level 0) into its staging area, and its commit moves it in and swaps the
manifest (`commit_segment`), under the out-dir-wide index lock (`textdrops.locking.index_lock`); then,
while a level holds FANOUT segments, they are merged into one segment of the next level
(`merge_levels`). So a run searches fewer than FANOUT segments per level, O(log n) for n drops, and its
cost is the drop's keys times log(history). A re-run of a drop whose rows sit in a merged segment masks
them there (the manifest entry's `masked`; queries skip masked rows) and the next merge of that segment
leaves them out. Segment files are immutable once a manifest names them: a merge writes the new segment
whole (fsynced) before the manifest swap that names it, and deletes its inputs only after it. An index
written before the tiers (no levels) is read as it is, its segments at level 0, and merged as drops
come. Its entries as a frame are declared in `textdrops.schema.dedupe_index_entries`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from tasks.minhash import band_keys as bands_of
from textdrops.config import MinHashConfig
from textdrops.durable import fsync_path, write_text_durably
from textdrops.faults import crash_point
from textdrops.schema import dedupe_index_entries

log = logging.getLogger(__name__)

INDEX_DIR = "_dedupe_index"
MANIFEST = "MANIFEST.json"
SEGMENTS = "segments"
FORMAT = "textdrops-dedupe-index/3"  # /2: no levels, one segment per drop (read as level 0)
FANOUT = 4  # a level holding this many segments is merged into one segment of the next level
# a segment this large is merged no further (a merge holds its inputs' keys in memory, 12 bytes a key, 33 keys a
# document: ~400 MB at this size); past it the segments grow in number by one per MAX_MERGED_DOCS documents
MAX_MERGED_DOCS = 1_000_000
DOCS_DTYPE = np.dtype([("doc_id", "u1", (16,)), ("content_hash", "u1", (20,)), ("rank", "<u4")])
_SEGMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xBF58476D1CE4E5B9)


class IndexUnusableError(RuntimeError):
    """The dedupe index cannot be used as it is (another signature kind, an unreadable manifest)."""


def index_root(out_dir: Path) -> Path:
    return Path(out_dir) / INDEX_DIR


# --- keys ------------------------------------------------------------------------------------------------


def lookup_keys(band_keys: np.ndarray, hash_prefixes: np.ndarray) -> np.ndarray:
    """32-bit lookup keys, shape (n, bands + 1): each band's 64-bit key mixed with its band number, and
    the exact hash's first 8 bytes as band `bands`. Equal full keys give equal lookup keys; the converse
    is checked on the candidates."""
    n, bands = band_keys.shape
    full = np.concatenate([band_keys, hash_prefixes.reshape(n, 1)], axis=1).astype(np.uint64, copy=False)
    salt = (np.arange(bands + 1, dtype=np.uint64) + np.uint64(1)) * _GOLDEN
    with np.errstate(over="ignore"):
        mixed = (full ^ salt[None, :]) * _MIX
    return (mixed >> np.uint64(32)).astype(np.uint32)


def hash_prefixes(content_hashes: np.ndarray) -> np.ndarray:
    """First 8 bytes of each 20-byte content hash as a uint64 (rows of a (n, 20) uint8 array)."""
    return np.ascontiguousarray(content_hashes[:, :8]).view("<u8").reshape(-1)


def hex_to_bytes(values: pl.Series | list[str], width: int) -> np.ndarray:
    """(n, width) uint8 array from hex strings of 2 * width characters."""
    joined = b"".join(bytes.fromhex(v) for v in values)
    return np.frombuffer(joined, dtype=np.uint8).reshape(-1, width).copy()


def bytes_to_hex(values: np.ndarray) -> list[str]:
    return [bytes(row).hex() for row in values]


# --- writing segments --------------------------------------------------------------------------------------


def _save(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())


def write_segment(
    folder: Path,
    drop_id: str,
    doc_ids: np.ndarray,
    content_hashes: np.ndarray,
    ranks: np.ndarray,
    signatures: np.ndarray,
    cfg: MinHashConfig,
) -> int:
    """Write one drop's documents as a segment folder (every file fsynced); returns the documents written.

    doc_ids (n, 16) and content_hashes (n, 20) are raw bytes; ranks is the keep order within the drop.
    """
    n = len(ranks)
    folder.mkdir(parents=True, exist_ok=True)
    docs = np.empty(n, dtype=DOCS_DTYPE)
    docs["doc_id"], docs["content_hash"], docs["rank"] = doc_ids, content_hashes, ranks
    signatures = np.ascontiguousarray(signatures, dtype=np.uint32).reshape(n, cfg.num_perm)
    keys = lookup_keys(bands_of(signatures, cfg), hash_prefixes(content_hashes)) if n else np.empty((0, 1), np.uint32)
    # sort (key, row) pairs as one uint64: faster than an argsort
    rows = np.broadcast_to(np.arange(n, dtype=np.uint64)[:, None], keys.shape)
    packed = (keys.astype(np.uint64) << np.uint64(32)) | rows
    packed = np.sort(packed.reshape(-1))
    _save(folder / "docs.npy", docs)
    _save(folder / "signatures.npy", signatures)
    _save(folder / "keys.npy", (packed >> np.uint64(32)).astype(np.uint32))
    _save(folder / "rows.npy", (packed & np.uint64(0xFFFFFFFF)).astype(np.uint32))
    meta = {"drop_id": drop_id, "docs": n, "signature_kind": cfg.signature_kind()}
    write_text_durably(folder / "segment.json", json.dumps(meta))
    fsync_path(folder)
    return n


def write_drop_segment(folder: Path, drop_id: str, kept: pl.DataFrame, cfg: MinHashConfig) -> int:
    """The segment of a drop's kept documents (columns doc_id, published_at, source_path, content_hash,
    signature), ranked within the drop as the dedupe stage ranks history: published_at, then path."""
    ranked = kept.sort(["published_at", "source_path"], nulls_last=True)
    signatures = (
        ranked["signature"].to_numpy().astype(np.uint32, copy=False)
        if ranked.height
        else np.empty((0, cfg.num_perm), np.uint32)
    )
    return write_segment(
        folder,
        drop_id,
        hex_to_bytes(ranked["doc_id"], 16),
        hex_to_bytes(ranked["content_hash"], 20),
        np.arange(ranked.height, dtype=np.uint32),
        signatures,
        cfg,
    )


# --- the manifest ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A live segment as the manifest names it. A level-0 segment holds one drop (`drop_id`); a merged one
    (level >= 1) lists its drops in `drops` as (drop_id, documents, name of the segment it came from), in
    the order of its rows, and `drop_id` is the first of them. `masked` drops were re-run since: their rows
    here are no longer live."""

    name: str
    drop_id: str
    docs: int
    signature_kind: str
    level: int = 0
    drops: tuple[tuple[str, int, str], ...] = ()
    masked: tuple[str, ...] = ()

    def members(self) -> tuple[tuple[str, int, str], ...]:
        """(drop_id, documents, origin segment) of every drop whose rows the segment's files hold."""
        return self.drops or ((self.drop_id, self.docs, self.name),)

    def live_drops(self) -> dict[str, int]:
        """Documents per drop whose rows here are live (not masked)."""
        return {drop: docs for drop, docs, _ in self.members() if drop not in self.masked}

    def entry(self) -> dict:
        """The manifest entry (a level-0 entry is what versions before the tiers wrote)."""
        entry = {"name": self.name, "drop_id": self.drop_id, "docs": self.docs, "signature_kind": self.signature_kind}
        if self.level:
            entry["level"] = self.level
        if self.drops:
            entry["drops"] = [list(member) for member in self.drops]
        if self.masked:
            entry["masked"] = list(self.masked)
        return entry


def _valid_member(member: object) -> bool:
    return (
        isinstance(member, list)
        and len(member) == 3
        and isinstance(member[0], str)
        and bool(member[0])
        and isinstance(member[1], int)
        and member[1] >= 0
        and isinstance(member[2], str)
    )


def _valid_segment(entry: object) -> Segment | None:
    if not isinstance(entry, dict):
        return None
    name, drop_id, docs, kind = (entry.get(k) for k in ("name", "drop_id", "docs", "signature_kind"))
    if not (isinstance(name, str) and _SEGMENT_NAME.match(name) and isinstance(drop_id, str) and drop_id):
        return None
    if not (isinstance(docs, int) and docs >= 0 and isinstance(kind, str)):
        return None
    level, drops, masked = entry.get("level", 0), entry.get("drops", []), entry.get("masked", [])
    if not (isinstance(level, int) and level >= 0 and isinstance(drops, list) and isinstance(masked, list)):
        return None
    if not all(_valid_member(m) for m in drops) or not all(isinstance(m, str) for m in masked):
        return None
    if drops and sum(m[1] for m in drops) != docs:
        return None
    members = tuple((m[0], m[1], m[2]) for m in drops)
    return Segment(name, drop_id, docs, kind, level, members, tuple(masked))


def read_manifest(out_dir: Path) -> list[Segment] | None:
    """The live segments, or None when the index has no manifest yet (empty, or written by an older version)."""
    path = index_root(out_dir) / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["segments"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexUnusableError(
            f"{path} is unreadable ({exc}): restore it from a backup, or delete {index_root(out_dir)} and re-run "
            "every drop with --force to rebuild the dedupe index"
        ) from None
    segments = []
    for entry in entries:
        segment = _valid_segment(entry)
        if segment is None:
            log.warning("%s: ignoring a malformed segment entry %r", path, entry)
        else:
            segments.append(segment)
    return segments


def _manifest_text(segments: list[Segment]) -> str:
    return json.dumps({"format": FORMAT, "segments": [s.entry() for s in segments]})


def write_manifest(out_dir: Path, segments: list[Segment]) -> None:
    root = index_root(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    write_text_durably(root / MANIFEST, _manifest_text(segments))


def segment_name(drop_id: str, run_id: str) -> str:
    """A file-system-safe, unique segment name whatever characters the drop id holds."""
    import hashlib

    safe_run = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)[:80]
    return f"{hashlib.sha1(drop_id.encode()).hexdigest()[:12]}-{safe_run}"


def _manifest_hash(out_dir: Path) -> str:
    """sha256 of the live manifest's bytes ("" when there is none yet)."""
    import hashlib

    path = index_root(out_dir) / MANIFEST
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def _without_drop(segments: list[Segment], drop_id: str) -> list[Segment]:
    """The segments with the drop's rows no longer live: its level-0 segment left out, its rows in a merged
    segment masked (a merged segment with no live drop left is left out)."""
    kept = []
    for s in segments:
        if drop_id not in s.live_drops():
            kept.append(s)
        elif s.drops and len(s.live_drops()) > 1:
            kept.append(dataclasses.replace(s, masked=(*s.masked, drop_id)))
    return kept


def _next_segments(out_dir: Path, drop_id: str, segment: Path, name: str) -> list[Segment]:
    """The live segments with `segment` (named `name`) as the drop's entries, replacing its earlier ones."""
    meta = json.loads((segment / "segment.json").read_text(encoding="utf-8"))
    new = Segment(name, drop_id, int(meta["docs"]), str(meta["signature_kind"]))
    return [*_without_drop(read_manifest(out_dir) or [], drop_id), new]


def stage_manifest(out_dir: Path, drop_id: str, staged: Path, name: str, manifest: Path) -> None:
    """Write the manifest that will name the staged segment to `manifest`, and beside it (`.base`) the hash of
    the live manifest it was computed from, so the commit puts it in place with a rename and writes nothing.
    The caller holds the index lock (the live manifest cannot change before its commit)."""
    segments = _next_segments(out_dir, drop_id, staged, name)
    write_text_durably(manifest, _manifest_text(segments))
    base = manifest.with_name(manifest.name + ".base")
    base.write_text(_manifest_hash(out_dir), encoding="utf-8")
    fsync_path(base)
    (index_root(out_dir) / SEGMENTS).mkdir(parents=True, exist_ok=True)  # the commit creates no folder either


def _committed(live: list[Segment], name: str) -> bool:
    """Whether the segment `name` is live, or was merged into a live segment."""
    return any(s.name == name or any(origin == name for _, _, origin in s.drops) for s in live)


def commit_segment(out_dir: Path, drop_id: str, staged: Path, name: str, manifest: Path | None = None) -> None:
    """Make the staged segment the drop's entries in the index, replacing its earlier ones, then merge the
    levels that are full (idempotent: recovery may call it again after a crash at any point). The caller
    holds the index lock.

    With `manifest` (written by `stage_manifest`) still computed from the live manifest, the new manifest is
    moved in by a rename; otherwise (another drop committed in between, or a marker of an earlier version)
    it is computed and written here."""
    root = index_root(out_dir)
    segments_dir = root / SEGMENTS
    segments_dir.mkdir(parents=True, exist_ok=True)
    target = segments_dir / name
    if staged.exists():
        if target.exists():
            shutil.rmtree(target)
        os.rename(staged, target)
        fsync_path(segments_dir)
        crash_point("mid_index_commit")
    live = read_manifest(out_dir) or []
    if _committed(live, name):
        merge_levels(out_dir)
        return
    if not target.exists():
        log.warning("index segment %s of drop %s is missing; its index entries are left as they were", name, drop_id)
        return
    base = manifest.with_name(manifest.name + ".base") if manifest else None
    if manifest and manifest.exists() and base.exists() and base.read_text(encoding="utf-8") == _manifest_hash(out_dir):
        os.replace(manifest, root / MANIFEST)
        fsync_path(root)
    else:
        write_manifest(out_dir, _next_segments(out_dir, drop_id, target, name))
    merge_levels(out_dir)


def _remove_unreferenced(out_dir: Path, live: list[Segment]) -> None:
    """Delete segment folders the manifest no longer names (replaced drops, merged segments, half-written
    merges and migrations)."""
    segments_dir = index_root(out_dir) / SEGMENTS
    names = {s.name for s in live}
    if segments_dir.exists():
        for folder in segments_dir.iterdir():
            if folder.name not in names:
                shutil.rmtree(folder, ignore_errors=True)


# --- merging levels ----------------------------------------------------------------------------------------


def _next_merge(live: list[Segment]) -> tuple[list[Segment], int] | None:
    """The next merge: the oldest segments of the lowest level that holds FANOUT of one signature kind, and
    the level they make. Normally FANOUT segments make one of the next level; a level holding FANOUT**j of
    them (an index written before the tiers) has FANOUT**j merged straight into level + j, so each document
    is rewritten once, not once per level."""
    for level in sorted({s.level for s in live}):
        at_level = [s for s in live if s.level == level and s.docs < MAX_MERGED_DOCS]
        if len(at_level) < FANOUT:
            continue
        kind = next((s.signature_kind for s in at_level if s.docs), None)  # mixed kinds (queries refuse): alike
        alike = [s for s in at_level if s.signature_kind == kind or not s.docs]
        span, up = FANOUT, 1
        while span * FANOUT <= len(alike):
            span, up = span * FANOUT, up + 1
        if len(alike) >= FANOUT:
            return alike[:span], level + up
    return None


def merge_levels(out_dir: Path) -> int:
    """Merge full levels (FANOUT segments) into the next one until none is full; returns the merges made.
    Each merge writes its segment whole before the manifest swap that names it, and deletes its inputs
    after it, so a crash at any point leaves a valid index (the next commit finishes the work). The
    caller holds the index lock."""
    merges = 0
    live = read_manifest(out_dir) or []
    while (merge := _next_merge(live)) is not None:
        inputs, level = merge
        try:
            merged = _write_merged(out_dir, inputs, level)
            crash_point("mid_index_merge")
            first = live.index(inputs[0])
            rest = [s for s in live if s not in inputs]
            merged_live = rest[:first] + ([merged] if merged else []) + rest[first:]
            write_manifest(out_dir, merged_live)
        except (OSError, ValueError) as exc:  # a full disk, files that disagree: the manifest still names the inputs
            log.warning("the dedupe index of %s was not merged (%s); a later commit merges it", out_dir, exc)
            break
        live = merged_live
        crash_point("after_index_merge")
        _remove_unreferenced(out_dir, live)
        merges += 1
    _remove_unreferenced(out_dir, live)
    return merges


def _merged_name(inputs: list[Segment], level: int) -> str:
    """A name given by the inputs (names and masks): a merge redone after a crash writes the same folder."""
    import hashlib

    described = json.dumps([[s.name, sorted(s.masked)] for s in inputs]).encode()
    return f"L{level}-{hashlib.sha1(described).hexdigest()[:20]}"


def _copy_rows(source: np.ndarray, keep: np.ndarray, target: np.ndarray, at: int, chunk: int = 65536) -> int:
    """Copy the kept rows of a memory-mapped array into `target` from row `at`, a chunk at a time."""
    for start in range(0, len(source), chunk):
        rows = np.asarray(source[start : start + chunk])[keep[start : start + chunk]]
        target[at : at + len(rows)] = rows
        at += len(rows)
    return at


def _write_merged(out_dir: Path, inputs: list[Segment], level: int) -> Segment | None:
    """Write the live rows of `inputs` as one segment of `level` (every file fsynced, not yet named by the
    manifest); None when none of their drops is live. Inputs are read one at a time (a merge of many holds
    one input's files open). An unreadable input costs its own entries, with a warning."""
    from numpy.lib.format import open_memmap

    name = _merged_name(inputs, level)
    folder = index_root(out_dir) / SEGMENTS / name
    if folder.exists():  # a merge a crash interrupted (never named by a manifest)
        shutil.rmtree(folder)
    readable, num_perm = [], None
    for segment in inputs:
        try:
            files = _open_segment(out_dir, segment)
        except (OSError, ValueError, EOFError) as exc:
            log.warning(
                "dedupe index segment %s (drops %s) is unreadable and was left out of a merge: %s; re-run those "
                "drops with --force to rebuild their entries",
                segment.name,
                ", ".join(d for d, _, _ in segment.members()),
                exc,
            )
            continue
        readable.append(segment)
        if num_perm is None and files.signatures.ndim == 2 and segment.docs:
            num_perm = files.signatures.shape[1]
        del files
    members: list[tuple[str, int, str]] = []
    for segment in readable:
        members.extend(m for m in segment.members() if m[0] not in segment.masked)
    if not members:
        return None
    total = sum(docs for _, docs, _ in members)
    num_perm = num_perm or 128
    kinds = [s.signature_kind for s in readable if s.docs] or [inputs[0].signature_kind]
    folder.mkdir(parents=True)
    docs = open_memmap(folder / "docs.npy", mode="w+", dtype=DOCS_DTYPE, shape=(total,))
    signatures = open_memmap(folder / "signatures.npy", mode="w+", dtype=np.uint32, shape=(total, num_perm))
    drops = np.empty(total, dtype=np.uint32)
    packed = np.empty(sum(len(_open_segment(out_dir, seg).keys) for seg in readable), dtype=np.uint64)
    at, member_at, filled = 0, 0, 0
    for segment in readable:
        files = _open_segment(out_dir, segment)
        index = np.full(len(segment.members()), -1, dtype=np.int64)
        for j, member in enumerate(segment.members()):
            if member[0] not in segment.masked:
                index[j], member_at = member_at, member_at + 1
        row_drop = np.asarray(files.drops, dtype=np.int64) if files.drops is not None else np.zeros(segment.docs, int)
        owner = index[row_drop]
        keep = owner >= 0
        kept = int(keep.sum())
        new_row = np.full(len(keep), -1, dtype=np.int64)
        new_row[keep] = np.arange(at, at + kept)
        drops[at : at + kept] = owner[keep]
        _copy_rows(files.docs, keep, docs, at)
        at = _copy_rows(files.signatures, keep, signatures, at)
        # kept rows keep their order, so each input's (key, row) pairs stay sorted: runs that a stable sort merges
        for start in range(0, len(files.keys), 1 << 22):
            rows = new_row[np.asarray(files.rows[start : start + (1 << 22)], dtype=np.int64)]
            live = rows >= 0
            keys = np.asarray(files.keys[start : start + (1 << 22)])[live].astype(np.uint64)
            n = len(keys)
            packed[filled : filled + n] = (keys << np.uint64(32)) | rows[live].astype(np.uint64)
            filled += n
        del files
    if at != total:
        raise ValueError(f"merged {at} rows where the manifest counts {total}")  # never named: the inputs stay
    packed = packed[:filled]
    packed.sort(kind="stable")  # in place
    docs.flush()
    signatures.flush()
    del docs, signatures  # closes the maps
    for file_name in ("docs.npy", "signatures.npy"):
        with open(folder / file_name, "rb+") as handle:
            os.fsync(handle.fileno())
    high, low = (lambda a: a >> np.uint64(32)), (lambda a: a & np.uint64(0xFFFFFFFF))
    for file_name, part in (("keys.npy", high), ("rows.npy", low)):
        out = open_memmap(folder / file_name, mode="w+", dtype=np.uint32, shape=(len(packed),))
        for start in range(0, len(packed), 1 << 22):  # a chunk at a time: no second copy of the keys
            out[start : start + (1 << 22)] = part(packed[start : start + (1 << 22)])
        out.flush()
        del out
        with open(folder / file_name, "rb+") as handle:
            os.fsync(handle.fileno())
    _save(folder / "drops.npy", drops)
    merged = Segment(name, members[0][0], total, kinds[0], level, tuple(members))
    meta = {"drop_id": merged.drop_id, "docs": total, "signature_kind": merged.signature_kind, "level": level}
    write_text_durably(folder / "segment.json", json.dumps({**meta, "drops": [list(m) for m in members]}))
    fsync_path(folder)
    fsync_path(folder.parent)
    return merged


# --- upgrading an index written by an older version ---------------------------------------------------------


def legacy_partitions(out_dir: Path) -> list[Path]:
    """`_dedupe_index/drop_id=*` folders as versions before the segment index wrote them."""
    root = index_root(out_dir)
    return sorted(p for p in root.glob("drop_id=*") if p.is_dir()) if root.exists() else []


def migrate_legacy(out_dir: Path, cfg: MinHashConfig) -> str | None:
    """Convert Parquet index partitions (one per drop) into segments; returns a log line, or None when
    there was nothing to convert. The caller holds the index lock. Crash-safe: segments are written
    first, the manifest swap makes them live, the old folders are removed last."""
    import pyarrow.parquet as pq

    partitions = legacy_partitions(out_dir)
    if not partitions:
        return None
    live = read_manifest(out_dir) or []
    added: list[Segment] = []
    skipped: list[str] = []
    docs = 0
    for part_dir in partitions:
        drop_id = part_dir.name.removeprefix("drop_id=")
        frames = []
        for part in sorted(part_dir.glob("*.parquet")):
            try:
                frames.append(pl.from_arrow(pq.read_table(part)))
            except Exception as exc:  # a damaged part costs its own entries, not the run
                skipped.append(f"{part} ({type(exc).__name__}: {exc})")
        if not frames:
            continue
        frame = pl.concat(frames, how="vertical_relaxed")
        kinds = set(frame["signature_kind"].unique().to_list()) if "signature_kind" in frame.columns else set()
        if kinds and kinds != {cfg.signature_kind()}:
            raise IndexUnusableError(
                f"the dedupe index under {out_dir} holds signatures of another kind ({', '.join(sorted(kinds))}, "
                f"drop {drop_id}) than this run ({cfg.signature_kind()}): use the same MinHash settings, "
                "or re-run that drop with --force"
            )
        name = segment_name(drop_id, "migrated")
        folder = index_root(out_dir) / SEGMENTS / name
        if folder.exists():
            shutil.rmtree(folder)
        n = write_drop_segment(folder, drop_id, frame, cfg)
        added.append(Segment(name, drop_id, n, cfg.signature_kind()))
        docs += n
    fsync_path(index_root(out_dir) / SEGMENTS) if added else None
    for segment in added:
        live = _without_drop(live, segment.drop_id)
    write_manifest(out_dir, live + added)
    for part_dir in partitions:
        shutil.rmtree(part_dir, ignore_errors=True)
    for problem in skipped:
        log.warning("dedupe index upgrade: skipped unreadable part %s", problem)
    return (
        f"upgraded the dedupe index under {out_dir}: {docs} documents of {len(added)} drops moved from Parquet "
        f"partitions (_dedupe_index/drop_id=*) into the segment index; nothing was re-processed"
    )


# --- reading -----------------------------------------------------------------------------------------------


@dataclass
class SegmentFiles:
    segment: Segment
    keys: np.ndarray
    rows: np.ndarray
    docs: np.ndarray
    signatures: np.ndarray
    drops: np.ndarray | None  # per row, its drop's index in segment.drops (merged segments only)

    def drop_ids(self, rows: np.ndarray) -> np.ndarray:
        """The drop id of each of the given rows."""
        if self.drops is None:
            return np.full(len(rows), self.segment.drop_id, dtype=object)
        names = np.array([d for d, _, _ in self.segment.drops], dtype=object)
        return names[np.asarray(self.drops[rows], dtype=np.int64)]


def _open_segment(out_dir: Path, segment: Segment) -> SegmentFiles:
    folder = index_root(out_dir) / SEGMENTS / segment.name
    load = lambda name: np.load(folder / name, mmap_mode="r", allow_pickle=False)  # noqa: E731
    drops = load("drops.npy") if segment.drops else None
    files = SegmentFiles(segment, load("keys.npy"), load("rows.npy"), load("docs.npy"), load("signatures.npy"), drops)
    if len(files.docs) != segment.docs or len(files.keys) != len(files.rows) or len(files.signatures) != segment.docs:
        raise ValueError(f"segment files disagree with the manifest ({segment.docs} documents)")
    if drops is not None and (len(drops) != segment.docs or (len(drops) and int(drops.max()) >= len(segment.drops))):
        raise ValueError(f"segment drops.npy disagrees with the manifest ({len(segment.drops)} drops)")
    return files


def history_size(out_dir: Path) -> tuple[int, int, int]:
    """(documents, drops, bytes on disk) of the dedupe index; legacy Parquet partitions count their bytes."""
    root = index_root(out_dir)
    if not root.exists():
        return 0, 0, 0
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    try:
        segments = read_manifest(out_dir) or []
    except IndexUnusableError:
        segments = []
    legacy = legacy_partitions(out_dir)
    live = {drop: docs for s in segments for drop, docs in s.live_drops().items()}
    docs = sum(live.values())
    if legacy:
        import pyarrow.parquet as pq

        for part in (p for d in legacy for p in d.glob("*.parquet")):
            try:
                docs += pq.ParquetFile(part).metadata.num_rows
            except Exception:  # noqa: BLE001  (a damaged part counts as empty here)
                pass
    return docs, len(set(live) | {d.name for d in legacy}), size


def _entries(
    drop_ids: np.ndarray | None = None,
    docs: np.ndarray | None = None,
    signatures: np.ndarray | None = None,
    num_perm: int = 128,
) -> pl.DataFrame:
    """Index entries as a frame (doc_id, drop_id, rank, content_hash, signature; drop_ids per row); empty
    without docs."""
    schema = dedupe_index_entries(num_perm).polars_schema()
    if docs is None:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(
        {
            "doc_id": bytes_to_hex(docs["doc_id"]),
            "drop_id": pl.Series(drop_ids.tolist(), dtype=pl.String),
            "rank": docs["rank"],
            "content_hash": bytes_to_hex(docs["content_hash"]),
            "signature": pl.Series(signatures, dtype=pl.Array(pl.UInt32, num_perm)),
        },
        schema=schema,
    )


def query(
    out_dir: Path,
    band_keys: np.ndarray,
    content_hashes: np.ndarray,
    exclude_drop: str,
    cfg: MinHashConfig,
) -> tuple[pl.DataFrame, int]:
    """History documents that share an LSH band key or the exact hash with any of the given documents.

    band_keys (n, bands) uint64 and content_hashes (n, 20) uint8 are the current drop's. Returns the
    candidates (doc_id, drop_id, rank, content_hash, signature; in keep order: drop, then rank) and the
    number of documents in the history searched. The drop's own entries, and masked ones, are never searched.
    """

    segments = read_manifest(out_dir) or []
    other = [s for s in segments if set(s.live_drops()) - {exclude_drop}]
    live_other = lambda s: {d: n for d, n in s.live_drops().items() if d != exclude_drop}  # noqa: E731
    kinds = {s.signature_kind for s in other if sum(live_other(s).values())}
    if kinds - {cfg.signature_kind()}:
        wrong = [d for s in other if s.signature_kind != cfg.signature_kind() for d, n in live_other(s).items() if n]
        raise IndexUnusableError(
            f"the dedupe index under {out_dir} holds signatures of another kind "
            f"({', '.join(sorted(kinds - {cfg.signature_kind()}))}, drops {', '.join(sorted(wrong)[:5])}) than this "
            f"run ({cfg.signature_kind()}): use the same MinHash settings, or re-run those drops with --force"
        )
    empty = _entries(num_perm=cfg.num_perm)
    searched = sum(sum(live_other(s).values()) for s in other)
    if not len(band_keys) or not other:
        return empty, searched
    queries = np.unique(lookup_keys(band_keys, hash_prefixes(content_hashes)))
    wanted_bands = {(b, k) for b, column in enumerate(band_keys.T) for k in np.unique(column).tolist()}
    wanted_hashes = {bytes(h) for h in content_hashes}
    found = []
    for segment in other:
        if not sum(live_other(segment).values()):
            continue
        try:
            files = _open_segment(out_dir, segment)
            lo = np.searchsorted(files.keys, queries, side="left")
            hi = np.searchsorted(files.keys, queries, side="right")
            hit = hi > lo
            if not hit.any():
                continue
            lo, hi = lo[hit], hi[hit]
            spans = hi - lo
            positions = np.repeat(lo - np.cumsum(np.r_[0, spans[:-1]]), spans) + np.arange(spans.sum())
            rows = np.unique(np.asarray(files.rows[np.sort(positions)], dtype=np.int64))
            drop_ids = files.drop_ids(rows)
            if segment.drops:  # a merged segment: only its live rows of other drops
                rows = rows[np.isin(drop_ids, list(live_other(segment)))]
                drop_ids = files.drop_ids(rows)
            docs = np.asarray(files.docs[rows])
            signatures = np.asarray(files.signatures[rows], dtype=np.uint32)
        except (OSError, ValueError, EOFError) as exc:  # a damaged segment costs its own entries, with a warning
            log.warning(
                "dedupe index segment %s (drop %s) is unreadable and was skipped: %s; re-run that drop with --force "
                "to rebuild it",
                segment.name,
                ", ".join(live_other(segment)),
                exc,
            )
            continue
        # keep only true candidates: a full 64-bit band key or the whole content hash in common
        keys = bands_of(signatures, cfg)
        true = np.array(
            [
                bytes(docs["content_hash"][i]) in wanted_hashes
                or any((b, k) in wanted_bands for b, k in enumerate(keys[i].tolist()))
                for i in range(len(rows))
            ],
            dtype=bool,
        )
        if not true.any():
            continue
        found.append(_entries(drop_ids[true], docs[true], signatures[true], cfg.num_perm))
    if not found:
        return empty, searched
    return pl.concat(found).sort("drop_id", "rank"), searched


def export(out_dir: Path, num_perm: int = 128) -> pl.DataFrame:
    """Every live entry of the index (doc_id, drop_id, rank, content_hash, signature): for tests and audits."""
    frames = []
    for segment in read_manifest(out_dir) or []:
        files = _open_segment(out_dir, segment)
        rows = np.arange(segment.docs)
        drop_ids = files.drop_ids(rows)
        live = np.isin(drop_ids, list(segment.live_drops())) if segment.masked else np.ones(len(rows), dtype=bool)
        docs = np.asarray(files.docs)[live]
        signatures = np.asarray(files.signatures, dtype=np.uint32).reshape(segment.docs, num_perm)[live]
        frames.append(_entries(drop_ids[live], docs, signatures, num_perm))
    if not frames:
        return _entries(num_perm=num_perm)
    return pl.concat(frames).sort("drop_id", "rank")
