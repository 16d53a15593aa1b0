"""Load stage: find a drop's files, read the optional manifest, read and decode bytes.

Every file that looks like input (`*.txt`, `*.txt.gz`) ends as a decoded document row or a quarantine
row with a reason from `textdrops.schema.QUARANTINE_REASONS`; nothing is skipped silently.
"""

from __future__ import annotations

import codecs
import errno
import gzip
import hashlib
import io
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import charset_normalizer
import polars as pl

from tasks.write import write_part
from textdrops.faults import document_point
from textdrops.schema import QUARANTINED_FILES
from textdrops.staging import RunContext, quarantine_part
from textdrops.stats import QUARANTINE_REASONS, StageStats

INPUT_SUFFIXES = (".txt", ".txt.gz")
MANIFEST_NAME = "manifest.csv"
# Manifest columns besides `file`; the first name present wins (Reuters-21578 ships `date_iso`).
MANIFEST_ALIASES = {
    "published_at": ("published_at", "date_iso", "published", "date"),
    "source": ("source",),
    "url": ("url",),
    "title": ("title",),
}
_DROP_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
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
_ONE_READ_BYTES = 1 << 20  # files up to this size are hashed from one read
MAX_MANIFEST_BYTES = 100_000_000  # about a million rows; a larger manifest fails the run with a message


class ManifestError(ValueError):
    """The drop's manifest.csv cannot be used; the message names the file and the fix."""


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


class DropNameError(ValueError):
    """The drop's folder name cannot be a partition value that every reader gives back unchanged."""


# Hive partition folders are `drop_id=<name>`: readers split the folder name at `=` and URL-decode it
# (pyarrow, DuckDB and Spark turn `%2F` into `/`), so a name with `=` or `%` would come back as another
# drop id; `/` and `\` are path separators, and control characters break every listing. Such names
# are refused rather than encoded, so that a drop id is always exactly its folder name. Glob
# characters (`[`, `?`, `*`) and spaces are fine: no path is ever handed to a glob unescaped.
_REFUSED_IN_DROP_NAMES = re.compile(r"[=%/\\\x00-\x1f\x7f]")


def check_drop_name(name: str) -> str:
    """name, when it can be a drop id; DropNameError naming the problem and the fix otherwise."""
    bad = sorted(set(_REFUSED_IN_DROP_NAMES.findall(name)))
    if bad or not name:
        shown = ", ".join(repr(c) for c in bad) or "nothing"
        raise DropNameError(
            f"drop folder name {name!r} cannot be a drop id: it contains {shown}, which Parquet readers "
            "do not give back unchanged from a hive partition (drop_id=<name>); rename the folder "
            "without = % / \\ or control characters"
        )
    return name


def drop_id_of(drop: Path) -> str:
    """The drop's id: its folder name (DropNameError when it cannot be one, see check_drop_name)."""
    return check_drop_name(drop.resolve().name)


def drop_date_of(drop_id: str) -> date | None:
    """The drop's date when its folder name starts with YYYY-MM-DD."""
    m = _DROP_DATE.match(drop_id)
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def is_input_name(name: str) -> bool:
    return name.lower().endswith(INPUT_SUFFIXES)


def discover(drop: Path) -> tuple[list[InputFile], pl.DataFrame]:
    """Input files under `drop` (sorted), and quarantine rows for entries that cannot be inputs."""
    if not drop.exists():
        raise FileNotFoundError(f"drop folder {drop} does not exist: give the path of a folder of .txt files")
    if not drop.is_dir():
        raise NotADirectoryError(f"drop {drop} is not a folder: give the path of a folder of .txt files")
    files: list[InputFile] = []
    rejected: list[dict] = []

    def unlisted(error: OSError) -> None:
        # a folder the walk cannot list (no permission, a path past the system's limit): its files are
        # unknown, so the folder itself is quarantined; the drop's own folder fails the run
        where = Path(error.filename) if error.filename else drop
        if where == drop:
            raise OSError(error.errno, f"drop folder {drop} cannot be listed: {error.strerror}; fix its permissions")
        rel = where.relative_to(drop).as_posix()
        detail = f"folder cannot be listed ({error.strerror}): the files in it were not read"
        rejected.append({"source_path": rel, "reason": "unreadable", "detail": detail, "size_bytes": None})

    for dirpath, dirnames, filenames in os.walk(drop, onerror=unlisted, followlinks=False):
        dirnames.sort()
        base = Path(dirpath)
        for name in dirnames:
            if is_input_name(name):
                rel = (base / name).relative_to(drop).as_posix()
                kind = "symlink" if (base / name).is_symlink() else "not_a_file"
                detail = (
                    "symbolic link to a folder, not followed"
                    if kind == "symlink"
                    else "a folder named like a text file"
                )
                rejected.append({"source_path": rel, "reason": kind, "detail": detail, "size_bytes": None})
        for name in sorted(filenames):
            if not is_input_name(name):
                continue
            full = base / name
            rel = full.relative_to(drop).as_posix()
            try:
                st = full.lstat()
            except OSError as exc:
                rejected.append({"source_path": rel, "reason": "unreadable", "detail": str(exc), "size_bytes": None})
                continue
            if full.is_symlink():
                target = os.readlink(full)
                rejected.append(
                    {
                        "source_path": rel,
                        "reason": "symlink",
                        "detail": f"symbolic link to {target}, not followed",
                        "size_bytes": None,
                    }
                )
            elif not full.is_file():
                rejected.append(
                    {
                        "source_path": rel,
                        "reason": "not_a_file",
                        "detail": "not a regular file",
                        "size_bytes": None,
                    }
                )
            else:
                files.append(InputFile(rel, st.st_size))
    return files, quarantine_frame(rejected)


