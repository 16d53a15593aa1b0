"""Where a run's files live: every path of the output folder that a run stages, swaps or reads, named once.

Under the output folder (`data/processed/` by default):

    <table>/drop_id=<drop id>/part-*.parquet            a table's live partition of one drop
    _staging/<run_id>/drop_id                           the drop the staging area belongs to (read by recovery)
    _staging/<run_id>/manifest.parquet                  the drop's manifest as discover read it
    _staging/<run_id>/raw/raw-NNNNN.arrow               a batch's decoded documents (load)
    _staging/<run_id>/raw/line-keys-NNNNN.parquet       a batch's candidate template lines, counted (load)
    _staging/<run_id>/batches/batch-NNNNN.arrow         a batch's clean, fingerprinted documents (prepare)
    _staging/<run_id>/statuses.arrow                    every document's dedupe status (dedupe)
    _staging/<run_id>/story-features/features-NNNNN.arrow  a batch's kept documents' story term counts and
                                                        entity keys (annotate; read by stories)
    _staging/<run_id>/tables/<table>/drop_id=<drop id>/ the run's partition of each table (swapped in at commit)
    _staging/<run_id>/index/                            the drop's dedupe-index segment (moved in at commit)
    _staging/<run_id>/run/<run_id>.parquet              the run record (moved into runs/ at commit)
    _staging/<run_id>/index-manifest.json, .base        the dedupe index's next manifest, and the hash of the
                                                        live one it was computed from (moved in at commit)
    _staging/<run_id>/story-lookup/                     the drop's story-lookup segment and the lookup's next
                                                        manifest (moved in at commit; tasks.story_index)
    _staging/<run_id>/COMMITTING                        the commit marker
    _staging/<run_id>/replaced/<table>/                 the live partitions a commit replaced
    _staging/<run_id>/parts/<batch>/<n>/                a part of a batch run on its own (isolation): its
                                                        raw/, batches/ and tables/, merged into the batch's own

Every byte a commit puts in place is written here before the commit marker, so once the marker exists the
commit only renames (a full disk cannot stop it half-way).

Frames travel between steps as these files (Arrow IPC / Parquet), not through the scheduler.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from textdrops.config import Settings

STAGING = "_staging"
COMMIT_MARKER = "COMMITTING"
DROP_ID_FILE = "drop_id"
STAGED_TABLES = "tables"
STAGED_INDEX = "index"
REPLACED = "replaced"
PARTS = "parts"
STAGED_RUN = "run"
STAGED_MANIFEST = "index-manifest.json"
STAGED_STORY_LOOKUP = "story-lookup"
STORY_FEATURES = "story-features"
TEMPORAL_SPANS = "temporal-spans"


def staging_dir(out_dir: Path, run_id: str) -> Path:
    return out_dir / STAGING / run_id


def staged_partition(out_dir: Path, run_id: str, table: str, drop_id: str) -> Path:
    return staging_dir(out_dir, run_id) / STAGED_TABLES / table / f"drop_id={drop_id}"


def live_partition(out_dir: Path, table: str, drop_id: str) -> Path:
    return out_dir / table / f"drop_id={drop_id}"


def staged_index(out_dir: Path, run_id: str) -> Path:
    """Where a run writes its drop's dedupe-index segment until the commit moves it in."""
    return staging_dir(out_dir, run_id) / STAGED_INDEX


def staged_run_record(out_dir: Path, run_id: str) -> Path:
    """Where a run writes its own record before the commit moves it into `runs/`."""
    return staging_dir(out_dir, run_id) / STAGED_RUN / f"{run_id}.parquet"


def staged_manifest(out_dir: Path, run_id: str) -> Path:
    """Where a run writes the dedupe index's next manifest before the commit moves it in."""
    return staging_dir(out_dir, run_id) / STAGED_MANIFEST


def staged_story_lookup(out_dir: Path, run_id: str) -> Path:
    """Where a run writes its drop's story-lookup segment and the lookup's next manifest until the commit."""
    return staging_dir(out_dir, run_id) / STAGED_STORY_LOOKUP


