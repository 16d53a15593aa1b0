"""Discover step: what a drop is (its id and date from its folder name), which of its files are input,
its fingerprint, and the batches its files are split into.

A folder the walk cannot list is quarantined `unreadable`; files rejected on sight (a symlink, a folder named
`x.txt`) are quarantined with a reason: nothing found is skipped silently. A drop in an object store
(`s3://bucket/raw/<drop>`, see `textdrops.drop_source`) is one listing of its prefix: every object is a file."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from tasks.load import InputFile, quarantine_frame
from tasks.manifest import MANIFEST_NAME, read_manifest
from tasks.write import write_part
from textdrops import drop_source
from textdrops.drop_source import is_input_name, is_object_location
from textdrops.staging import RunContext, quarantine_part
from textdrops.stats import QUARANTINE_REASONS, StageStats

_DROP_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


_ONE_READ_BYTES = 1 << 20  # files up to this size are hashed from one read


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


def drop_id_of(drop: Path | str) -> str:
    """The drop's id: its folder name, or the last segment of its prefix (DropNameError when it cannot be
    one, see check_drop_name)."""
    if is_object_location(drop):
        return check_drop_name(drop_source.location_name(drop))
    return check_drop_name(Path(drop).resolve().name)


def drop_date_of(drop_id: str) -> date | None:
    """The drop's date when its folder name starts with YYYY-MM-DD."""
    m = _DROP_DATE.match(drop_id)
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def discover(drop: Path | str) -> tuple[list[InputFile], pl.DataFrame]:
    """Input files under `drop` (sorted), and quarantine rows for entries that cannot be inputs."""
    if is_object_location(drop):
        objects = drop_source.list_objects(drop_source.open_drop(str(drop)))
        files = [InputFile(o.path, o.size, drop_source.object_version(o)) for o in drop_source.input_objects(objects)]
        return files, quarantine_frame([])  # an object store has no links, special files or unlistable folders
    drop = Path(drop)
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

    root = os.fspath(drop)
    for dirpath, dirnames, filenames in os.walk(root, onerror=unlisted, followlinks=False):
        dirnames.sort()
        # paths relative to the drop, joined as strings: pathlib per file cost more than the listing
        prefix = "" if dirpath == root else os.path.relpath(dirpath, root).replace(os.sep, "/") + "/"
        for name in dirnames:
            if is_input_name(name):
                kind = "symlink" if os.path.islink(os.path.join(dirpath, name)) else "not_a_file"
                detail = (
                    "symbolic link to a folder, not followed"
                    if kind == "symlink"
                    else "a folder named like a text file"
                )
                rejected.append({"source_path": prefix + name, "reason": kind, "detail": detail, "size_bytes": None})
        for name in sorted(filenames):
            if not is_input_name(name):
                continue
            full = os.path.join(dirpath, name)
            rel = prefix + name
            try:
                st = os.lstat(full)  # one call tells a link, a special file and a regular file's size apart
            except OSError as exc:
                rejected.append({"source_path": rel, "reason": "unreadable", "detail": str(exc), "size_bytes": None})
                continue
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(full)
                rejected.append(
                    {
                        "source_path": rel,
                        "reason": "symlink",
                        "detail": f"symbolic link to {target}, not followed",
                        "size_bytes": None,
                    }
                )
            elif not stat.S_ISREG(st.st_mode):
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


def listing(drop: Path | str) -> list[tuple]:
    """(relative path, size, mtime_ns or ETag) of every input file: cheap to take, changes when a file is written."""
    if is_object_location(drop):
        return drop_source.object_listing(drop_source.open_drop(str(drop)))
    drop = Path(drop)
    files, _ = discover(drop)
    out = []
    for f in files:
        try:
            out.append((f.path, f.size_bytes, (drop / f.path).stat().st_mtime_ns))
        except OSError:
            out.append((f.path, -1, -1))
    return out


def fingerprint(drop: Path | str, discovered: tuple[list[InputFile], pl.DataFrame] | None = None) -> str:
    """sha256 over every input file's relative path, size and content hash: equal iff the drop is unchanged.
    An object-store drop's comes from its listing (key, size, ETag: `drop_source.object_fingerprint`).

    `discovered` is what `discover(drop)` returned, when the caller already has it.
    """
    files, rejected = discovered if discovered is not None else discover(drop)
    if is_object_location(drop):
        return drop_source.object_fingerprint((f.path, f.size_bytes, f.version or "") for f in files)
    digest = hashlib.sha256()
    for f, content in zip(files, _content_hashes(os.fspath(drop), files), strict=True):
        digest.update(f"{f.path}\0{f.size_bytes}\0{content}\n".encode())
    for path in rejected["source_path"]:
        digest.update(f"{path}\0rejected\n".encode())
    return digest.hexdigest()


def _content_hashes(root: str, files: list[InputFile]) -> list[str]:
    """sha256 of each file's bytes (of its read error when it cannot be read), in the files' order. (Threads
    reading at once were slower on 21,578 small files: the per-file work holds the GIL.)"""
    out = []
    for f in files:
        try:
            out.append(_file_sha256(os.path.join(root, f.path), f.size_bytes))
        except OSError as exc:
            out.append(hashlib.sha256(f"unreadable:{exc.errno}".encode()).hexdigest())
    return out


def _file_sha256(path: str | Path, size_hint: int) -> str:
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
    drop = ctx.drop if is_object_location(ctx.drop) else Path(ctx.drop)
    files, rejected = discover(drop)
    manifest, warnings = read_manifest(drop)
    if manifest is not None:
        unknown = manifest.filter(~pl.col("file").is_in([f.path for f in files]))
        if unknown.height:
            examples = ", ".join(unknown["file"].head(3).to_list())
            warnings.append(
                f"{drop}/{MANIFEST_NAME}: {unknown.height} rows name files not in the drop (e.g. {examples})"
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
