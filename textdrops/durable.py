"""Durable writes: what must reach the disk before a commit may say it happened."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def fsync_path(path: Path) -> None:
    """Flush a file's or a directory's entries to disk (a rename is durable once its folder is synced)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(path: Path, write: Callable[[BinaryIO], None], sync_folder: bool = True) -> None:
    """Write a file whole under a temporary name, flush it to disk and rename it over `path`: a reader (or a
    crash) sees the old file or the new one, never part of one. `sync_folder` also makes the rename durable
    (leave it to the caller when it syncs the whole folder once, as the commit does)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    if sync_folder:
        fsync_path(path.parent)


def write_text_durably(path: Path, text: str) -> None:
    """`text` (UTF-8) as the whole of `path`, replaced durably."""
    replace_durably(path, lambda handle: handle.write(text.encode("utf-8")))


def fsync_tree(root: Path) -> None:
    """fsync every file and folder under root, then root itself."""
    for folder, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            fsync_path(Path(folder) / name)
        fsync_path(Path(folder))
