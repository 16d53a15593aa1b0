"""Load stage: read and decode a batch of a drop's files (found by `tasks.discover`).

Every file that looks like input (`*.txt`, `*.txt.gz`) ends as a decoded document row or a quarantine
row with a reason from `textdrops.schema.QUARANTINE_REASONS`; nothing is skipped silently.
"""

from __future__ import annotations

import codecs
import errno
import functools
import gzip
import hashlib
import io
import itertools
import os
import stat
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer
import polars as pl

from textdrops import drop_source
from textdrops.faults import document_point
from textdrops.schema import QUARANTINED_FILES
from textdrops.store import Store

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BINARY_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"%PDF", b"PK\x03\x04", b"\x7fELF")
# C0 controls other than tab, newline, vertical tab, form feed and carriage return.
_CONTROL_BYTES = bytes(set(range(32)) - {9, 10, 11, 12, 13})


class Quarantined(Exception):
    """A file cannot become a document; `reason` is from the closed set in the schema."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class InputFile:
    path: str  # relative to the drop, with forward slashes
    size_bytes: int
    version: str | None = None  # an object's ETag (or mtime), from the listing; None for a local file


def quarantine_frame(rows: list[dict]) -> pl.DataFrame:
    """Quarantine rows (source_path, reason, detail, size_bytes) as a frame, typed even when empty."""
    return pl.DataFrame(rows, schema=QUARANTINED_FILES.polars_schema())


def decode(raw: bytes) -> tuple[str, str]:
    """Decoded text and the encoding used; raises Quarantined when the bytes are not text."""
    if not raw:
        raise Quarantined("empty_file", "the file has zero bytes")
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise Quarantined("undecodable", f"starts with a {encoding} byte-order mark but {exc}") from exc
    head = raw[:4096]
    if head.startswith(_BINARY_MAGIC):
        raise Quarantined("binary", "starts with the signature of a binary format (image, PDF, archive)")
    if b"\x00" in head:
        utf16 = _utf16_without_bom(raw)
        if utf16 is not None:
            return utf16
        raise Quarantined("binary", "contains NUL bytes")
    if sum(head.count(bytes([b])) for b in _CONTROL_BYTES) > len(head) * 0.05:
        raise Quarantined("binary", "mostly control characters")
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    western = _as_western_text(raw)
    if western is not None:
        return western, "cp1252"
    best = charset_normalizer.from_bytes(raw[:200_000]).best()
    if best is None:
        raise Quarantined("undecodable", "not UTF-8 and no other encoding decodes it cleanly")
    return raw.decode(best.encoding, errors="replace"), best.encoding


def _utf16_without_bom(raw: bytes) -> tuple[str, str] | None:
    """UTF-16 text without a BOM shows NULs in every other byte (for mostly-ASCII text)."""
    sample = raw[:4096]
    even, odd = sample[0::2], sample[1::2]
    for encoding, zeros in (("utf-16-le", odd), ("utf-16-be", even)):
        if zeros and zeros.count(0) > 0.8 * len(zeros):
            try:
                return raw.decode(encoding), encoding
            except UnicodeDecodeError:
                return None
    return None


def _as_western_text(raw: bytes) -> str | None:
    """cp1252 text, when the bytes decode as cp1252 into mostly-ASCII letters.

    Scraped English news that is not UTF-8 is nearly always cp1252/latin-1 with a few curly quotes,
    dashes and accents; statistical detectors guess other code pages (cp852, cp1250) for such short
    runs of non-ASCII bytes, which turns every quote into a wrong letter.
    """
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        return None
    letters = sum(c.isalpha() for c in text)
    non_ascii = sum(1 for c in text if ord(c) > 127)
    return text if letters and non_ascii <= 0.3 * letters else None


def read_file(drop: Path | Store, entry: InputFile, max_bytes: int) -> tuple[bytes, str]:
    """Raw bytes of one input (gunzipped) and its sha256 over the bytes on disk (or in the object store).

    The size limit holds for the bytes actually read, not only the size seen at discovery (a file may
    grow in between), and a file replaced by a symbolic link since discovery is not followed.
    """
    if entry.size_bytes > max_bytes:
        raise Quarantined("too_large", f"{entry.size_bytes} bytes is over the limit of {max_bytes}")
    if isinstance(drop, Store):
        data = drop_source.read_object(drop, entry.path, max_bytes + 1, entry.size_bytes)
        if data is None:
            raise Quarantined("unreadable", "cannot read: the object is gone since the drop was listed")
    else:
        data = _read_local(drop / entry.path, max_bytes)
    if len(data) > max_bytes:
        raise Quarantined("too_large", f"grew past the limit of {max_bytes} bytes after it was found")
    sha = hashlib.sha256(data).hexdigest()
    if entry.path.lower().endswith(".gz"):
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
                data = gz.read(max_bytes + 1)
        except (OSError, EOFError) as exc:
            raise Quarantined("unreadable", f"broken gzip data: {exc}") from exc
        if len(data) > max_bytes:
            raise Quarantined("too_large", f"decompresses to more than {max_bytes} bytes")
    return data, sha


def _read_local(path: Path, max_bytes: int) -> bytes:
    """Up to max_bytes + 1 bytes of a regular file, never through a symbolic link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise Quarantined("not_a_file", "no longer a regular file when it was read")
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Quarantined("symlink", "replaced by a symbolic link after it was found; not followed") from exc
        raise Quarantined("unreadable", f"cannot read: {exc.strerror or exc}") from exc
    return data


