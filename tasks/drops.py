"""Drops on disk or in an object store: finding them, fingerprinting them, and deciding which ones still
need a run."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from tasks.discover import drop_date_of, fingerprint, listing
from tasks.runs_table import successful_fingerprints
from textdrops import drop_source
from textdrops.drop_source import READY_MARKERS, is_object_location


def find_drops(raw_root: Path) -> list[Path]:
    """Drop folders: the immediate sub-folders of raw_root (hidden and `_`-prefixed ones excluded)."""
    if not raw_root.is_dir():
        raise FileNotFoundError(f"raw folder {raw_root} does not exist: create it or pass the folder that holds drops")
    return sorted(p for p in raw_root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


@dataclass(frozen=True)
class DropState:
    path: Path | str  # a drop folder, or the URL of a drop prefix
    status: str  # pending | processed | writing | not_ready | empty | link
    detail: str

    @property
    def name(self) -> str:
        return drop_source.location_name(self.path)


def _order(drop: Path | str) -> tuple:
    name = drop_source.location_name(drop)
    day = drop_date_of(name)
    # a prefix has no modification time of its own: drops without a date in their name go by name
    modified = 0.0 if isinstance(drop, str) else drop.stat().st_mtime
    return (day is None, day.isoformat() if day else "", modified, name)


def _has_marker(drop: Path | str) -> bool:
    if isinstance(drop, str):
        return drop_source.has_marker(drop_source.open_drop(drop))
    return any((drop / m).exists() for m in READY_MARKERS)


def survey(
    raw_root: Path | str, out_dir: Path, settle_seconds: float = 2.0, require_marker: bool = False
) -> list[DropState]:
    """Every drop under raw_root with what a scheduled run would do with it, oldest first.

    A drop is `writing` when its files change between two looks `settle_seconds` apart, `not_ready` when a
    ready marker (_SUCCESS or _READY) is required and missing, `processed` when its latest successful run
    saw the same content, else `pending`. A symbolic link in raw_root is a `link`, never followed (it may
    point anywhere, and served runs read only folders in raw_root). Interrupted commits of every drop not
    being run are finished (or rolled back) first, so a drop whose commit was cut short is not called processed.
    """
    from tasks.commit import recover
    from tasks.migrations import check_layout

    if is_object_location(raw_root):  # one delimiter listing of the raw prefix; an object is never a link
        found: list = drop_source.drops_under(drop_source.object_url(str(raw_root)))
        links: list = []
    else:
        found = find_drops(Path(raw_root))
        links = [d for d in found if d.is_symlink()]
    drops = sorted((d for d in found if d not in links), key=_order)
    if out_dir.exists():
        check_layout(out_dir)  # a folder of a newer textdrops: refused, its commits are not ours to finish
        recover(out_dir)
    first = {d: listing(d) for d in drops}
    if settle_seconds > 0 and drops:
        time.sleep(settle_seconds)
    done = successful_fingerprints(out_dir)
    states = [
        DropState(
            d, "link", f"a symbolic link to {os.readlink(d)}, not followed: move or copy the drop into {raw_root}"
        )
        for d in links
    ]
    for drop in drops:
        if require_marker and not _has_marker(drop):
            states.append(DropState(drop, "not_ready", f"no {' or '.join(READY_MARKERS)} marker yet"))
        elif not first[drop]:
            states.append(DropState(drop, "empty", "no .txt or .txt.gz files"))
        elif (second := listing(drop)) != first[drop]:
            states.append(DropState(drop, "writing", "files changed between two looks; left for the next run"))
        else:
            previous = done.get(drop_source.location_name(drop))
            # an object drop's fingerprint is its listing's (keys, sizes, ETags); a folder's hashes its files
            current = drop_source.object_fingerprint(second) if isinstance(drop, str) else fingerprint(drop)
            if previous and previous[0] == current:
                states.append(DropState(drop, "processed", f"unchanged since run {previous[1]}"))
            elif previous:
                states.append(DropState(drop, "pending", f"content changed since run {previous[1]}"))
            else:
                states.append(DropState(drop, "pending", "never processed successfully"))
    return states
