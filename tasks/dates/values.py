"""TIMEX3 values and the date intervals they denote: days, weeks, months, quarters, years, from numbers.

Names with a leading underscore are private to the ``tasks.dates`` package, not to their module.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta
from typing import NamedTuple

from .vocabulary import NUMBER_WORDS


class TemporalExpression(NamedTuple):
    """One temporal expression: its span, TIMEX3 type and value, and the date interval it denotes."""

    text: str
    start: int
    end: int
    timex_type: str
    value: str | None
    date_start: date | None
    date_end: date | None
    granularity: str | None
    anchor: date | None
    part_of_day: str | None


class Normalised(NamedTuple):
    timex_type: str
    value: str | None
    date_start: date | None = None
    date_end: date | None = None
    granularity: str | None = None
    anchor: date | None = None
    part_of_day: str | None = None


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def day_value(day: date, anchor: date | None, part_of_day: str | None = None) -> Normalised:
    return Normalised("DATE", day.isoformat(), day, day, "day", anchor, part_of_day)


def week_value(day: date, anchor: date | None) -> Normalised:
    iso_year, iso_week, _ = day.isocalendar()
    monday = day - timedelta(days=day.weekday())
    return Normalised("DATE", f"{iso_year}-W{iso_week:02d}", monday, monday + timedelta(days=6), "week", anchor)


def weekend_value(day: date, anchor: date | None) -> Normalised:
    week = week_value(day, anchor)
    saturday = week.date_start + timedelta(days=5)
    return week._replace(value=f"{week.value}-WE", date_start=saturday)


def month_value(year: int, month: int, anchor: date | None, part: str | None = None) -> Normalised:
    return Normalised(
        "DATE", f"{year}-{month:02d}", date(year, month, 1), month_end(year, month), "month", anchor, part
    )


def _months(year: int, first_month: int, n_months: int, value: str, granularity: str, anchor: date | None):
    """A run of whole months of one year (a quarter, a half) as a DATE interval."""
    interval = date(year, first_month, 1), month_end(year, first_month + n_months - 1)
    return Normalised("DATE", value, *interval, granularity, anchor)


def quarter_value(year: int, quarter: int, anchor: date | None) -> Normalised:
    return _months(year, 3 * (quarter - 1) + 1, 3, f"{year}-Q{quarter}", "quarter", anchor)


def half_value(year: int, half: int, anchor: date | None) -> Normalised:
    return _months(year, 6 * (half - 1) + 1, 6, f"{year}-H{half}", "half", anchor)


def year_value(year: int, anchor: date | None, part: str | None = None) -> Normalised:
    return Normalised("DATE", str(year), date(year, 1, 1), date(year, 12, 31), "year", anchor, part)


def shifted_period(unit: str, ref: date, step: int, part: str | None) -> Normalised | None:
    """The week, month, year or quarter `step` of them from the reference's (None for other units)."""
    if unit == "week":
        return week_value(ref + timedelta(weeks=step), ref)._replace(part_of_day=part)
    if unit == "month":
        return month_value(*add_months(ref.year, ref.month, step), ref, part)
    if unit == "year":
        return year_value(ref.year + step, ref, part)
    if unit == "quarter":
        year, month = add_months(ref.year, ref.month, 3 * step)
        return quarter_value(year, (month - 1) // 3 + 1, ref)._replace(part_of_day=part)
    return None


def unresolved(value: str, part: str | None = None, timex_type: str = "DATE") -> Normalised:
    return Normalised(timex_type, value, part_of_day=part)


def nearest_year(reference: date, month: int, day: int, direction: str | None) -> int:
    """Year putting month/day nearest the reference (past/future only when the text says so)."""
    candidates = []
    for year in (reference.year - 1, reference.year, reference.year + 1):
        candidate = safe_date(year, month, min(day, calendar.monthrange(year, month)[1]))
        if candidate is None:
            continue
        if direction == "past" and candidate >= reference:
            continue
        if direction == "future" and candidate <= reference:
            continue
        # Ties go to the past: news mostly reports what happened.
        candidates.append((abs((candidate - reference).days), candidate > reference, year))
    return min(candidates)[2]


def direction_of(modifier: str | None) -> str | None:
    if modifier is None:
        return None
    modifier = modifier.lower()
    return {"last": "past", "past": "past", "next": "future", "coming": "future"}.get(modifier)


def part_of(modifier: str | None) -> str | None:
    if modifier is None:
        return None
    modifier = modifier.lower()
    return modifier if modifier in ("early", "late", "mid", "end") else None


def quantity_value(text: str) -> int | None:
    """Integer value of a quantity word or numeral; None for vague quantities ("several")."""
    text = re.sub(r"\s+", " ", text.lower())
    if text.isdigit():
        return int(text)
    if text in NUMBER_WORDS:
        return NUMBER_WORDS[text]
    if text in ("a couple of", "couple of"):
        return 2
    parts = re.split(r"[\s-]", text)
    if len(parts) == 2 and parts[0] in NUMBER_WORDS and parts[1] in NUMBER_WORDS:
        return NUMBER_WORDS[parts[0]] + NUMBER_WORDS[parts[1]]
    return None


UNIT_CODE = {
    "year": ("P", "Y"),
    "month": ("P", "M"),
    "week": ("P", "W"),
    "day": ("P", "D"),
    "hour": ("PT", "H"),
    "minute": ("PT", "M"),
    "second": ("PT", "S"),
    "decade": ("P", "DE"),
    "century": ("P", "CE"),
    "quarter": ("P", "Q"),
}


def unit_name(text: str) -> str:
    text = text.lower()
    return "century" if text.startswith("centur") else text.rstrip("s")


def two_digit_year(digits: str, ref: date | None) -> int:
    """The year of "'58" or "’09": in this century unless that lies more than ten years after the reference."""
    short = int(digits)
    this_century = (ref.year // 100 * 100 if ref else 2000) + short
    return this_century if this_century <= (ref.year if ref else 2000) + 10 else this_century - 100


def year_number(text: str, ref: date | None = None) -> int:
    """The year of "1994", "'94", "nineteen ninety-four" or "two thousand and one"."""
    if text.isdigit():
        return int(text)
    if text[0] in "'’":
        return two_digit_year(text[1:], ref)
    words = [w for w in re.split(r"[\s-]+", text.lower()) if w not in ("and", "oh")]
    if words[:2] == ["two", "thousand"]:
        return 2000 + sum(NUMBER_WORDS[w] for w in words[2:])
    return 1900 + sum(NUMBER_WORDS[w] for w in words[1:])


def shift_quarter(year: int, quarter: int, quarters: int) -> tuple[int, int]:
    index = year * 4 + quarter - 1 + quarters
    return index // 4, index % 4 + 1


def quarter_number(day: date) -> int:
    return (day.month - 1) // 3 + 1


def nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th (n < 0: from the end) ``weekday`` of a month."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = month_end(year, month)
    return last - timedelta(days=(last.weekday() - weekday) % 7 + 7 * (-n - 1))


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian computus)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday_shift = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday_shift) // 451
    month, day = divmod(h + weekday_shift - 7 * m + 114, 31)
    return date(year, month, day + 1)
