"""Writing a table's rows: Arrow with the declared schema, Parquet parts under a run's staging area, each
written whole under a temporary name (`tasks.commit` swaps the staged partitions into place)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from textdrops.durable import fsync_path
from textdrops.schema import INTERNAL_TABLES, TABLES, Table
from textdrops.staging import (
    part_name,
)

log = logging.getLogger(__name__)


def valid_drop_id(value: object) -> bool:
    """Whether `value` can be a drop id used as one path component (never a path of its own)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= 255
        and value not in (".", "..")
        and not any(c in value for c in "/\\\0")
        and not value.startswith(".")
    )


def _map_array(column: pa.ChunkedArray, type_: pa.MapType) -> pa.Array:
    """A list<struct<key, value>> column (as polars writes maps) as an Arrow map column."""
    entries = pa.list_(pa.struct([("key", type_.key_type), ("value", type_.item_type)]))
    lists = column.combine_chunks().cast(entries)
    return pa.MapArray.from_arrays(lists.offsets, lists.values.field("key"), lists.values.field("value"))


def to_arrow(frame: pl.DataFrame, table: Table) -> pa.Table:
    """`frame` as an Arrow table with exactly `table`'s columns and types (extra columns dropped)."""
    arrow = frame.select(table.column_names).to_arrow()
    columns = []
    for field in table.arrow_schema:
        column = arrow.column(field.name)
        if isinstance(field.type, pa.MapType):
            columns.append(_map_array(column, field.type))
        else:
            columns.append(column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=table.arrow_schema)


def write_parquet(arrow: pa.Table, path: Path, row_group_size: int | None = None) -> None:
    """Write to a temporary name and rename, so the final name only ever holds a whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    # random values (MinHash signatures) only grow with a dictionary
    dictionary = [name for name in arrow.column_names if name != "signature"]
    pq.write_table(arrow, tmp, compression="zstd", use_dictionary=dictionary, row_group_size=row_group_size)
    fsync_path(tmp)
    os.replace(tmp, path)


def write_part(
    frame: pl.DataFrame,
    table: str,
    folder: Path,
    part: int | str,
    keep_empty: bool = False,
    row_group_size: int | None = None,
) -> int:
    """Write one part of `table` into `folder` (part: a batch number or a part name, see
    `textdrops.staging.part_name`); returns the rows written.

    An empty part is skipped unless keep_empty: one empty file per partition is enough to carry the schema.
    """
    if frame.height == 0 and not keep_empty:
        return 0
    declared = TABLES.get(table) or INTERNAL_TABLES.get(table)
    arrow = to_arrow(frame, declared) if declared else frame.to_arrow()
    write_parquet(arrow, folder / part_name(part), row_group_size)
    return arrow.num_rows


def as_map(mapping: dict) -> list[dict]:
    """A dict as the list of key/value structs that a map column is built from."""
    return [{"key": k, "value": v} for k, v in mapping.items()]
