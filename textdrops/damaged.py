"""Reading Parquet files of which some may be damaged (a zero-byte part after a power cut, say).

A damaged file costs that file, with a warning naming it, never every later run: run records, story
summaries, the stories and documents a run looks up all read their files through `read_parts`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import polars as pl

log = logging.getLogger(__name__)


def warn_unreadable(what: str, path: Path, exc: BaseException, fix: str) -> None:
    log.warning("skipping unreadable %s %s (%s: %s); %s", what, path, type(exc).__name__, exc, fix)


def read_part(path: Path, what: str, fix: str, columns: list[str] | None = None) -> pl.DataFrame | None:
    """The file's rows (`columns` of them), or None with a warning naming the file when it is unreadable."""
    try:
        return pl.read_parquet(path, columns=columns, hive_partitioning=False, glob=False)
    except Exception as exc:  # noqa: BLE001  (polars raises several error types for a damaged file)
        warn_unreadable(what, path, exc, fix)
        return None


def read_parts(paths: Iterable[Path], what: str, fix: str, columns: list[str] | None = None) -> list[pl.DataFrame]:
    """The readable files' frames, in order; each unreadable one is skipped with a warning naming it.

    `what` names a file's kind in the warning ("run record"), `fix` says what to do about it."""
    frames = (read_part(path, what, fix, columns) for path in paths)
    return [frame for frame in frames if frame is not None]
