"""The dedupe index: what every later run deduplicates against, queried by key instead of loaded whole.

Layout under `<out>/_dedupe_index/`:

    MANIFEST.json                     which segments are live (one per drop), replaced atomically
    segments/<name>/segment.json      the segment's drop, document count and signature kind
    segments/<name>/docs.npy          per document: doc_id (16 bytes), content_hash (20 bytes), keep rank
    segments/<name>/signatures.npy    per document: the MinHash signature (num_perm x uint32)
    segments/<name>/keys.npy          sorted 32-bit lookup keys: one per LSH band and one for the exact hash
    segments/<name>/rows.npy          the document (row of docs.npy) each key belongs to

A run looks up its own documents' keys in every segment (a binary search in a memory-mapped sorted
array), reads only the matching documents' signatures, and keeps those that truly share a band key or
the exact hash (the 32-bit lookup key only narrows the search). Cost per run is proportional to the
drop's keys times log(history); memory holds the drop and its candidates. Segments are immutable: a run
writes its drop's segment into its staging area, and its commit moves it in and swaps the manifest
(`commit_segment`), under the out-dir-wide index lock (`textdrops.locking.index_lock`). Its entries as a
frame are declared in `textdrops.schema.dedupe_index_entries`.
"""

from __future__ import annotations

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
FORMAT = "textdrops-dedupe-index/2"
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
    name: str
    drop_id: str
    docs: int
    signature_kind: str


def _valid_segment(entry: object) -> Segment | None:
    if not isinstance(entry, dict):
        return None
    name, drop_id, docs, kind = (entry.get(k) for k in ("name", "drop_id", "docs", "signature_kind"))
    if not (isinstance(name, str) and _SEGMENT_NAME.match(name) and isinstance(drop_id, str) and drop_id):
        return None
    if not (isinstance(docs, int) and docs >= 0 and isinstance(kind, str)):
        return None
    return Segment(name, drop_id, docs, kind)


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


