"""textdrops: raw news text drops in, clean, deduplicated, annotated, partitioned Parquet out.

Importing it changes nothing: each entry point (the command line, the flow modules Prefect loads, the tests)
calls `textdrops.prefect_defaults.apply_prefect_defaults()` itself.
"""

__version__ = "0.1.0"