OBJECT_READS_IN_FLIGHT = 16  # at most this many objects' bytes held beyond the one being decoded


def _reads(
    drop: Path | Store, entries: list[InputFile], max_bytes: int
) -> Iterator[tuple[InputFile, Callable[[], tuple[bytes, str]]]]:
    """Each entry with the call that gives its bytes and sha256 (raising Quarantined): a local file is read
    when called; objects are fetched ahead in a window of OBJECT_READS_IN_FLIGHT threads, in entry order."""
    if not isinstance(drop, Store):
        for entry in entries:
            yield entry, functools.partial(read_file, drop, entry, max_bytes)
        return
    with ThreadPoolExecutor(OBJECT_READS_IN_FLIGHT, thread_name_prefix="object-read") as pool:
        window: deque = deque()
        pending = iter(entries)
        for entry in itertools.islice(pending, OBJECT_READS_IN_FLIGHT):
            window.append((entry, pool.submit(read_file, drop, entry, max_bytes)))
        while window:
            entry, future = window.popleft()
            for following in itertools.islice(pending, 1):
                window.append((following, pool.submit(read_file, drop, following, max_bytes)))
            yield entry, future.result


def load_batch(drop: Path | str, entries: list[InputFile], max_bytes: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Decoded documents (source_path, source_sha256, size_bytes, encoding, raw_text) and quarantine rows.

    An object-store drop (an s3:// URL) is opened here, in the process that reads it, from its own settings,
    and read OBJECT_READS_IN_FLIGHT objects at a time (a GET waits on the network, not on this process)."""
    drop = drop_source.open_drop(drop) if drop_source.is_object_location(drop) else Path(drop)
    docs: list[dict] = []
    rejected: list[dict] = []
    for entry, read in _reads(drop, entries, max_bytes):
        try:
            data, sha = read()
            text, encoding = decode(data)
            document_point(text)
        except Quarantined as q:
            rejected.append(
                {
                    "source_path": entry.path,
                    "reason": q.reason,
                    "detail": q.detail,
                    "size_bytes": entry.size_bytes,
                }
            )
            continue
        docs.append(
            {
                "source_path": entry.path,
                "source_sha256": sha,
                "size_bytes": entry.size_bytes,
                "encoding": encoding,
                "raw_text": text,
            }
        )
    frame = pl.DataFrame(
        docs,
        schema={
            "source_path": pl.String,
            "source_sha256": pl.String,
            "size_bytes": pl.Int64,
            "encoding": pl.String,
            "raw_text": pl.String,
        },
    )
    return frame, quarantine_frame(rejected)