def write_manifest(out_dir: Path, segments: list[Segment]) -> None:
    data = {"format": FORMAT, "segments": [s.__dict__ for s in segments]}
    root = index_root(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    write_text_durably(root / MANIFEST, json.dumps(data))


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


def _next_segments(out_dir: Path, drop_id: str, segment: Path, name: str) -> list[Segment]:
    """The live segments with `segment` (named `name`) as the drop's entries, replacing its earlier ones."""
    meta = json.loads((segment / "segment.json").read_text(encoding="utf-8"))
    new = Segment(name, drop_id, int(meta["docs"]), str(meta["signature_kind"]))
    return [*(s for s in read_manifest(out_dir) or [] if s.drop_id != drop_id), new]


def stage_manifest(out_dir: Path, drop_id: str, staged: Path, name: str, manifest: Path) -> None:
    """Write the manifest that will name the staged segment to `manifest`, and beside it (`.base`) the hash of
    the live manifest it was computed from, so the commit puts it in place with a rename and writes nothing.
    The caller holds the index lock (the live manifest cannot change before its commit)."""
    segments = _next_segments(out_dir, drop_id, staged, name)
    write_text_durably(manifest, json.dumps({"format": FORMAT, "segments": [s.__dict__ for s in segments]}))
    base = manifest.with_name(manifest.name + ".base")
    base.write_text(_manifest_hash(out_dir), encoding="utf-8")
    fsync_path(base)
    (index_root(out_dir) / SEGMENTS).mkdir(parents=True, exist_ok=True)  # the commit creates no folder either


def commit_segment(out_dir: Path, drop_id: str, staged: Path, name: str, manifest: Path | None = None) -> None:
    """Make the staged segment the drop's entries in the index, replacing its earlier ones (idempotent:
    recovery may call it again after a crash at any point). The caller holds the index lock.

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
    if any(s.name == name for s in live):
        _remove_unreferenced(out_dir, live)
        return
    if not target.exists():
        log.warning("index segment %s of drop %s is missing; its index entries are left as they were", name, drop_id)
        return
    base = manifest.with_name(manifest.name + ".base") if manifest else None
    if manifest and manifest.exists() and base.exists() and base.read_text(encoding="utf-8") == _manifest_hash(out_dir):
        os.replace(manifest, root / MANIFEST)
        fsync_path(root)
        _remove_unreferenced(out_dir, read_manifest(out_dir) or [])
        return
    segments = _next_segments(out_dir, drop_id, target, name)
    write_manifest(out_dir, segments)
    _remove_unreferenced(out_dir, segments)


def _remove_unreferenced(out_dir: Path, live: list[Segment]) -> None:
    """Delete segment folders the manifest no longer names (replaced drops, half-written migrations)."""
    segments_dir = index_root(out_dir) / SEGMENTS
    names = {s.name for s in live}
    if segments_dir.exists():
        for folder in segments_dir.iterdir():
            if folder.name not in names:
                shutil.rmtree(folder, ignore_errors=True)


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
    replaced = {s.drop_id for s in added}
    write_manifest(out_dir, [s for s in live if s.drop_id not in replaced] + added)
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


def _open_segment(out_dir: Path, segment: Segment) -> SegmentFiles:
    folder = index_root(out_dir) / SEGMENTS / segment.name
    load = lambda name: np.load(folder / name, mmap_mode="r", allow_pickle=False)  # noqa: E731
    files = SegmentFiles(segment, load("keys.npy"), load("rows.npy"), load("docs.npy"), load("signatures.npy"))
    if len(files.docs) != segment.docs or len(files.keys) != len(files.rows) or len(files.signatures) != segment.docs:
        raise ValueError(f"segment files disagree with the manifest ({segment.docs} documents)")
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
    docs = sum(s.docs for s in segments)
    if legacy:
        import pyarrow.parquet as pq

        for part in (p for d in legacy for p in d.glob("*.parquet")):
            try:
                docs += pq.ParquetFile(part).metadata.num_rows
            except Exception:  # noqa: BLE001  (a damaged part counts as empty here)
                pass
    return docs, len({s.drop_id for s in segments} | {d.name for d in legacy}), size


def _entries(
    drop_id: str = "", docs: np.ndarray | None = None, signatures: np.ndarray | None = None, num_perm: int = 128
) -> pl.DataFrame:
    """Index entries as a frame (doc_id, drop_id, rank, content_hash, signature); empty without docs."""
    schema = dedupe_index_entries(num_perm).polars_schema()
    if docs is None:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(
        {
            "doc_id": bytes_to_hex(docs["doc_id"]),
            "drop_id": [drop_id] * len(docs),
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
    number of documents in the history searched. The drop's own entries are never searched.
    """

    segments = read_manifest(out_dir) or []
    other = [s for s in segments if s.drop_id != exclude_drop]
    kinds = {s.signature_kind for s in other if s.docs}
    if kinds - {cfg.signature_kind()}:
        wrong = [s.drop_id for s in other if s.docs and s.signature_kind != cfg.signature_kind()]
        raise IndexUnusableError(
            f"the dedupe index under {out_dir} holds signatures of another kind "
            f"({', '.join(sorted(kinds - {cfg.signature_kind()}))}, drops {', '.join(sorted(wrong)[:5])}) than this "
            f"run ({cfg.signature_kind()}): use the same MinHash settings, or re-run those drops with --force"
        )
    empty = _entries(num_perm=cfg.num_perm)
    searched = sum(s.docs for s in other)
    if not len(band_keys) or not other:
        return empty, searched
    queries = np.unique(lookup_keys(band_keys, hash_prefixes(content_hashes)))
    wanted_bands = {(b, k) for b, column in enumerate(band_keys.T) for k in np.unique(column).tolist()}
    wanted_hashes = {bytes(h) for h in content_hashes}
    found = []
    for segment in other:
        if not segment.docs:
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
            docs = np.asarray(files.docs[rows])
            signatures = np.asarray(files.signatures[rows], dtype=np.uint32)
        except (OSError, ValueError, EOFError) as exc:  # a damaged segment costs its own entries, with a warning
            log.warning(
                "dedupe index segment %s (drop %s) is unreadable and was skipped: %s; re-run that drop with --force "
                "to rebuild it",
                segment.name,
                segment.drop_id,
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
        docs, signatures = docs[true], signatures[true]
        found.append(_entries(segment.drop_id, docs, signatures, cfg.num_perm))
    if not found:
        return empty, searched
    return pl.concat(found).sort("drop_id", "rank"), searched


def export(out_dir: Path, num_perm: int = 128) -> pl.DataFrame:
    """Every live entry of the index (doc_id, drop_id, rank, content_hash, signature): for tests and audits."""
    frames = []
    for segment in read_manifest(out_dir) or []:
        files = _open_segment(out_dir, segment)
        docs = np.asarray(files.docs)
        signatures = np.asarray(files.signatures, dtype=np.uint32).reshape(len(docs), num_perm)
        frames.append(_entries(segment.drop_id, docs, signatures, num_perm))
    if not frames:
        return _entries(num_perm=num_perm)
    return pl.concat(frames).sort("drop_id", "rank")