def part_name(part: int | str) -> str:
    """File name of one part of a partition: `part-00003.parquet` for batch 3, `part-<name>.parquet` for a
    named part."""
    return f"part-{part:05d}.parquet" if isinstance(part, int) else f"part-{part}.parquet"


def quarantine_part(step: str, batch: int | None = None) -> str:
    """Name of the quarantine part one step writes for one batch (or for the drop): every step that
    quarantines files writes its own part, so the parts of one batch never overwrite each other.

    Steps: discover (the drop's files rejected on sight), load, load-isolated (files that kill or hang a
    worker while loading), clean (empty after cleanup), clean-isolated."""
    return step if batch is None else f"{step}-{batch:05d}"


def read_ipc(path: str | Path, columns: list[str] | None = None) -> pl.DataFrame:
    """An Arrow IPC file, its path taken literally: polars would expand `[`, `?` and `*` as a glob."""
    frame = pl.scan_ipc(path, glob=False)
    return (frame.select(columns) if columns else frame).collect()


@dataclass(frozen=True)
class RunContext:
    """What every step of one run needs to know, picklable: the run, its drop, its settings and its paths."""

    run_id: str
    drop: str  # absolute path of the drop folder, or the URL of its prefix (never credentials: drop_source)
    drop_id: str
    settings: Settings
    commit_seq: int | None = None  # taken under the index lock before the stories step (tasks.runs)
    part: str | None = None  # a part of a batch (`part_of`): what its steps write goes under parts/<part>/
    # the output store's URL when batch tasks run where the working copy is not (`textdrops.exchange`)
    exchange: str | None = None
    # a step's batches share one worker pool (the flow's own threads run them): handed to it in batch order
    ordered: bool = False

    def per_run(self) -> dict[str, pl.Expr]:
        """The columns every row a run writes carries (its drop and run), the one place they are made:
        `frame.with_columns(**ctx.per_run())`."""
        return {"drop_id": pl.lit(self.drop_id), "run_id": pl.lit(self.run_id)}

    def part_of(self, part: str) -> RunContext:
        """This context for one part of a batch run on its own: it reads the run's inputs (manifest,
        statuses) and writes its raw, batch and table files under `parts_dir(part)`, for the caller to
        merge (`tasks.isolation`)."""
        return dataclasses.replace(self, part=part)

    def parts_dir(self, part: str) -> Path:
        return self.staging / PARTS / part

    @property
    def _outputs(self) -> Path:
        return self.staging if self.part is None else self.parts_dir(self.part)

    @property
    def out_dir(self) -> Path:
        return self.settings.out_dir

    @property
    def staging(self) -> Path:
        return staging_dir(self.out_dir, self.run_id)

    @property
    def drop_id_path(self) -> Path:
        return self.staging / DROP_ID_FILE

    @property
    def manifest_path(self) -> Path:
        return self.staging / "manifest.parquet"

    @property
    def statuses_path(self) -> Path:
        return self.staging / "statuses.arrow"

    @property
    def commit_marker(self) -> Path:
        return self.staging / COMMIT_MARKER

    @property
    def staged_index(self) -> Path:
        return staged_index(self.out_dir, self.run_id)

    def raw_path(self, index: int) -> Path:
        return self._outputs / "raw" / f"raw-{index:05d}.arrow"

    def line_keys_path(self, index: int) -> Path:
        return self._outputs / "raw" / f"line-keys-{index:05d}.parquet"

    def batch_path(self, index: int) -> Path:
        return self._outputs / "batches" / f"batch-{index:05d}.arrow"

    def story_features_path(self, index: int) -> Path:
        return self._outputs / STORY_FEATURES / f"features-{index:05d}.arrow"

    def temporal_spans_path(self, index: int) -> Path:
        """The NER model's DATE and TIME spans of an annotated batch's documents, for the dates step."""
        return self._outputs / TEMPORAL_SPANS / f"spans-{index:05d}.arrow"

    def staged(self, table: str) -> Path:
        if self.part is not None:
            return self._outputs / STAGED_TABLES / table / f"drop_id={self.drop_id}"
        return staged_partition(self.out_dir, self.run_id, table, self.drop_id)
