"""The reference date each document's relative expressions are resolved against."""

from __future__ import annotations

from datetime import date

import polars as pl

from tasks.clean import find_dateline

from .values import safe_date


def reference_date_from_dateline(text: str, year_hint: int | None) -> date | None:
    """Return the date of the text's news dateline ("CLEVELAND, Feb 26 -", "LONDON, March 14 (Reuters) -"),
    if it has one with a date; cleanup's ``find_dateline`` is the one dateline finder.

    A dateline without a year ("Feb 26") takes ``year_hint``; with no hint it gives None.
    """
    dateline = find_dateline(text)
    parts = dateline.date_parts() if dateline is not None else None
    if parts is None:
        return None
    year, month, day = parts
    year = year if year is not None else year_hint
    return safe_date(year, month, day) if year is not None else None


def reference_dates(docs: pl.DataFrame, drop_date: date | None) -> pl.DataFrame:
    """reference_date and its source: manifest published_at, else the dateline, else the drop's date."""
    year_hint = drop_date.year if drop_date else None
    from_manifest = docs["published_at"].dt.date()
    from_dateline = [
        None if manifest is not None else reference_date_from_dateline(text, year_hint)
        for manifest, text in zip(from_manifest, docs["text"], strict=True)
    ]
    frame = pl.DataFrame(
        {"m": from_manifest, "d": pl.Series(from_dateline, dtype=pl.Date)},
        schema={"m": pl.Date, "d": pl.Date},
    )
    return frame.select(
        reference_date=pl.coalesce("m", "d", pl.lit(drop_date, dtype=pl.Date)),
        reference_date_source=pl.when(pl.col("m").is_not_null())
        .then(pl.lit("manifest"))
        .when(pl.col("d").is_not_null())
        .then(pl.lit("dateline"))
        .when(pl.lit(drop_date is not None))
        .then(pl.lit("drop_date"))
        .otherwise(pl.lit("none")),
    )
