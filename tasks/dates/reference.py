"""The reference date each document's relative expressions are resolved against."""

from __future__ import annotations

import re
from datetime import date

import polars as pl

from .values import _safe_date
from .vocabulary import _MONTH, _MONTH_NUMBER, _WEEKDAY

_DATELINE_RE = re.compile(
    rf"^[^\n]{{0,80}}?,\s+(?:(?P<wd>{_WEEKDAY}),?\s+)?(?P<m>{_MONTH})\s+(?P<d>[0-3]?\d)\b(?:,?\s+(?P<y>\d{{4}}))?"
    r"\s*(?:\([^)\n]{1,40}\)\s*)?(?:-|--|—|–)",
    re.IGNORECASE,
)


def reference_date_from_dateline(text: str, year_hint: int | None) -> date | None:
    """Return the date of a news dateline ("CLEVELAND, Feb 26 -") in the first 200 characters, if any.

    A dateline without a year ("Feb 26") takes ``year_hint``; with no hint it gives None.
    """
    # Reuters puts a title and a blank line before the dateline: try the first few lines that start early.
    m = None
    for line in text[:200].split("\n")[:4]:
        m = _DATELINE_RE.match(line.strip())
        if m:
            break
    if m is None:
        return None
    year = int(m["y"]) if m["y"] else year_hint
    if year is None:
        return None
    return _safe_date(year, _MONTH_NUMBER[m["m"].rstrip(".").lower()], int(m["d"]))


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
