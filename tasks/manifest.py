"""A drop's optional manifest.csv: read and checked once per run, joined onto the cleaned documents."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import polars as pl

from textdrops import drop_source

MANIFEST_NAME = "manifest.csv"
# Manifest columns besides `file`; the first name present wins (Reuters-21578 ships `date_iso`).
MANIFEST_ALIASES = {
    "published_at": ("published_at", "date_iso", "published", "date"),
    "source": ("source",),
    "url": ("url",),
    "title": ("title",),
}
MAX_MANIFEST_BYTES = 100_000_000  # about a million rows; a larger manifest fails the run with a message


class ManifestError(ValueError):
    """The drop's manifest.csv cannot be used; the message names the file and the fix."""


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


def _read_manifest_object(url: str) -> bytes | None:
    """The manifest object's bytes under a drop prefix, None when there is none; ManifestError when too large."""
    store = drop_source.open_drop(url)
    size = drop_source.object_size(store, MANIFEST_NAME)
    if size is not None and size > MAX_MANIFEST_BYTES:
        raise ManifestError(
            f"{url}/{MANIFEST_NAME} is larger than the manifest limit of {MAX_MANIFEST_BYTES:,} bytes; "
            "keep only the columns the pipeline reads (file, published_at, source, url, title)"
        )
    return None if size is None else drop_source.read_object(store, MANIFEST_NAME)


def read_manifest(drop: Path | str) -> tuple[pl.DataFrame | None, list[str]]:
    """The drop's manifest (file, published_at, source, url, title) or None, plus warnings: a folder's
    manifest.csv, or the object manifest.csv under a drop prefix."""
    if drop_source.is_object_location(drop):
        path = f"{drop}/{MANIFEST_NAME}"
        data = _read_manifest_object(str(drop))
    else:
        path = Path(drop) / MANIFEST_NAME
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