def quarantine_frame(rows: list[dict]) -> pl.DataFrame:
    """Quarantine rows (source_path, reason, detail, size_bytes) as a frame, typed even when empty."""
    return pl.DataFrame(rows, schema=QUARANTINED_FILES.polars_schema())


def _read_manifest_bytes(path: Path) -> bytes | None:
    """The manifest's bytes, None when there is none; ManifestError for a symlink, a special file or one
    over MAX_MANIFEST_BYTES (opened without following links, so a link swapped in later is refused too)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise ManifestError(
            f"{path} is a symbolic link (to {os.readlink(path)}); links are not followed, so that a drop "
            "cannot read outside itself: put the manifest file itself in the drop"
        )
    if stat.S_ISDIR(st.st_mode):
        return None  # a folder named manifest.csv: no manifest
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise ManifestError(f"{path}: cannot open ({exc.strerror or exc}); fix or remove the manifest") from exc
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ManifestError(f"{path} is not a regular file; replace it with a CSV file or remove it")
        data = handle.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(
            f"{path} is larger than the manifest limit of {MAX_MANIFEST_BYTES:,} bytes; "
            "keep only the columns the pipeline reads (file, published_at, source, url, title)"
        )
    return data


def read_manifest(drop: Path) -> tuple[pl.DataFrame | None, list[str]]:
    """The drop's manifest (file, published_at, source, url, title) or None, plus warnings."""
    path = drop / MANIFEST_NAME
    data = _read_manifest_bytes(path)
    if data is None:
        return None, []
    try:
        raw = pl.read_csv(io.BytesIO(data), infer_schema=False, encoding="utf8-lossy")
    except Exception as exc:  # polars raises several error types for malformed CSV
        raise ManifestError(f"{path}: cannot parse as CSV ({exc}); fix or remove the manifest") from exc
    if "file" not in raw.columns:
        raise ManifestError(f"{path}: no `file` column; the manifest needs a `file` column of paths in the drop")
    warnings: list[str] = []
    cols = {"file": pl.col("file").str.strip_chars().str.replace_all("\\\\", "/")}
    for target, aliases in MANIFEST_ALIASES.items():
        found = next((a for a in aliases if a in raw.columns), None)
        cols[target] = pl.col(found) if found else pl.lit(None, dtype=pl.String)
    manifest = raw.select(**cols)
    parsed = manifest.with_columns(
        published_at=pl.col("published_at")
        .str.strip_chars()
        .str.to_datetime(time_zone="UTC", strict=False, time_unit="us")
        .fill_null(pl.col("published_at").str.strip_chars().str.to_date(strict=False).cast(pl.Datetime("us", "UTC")))
    )
    bad_dates = parsed.filter(pl.col("published_at").is_null() & manifest["published_at"].is_not_null())
    if bad_dates.height:
        examples = ", ".join(bad_dates["file"].head(3).to_list())
        warnings.append(f"{path}: {bad_dates.height} unparseable published_at values ignored (e.g. {examples})")
    unsafe = parsed.filter(pl.col("file").str.starts_with("/") | pl.col("file").str.contains(r"(^|/)\.\.(/|$)"))
    if unsafe.height:
        warnings.append(f"{path}: {unsafe.height} rows point outside the drop and are ignored")
        parsed = parsed.filter(~pl.col("file").is_in(unsafe["file"].implode()))
    dupes = parsed.filter(pl.col("file").is_duplicated())
    if dupes.height:
        warnings.append(f"{path}: {dupes['file'].n_unique()} files listed more than once; the first row wins")
        parsed = parsed.unique("file", keep="first", maintain_order=True)
    return parsed, warnings


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


def read_file(drop: Path, entry: InputFile, max_bytes: int) -> tuple[bytes, str]:
    """Raw bytes of one input (gunzipped) and its sha256 over the bytes on disk.

    The size limit holds for the bytes actually read, not only the size seen at discovery (a file may
    grow in between), and a file replaced by a symbolic link since discovery is not followed.
    """
    if entry.size_bytes > max_bytes:
        raise Quarantined("too_large", f"{entry.size_bytes} bytes is over the limit of {max_bytes}")
    path = drop / entry.path
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


