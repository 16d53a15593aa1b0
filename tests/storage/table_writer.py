"""A separate writer process for the concurrency tests: replace one drop's rows of a Delta table N times.

`python table_writer.py TABLE_URI DROP_ID ROWS TIMES START_AT` waits until the wall clock reaches START_AT (so two
writers start together), then calls replace_drop TIMES times; AWS settings come from the environment.
"""

from __future__ import annotations

import sys
import time

import pyarrow as pa

from textdrops.store import open_store
from textdrops.tables import replace_drop


def drop_rows(drop_id: str, rows: int, round_: int) -> pa.Table:
    return pa.table(
        {
            "drop_id": [drop_id] * rows,
            "doc_id": [f"{drop_id}-{i}" for i in range(rows)],
            "round": [round_] * rows,
        }
    )


if __name__ == "__main__":
    table_uri, drop_id, rows, times, start_at = (
        sys.argv[1],
        sys.argv[2],
        int(sys.argv[3]),
        int(sys.argv[4]),
        float(sys.argv[5]),
    )
    options = open_store(table_uri).storage_options()
    time.sleep(max(0.0, start_at - time.time()))
    for round_ in range(times):
        replace_drop(table_uri, drop_id, drop_rows(drop_id, rows, round_), options)
