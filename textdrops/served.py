"""What the deployments served by `textdrops serve` may touch.

Anyone who can reach the Prefect API can run a deployment with parameters of their choosing. The serve
command therefore records its own `--raw` and `--out` in its environment (which its flow-run processes
inherit and an API caller cannot change), and the flows refuse drops outside that raw folder and
output folders other than its own.
"""

from __future__ import annotations

import os
from pathlib import Path

SERVED_RAW = "TEXTDROPS_SERVED_RAW"
SERVED_OUT = "TEXTDROPS_SERVED_OUT"


def confine(raw_root: Path, out_dir: Path) -> None:
    """Record, for this process and its children, the only raw folder and output folder runs may use."""
    os.environ[SERVED_RAW] = str(raw_root.resolve())
    os.environ[SERVED_OUT] = str(out_dir.resolve())


def check_scope(path: Path, out_dir: Path) -> None:
    """Raise PermissionError when a served process is asked for a path outside its raw folder (symlinks
    resolved) or for another output folder; does nothing outside `textdrops serve`."""
    raw, out = os.environ.get(SERVED_RAW), os.environ.get(SERVED_OUT)
    if raw and not path.resolve().is_relative_to(Path(raw)):
        raise PermissionError(f"{path} is outside {raw}, the only folder this `textdrops serve` processes drops from")
    if out and out_dir.resolve() != Path(out):
        raise PermissionError(f"output folder {out_dir} refused: this `textdrops serve` writes only to {out}")


def check_worker_processes(worker_processes: int | None) -> None:
    """Worker processes are bounded by the machine's cores."""
    cores = os.cpu_count() or 1
    if worker_processes is not None and not 1 <= worker_processes <= cores:
        raise ValueError(f"worker_processes={worker_processes}: must be between 1 and {cores} (this machine's cores)")