def load_batch(drop: Path, entries: list[InputFile], max_bytes: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Decoded documents (source_path, source_sha256, size_bytes, encoding, raw_text) and quarantine rows."""
    docs: list[dict] = []
    rejected: list[dict] = []
    for entry in entries:
        try:
            data, sha = read_file(drop, entry, max_bytes)
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


def listing(drop: Path) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime_ns) of every input file: cheap to take, changes when a file is written."""
    files, _ = discover(drop)
    out = []
    for f in files:
        try:
            out.append((f.path, f.size_bytes, (drop / f.path).stat().st_mtime_ns))
        except OSError:
            out.append((f.path, -1, -1))
    return out


def fingerprint(drop: Path, discovered: tuple[list[InputFile], pl.DataFrame] | None = None) -> str:
    """sha256 over every input file's relative path, size and content hash: equal iff the drop is unchanged.

    `discovered` is what `discover(drop)` returned, when the caller already has it.
    """
    digest = hashlib.sha256()
    files, rejected = discovered if discovered is not None else discover(drop)
    for f in files:
        try:
            content = _file_sha256(drop / f.path, f.size_bytes)
        except OSError as exc:
            content = hashlib.sha256(f"unreadable:{exc.errno}".encode()).hexdigest()
        digest.update(f"{f.path}\0{f.size_bytes}\0{content}\n".encode())
    for path in rejected["source_path"]:
        digest.update(f"{path}\0rejected\n".encode())
    return digest.hexdigest()


def _file_sha256(path: Path, size_hint: int) -> str:
    """sha256 of a file's bytes: small files in one unbuffered read, large ones in 1 MiB blocks."""
    content = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        block = handle.read(size_hint + 1 if size_hint < _ONE_READ_BYTES else _ONE_READ_BYTES)
        while block:
            content.update(block)
            block = handle.read(_ONE_READ_BYTES)
    return content.hexdigest()


def split_batches(files: list[InputFile], batch_size: int, max_batches: int) -> list[list[InputFile]]:
    """Consecutive batches of at most batch_size files, enlarged so there are at most max_batches."""
    if not files:
        return []
    size = max(batch_size, -(-len(files) // max_batches))
    return [files[i : i + size] for i in range(0, len(files), size)]


@dataclass(frozen=True)
class DiscoveredDrop:
    """A drop's inputs split into batches, its fingerprint, and what discover said about it."""

    batches: list[list[InputFile]]
    fingerprint: str
    files_seen: int
    quarantined: int  # files rejected on sight
    has_manifest: bool
    warnings: tuple[str, ...]
    stats: StageStats


def discover_drop(ctx: RunContext, warn: Callable[[str], None]) -> DiscoveredDrop:
    """Find the drop's inputs and manifest; stage the manifest and the files rejected on sight. Problems
    with the manifest go to `warn` (and into the result)."""
    drop = Path(ctx.drop)
    files, rejected = discover(drop)
    manifest, warnings = read_manifest(drop)
    if manifest is not None:
        unknown = manifest.filter(~pl.col("file").is_in([f.path for f in files]))
        if unknown.height:
            examples = ", ".join(unknown["file"].head(3).to_list())
            warnings.append(
                f"{drop / MANIFEST_NAME}: {unknown.height} rows name files not in the drop (e.g. {examples})"
            )
    for warning in warnings:
        warn(warning)
    if not files and rejected.height == 0:
        raise ValueError(f"drop {drop} has no .txt or .txt.gz files: nothing to process")
    ctx.staging.mkdir(parents=True, exist_ok=True)
    ctx.drop_id_path.write_text(ctx.drop_id)
    if manifest is not None:
        manifest.rename({"title": "manifest_title"}).write_parquet(ctx.manifest_path)
    write_part(
        rejected.with_columns(**ctx.per_run()),
        "quarantine",
        ctx.staged("quarantine"),
        quarantine_part("discover"),
        keep_empty=True,
    )
    return DiscoveredDrop(
        batches=split_batches(files, ctx.settings.batch_size, ctx.settings.max_batches),
        fingerprint=fingerprint(drop, (files, rejected)),
        files_seen=len(files) + rejected.height,
        quarantined=rejected.height,
        has_manifest=manifest is not None,
        warnings=tuple(warnings),
        stats=StageStats().count(QUARANTINE_REASONS, rejected["reason"].value_counts().rows()),
    )


def join_manifest(cleaned: pl.DataFrame, manifest_path: Path) -> pl.DataFrame:
    """The manifest's published_at, source, url and title joined to the documents it names (left join: a
    document the manifest does not name keeps nulls, and its own headline)."""
    if manifest_path.exists():
        manifest = pl.read_parquet(manifest_path, glob=False)
        cleaned = cleaned.join(manifest, left_on="source_path", right_on="file", how="left")
        return cleaned.with_columns(title=pl.coalesce("manifest_title", "title")).drop("manifest_title")
    return cleaned.with_columns(
        published_at=pl.lit(None, dtype=pl.Datetime("us", "UTC")),
        source=pl.lit(None, dtype=pl.String),
        url=pl.lit(None, dtype=pl.String),
    )
