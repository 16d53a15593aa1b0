"""textdrops: raw news text drops in, clean, deduplicated, annotated, partitioned Parquet out."""

from textdrops.prefect_defaults import apply_prefect_defaults

apply_prefect_defaults()

__version__ = "0.1.0"
