"""Per-family normalisers: (match, text, reference date) -> a TIMEX3 value and interval, or None (not temporal).

The families resolved in context (``in_context`` in ``families.py``) also get the expressions found before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, timedelta

from .tense import calendar_tense, sentence_start_of, sentence_tense, told_in_the_past, weekday_tense
from .values import (
    UNIT_CODE,
    Normalised,
    TemporalExpression,
    add_months,
    day_value,
    direction_of,
    easter_sunday,
    half_value,
    month_end,
    month_value,
    nearest_year,
    nth_weekday,
    part_of,
    quantity_value,
    quarter_number,
    quarter_value,
    safe_date,
    shift_quarter,
    shifted_period,
    two_digit_year,
    unit_name,
    unresolved,
    week_value,
    weekend_value,
    year_number,
    year_value,
)
from .vocabulary import MONTH_NUMBER, OPENING_QUOTES, PART_OF_DAY_CODE, WEEKDAY_NUMBER


def _norm_spelled_year(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    year = year_number(m["sy"])
    if not m["sy_the"] and year >= 2000 and not _YEAR_CUE_BEFORE_RE.search(text, max(0, m.start() - 8), m.start()):
        return None  # "two thousand patients"
    return year_value(year, None)


_YEAR_CUE_BEFORE_RE = re.compile(r"\b(?:in|since|by|until|of)\s+$", re.IGNORECASE)


def _norm_iso(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    day = safe_date(int(m["iso_y"]), int(m["iso_m"]), int(m["iso_d"]))
    return day_value(day, None) if day else None


def _norm_numeric(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    a, b, year = int(m["num_a"]), int(m["num_b"]), int(m["num_y"])
    if a > 12 >= b:
        day = safe_date(year, b, a)
    elif b > 12 >= a or a == b:
        day = safe_date(year, a, b)
    else:  # 03/04/2016: day-first or month-first cannot be told apart
        return None
    return day_value(day, None) if day else None


_TENSE_OVERRIDE_DAYS = 60
_TENSE_OVERRIDE_MONTHS = 2


def _norm_month_day(month_text: str, day_text: str, year_text: str | None, modifier: str | None,
                    ref: date | None, tense: Callable[[], str | None]) -> Normalised | None:  # fmt: skip
    """The day of a month-day, the year from the text or, without one, the occurrence nearest ``ref``.

    ``tense`` (computed only when needed) moves an occurrence months away to the other side of ``ref``.
    """
    month = MONTH_NUMBER[month_text.rstrip(".").lower()]
    day_number = int(day_text)
    if not 1 <= day_number <= 31:
        return None
    part = part_of(modifier)
    if year_text:
        day = safe_date(int(year_text), month, day_number)
        return day_value(day, None, part) if day else None
    if ref is None:
        return unresolved(f"XXXX-{month:02d}-{day_number:02d}", part) if day_number <= 31 else None
    year = nearest_year(ref, month, day_number, direction_of(modifier))
    nearest = safe_date(year, month, day_number)
    # Tense only overrides the nearest occurrence when that is months away ("the year ended March 31"
    # in November): a week or two either side is more often right than the tense guess.
    if modifier is None and nearest is not None and abs((nearest - ref).days) > _TENSE_OVERRIDE_DAYS:
        said = tense()
        if (said == "past" and nearest > ref) or (said == "future" and nearest < ref):
            year = nearest_year(ref, month, day_number, said)
    # (A past verb just before is not enough to move a month-day near the reference to the year before, as it
    # is for a bare month: "extended to Nov. 20", "payable Dec. 7" are dates still ahead. Tried: lower on both.)
    day = safe_date(year, month, day_number)
    return day_value(day, ref, part) if day else None


def _norm_md(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    return _norm_month_day(
        m["md_m"], m["md_d"], m["md_y"], m["md_mod"], ref, lambda: calendar_tense(text, m.start(), m.end())
    )


def _norm_dm(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    return _norm_month_day(m["dm_m"], m["dm_d"], m["dm_y"], None, ref, lambda: calendar_tense(text, m.start(), m.end()))


def _norm_month_year(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    year_text = m["my_y"]
    anchor = ref if year_text[0] in "'’" else None  # "June '58" depends on the century of the reference
    return month_value(
        year_number(year_text, ref), MONTH_NUMBER[m["my_m"].rstrip(".").lower()], anchor, part_of(m["my_mod"])
    )


_MAY_MARCH_CUE_RE = re.compile(
    r"\b(?:in|since|by|until|till|from|through|to|during|of|before|after|early|late|mid|end|last|next|this|"
    r"and|or)[\s-]+$",
    re.IGNORECASE,
)


def _norm_month(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    month_text = m["mo_m"]
    modifier = m["mo_mod"]
    if month_text.lower() in ("may", "march") and modifier is None:
        # "May" and "March" are also a verb and a modal: only a date after a preposition.
        if not _MAY_MARCH_CUE_RE.search(text, max(0, m.start() - 12), m.start()):
            return None
    month = MONTH_NUMBER[month_text.lower()]
    part = part_of(modifier)
    if ref is None:
        return unresolved(f"XXXX-{month:02d}", part)
    if modifier and modifier.lower() == "this":
        return month_value(ref.year, month, ref, part)
    direction = direction_of(modifier)
    if direction is None:
        if month == ref.month:
            return month_value(ref.year, month, ref, part)  # "in March", said in March: this month
        # The nearest such month; the tense moves it across the reference only when that is months away
        # ("in January", said in late October, is next January even in "said it would ... in January").
        ahead = (month - ref.month) % 12
        direction = "future" if ahead <= 6 else "past"
        if min(ahead, 12 - ahead) > _TENSE_OVERRIDE_MONTHS:
            direction = calendar_tense(text, m.start(), m.end()) or direction
        elif direction == "future" and told_in_the_past(text, m.start()):
            direction = "past"
    year = ref.year
    if direction == "past" and (year, month) >= (ref.year, ref.month):
        year -= 1
    if direction == "future" and (year, month) <= (ref.year, ref.month):
        year += 1
    return month_value(year, month, ref, part)


_QUARTER_DEADLINE_RE = re.compile(
    r"\b(?:by|until|till|before)\s+(?:the\s+(?:end|close|middle|start)\s+of\s+)?$", re.IGNORECASE
)
_ORDINAL = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}


def _norm_quarter(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    is_half = m["q_kind"].lower() == "half"
    ordinal = m["q_ord"].lower()
    number = (2 if is_half else 4) if ordinal in ("final", "last") else _ORDINAL[ordinal]
    if is_half and number > 2:
        return None
    year_text = m["q_y1"] or m["q_y2"]
    build = half_value if is_half else quarter_value
    if year_text:
        return build(int(year_text), number, None)
    if ref is None:
        return unresolved(f"XXXX-{'H' if is_half else 'Q'}{number}")
    if m["q_yrel"]:  # "the second half of next year", "the first quarter of the year": that year's
        period = build(ref.year + {"next": 1, "last": -1}.get(m["q_yrel"].lower(), 0), number, ref)
        told_as_past = m["q_yrel"].lower().startswith("the") and sentence_tense(text, m.start(), m.end()) == "past"
        if period.date_start > ref and told_as_past:
            period = build(ref.year - 1, number, ref)  # "lost money in the final quarter of the year", said in March
        return period
    relation = re.sub(r"\s+", " ", (m["q_rel"] or "").lower())
    if relation.endswith("year's"):  # "last year's third quarter"
        return build(ref.year + {"last": -1, "next": 1}.get(relation.split()[0], 0), number, ref)
    period = build(ref.year, number, ref)
    # "fourth quarter" in February means last year's ("will report fourth-quarter results" too), unless it is
    # a deadline ("expects to close the deal by the end of the second quarter", said in March)
    if period.date_start > ref and not _QUARTER_DEADLINE_RE.search(text, max(0, m.start() - 30), m.start()):
        period = build(ref.year - 1, number, ref)
    if relation:  # "the year-ago third quarter": the same quarter one year before
        period = build(period.date_start.year - 1, number, ref)
    return period


_SET_VALUE = {
    "day": "P1D", "daily": "P1D", "week": "P1W", "weekly": "P1W", "month": "P1M", "monthly": "P1M",
    "year": "P1Y", "annually": "P1Y", "yearly": "P1Y", "annum": "P1Y", "quarter": "P3M",
    "quarterly": "P3M", "hourly": "PT1H", "hour": "PT1H", "nightly": "XXXX-XX-XXTNI",
    "night": "XXXX-XX-XXTNI", "morning": "XXXX-XX-XXTMO", "afternoon": "XXXX-XX-XXTAF", "evening": "XXXX-XX-XXTEV",
}  # fmt: skip


_ADJECTIVE_USE_RE = re.compile(
    r"\s+(?!(?:to|in|on|at|and|or|by|for|from|since|until|through|basis|is|are|was|were|will|with|as)\b)[a-z]"
)


def _norm_set(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    """TimeML SET values: "every morning" XXXX-XX-XXTMO, "every two years" P2Y, "Tuesday nights" XXXX-WXX-2TNI."""
    if m["set_nu"]:
        count = 2 if m["set_n"].lower() == "other" else quantity_value(m["set_n"])
        if not count:
            return None
        prefix, suffix = UNIT_CODE[unit_name(m["set_nu"])]
        return Normalised("SET", f"{prefix}{count}{suffix}")
    word = (m["set_every"] or m["set_adv"] or m["set_per"] or m["set_wd"]).lower()
    pod = m["set_every_pod"] or m["set_wd_pod"] or m["set_wd_pods"]
    if word in WEEKDAY_NUMBER and pod:  # "Tuesday nights", "every Monday morning"
        return Normalised("SET", f"XXXX-WXX-{WEEKDAY_NUMBER[word] + 1}T{PART_OF_DAY_CODE[pod.lower()]}")
    if m["set_adv"] and word not in ("daily", "annually", "nightly") and _ADJECTIVE_USE_RE.match(text, m.end()):
        return None  # "quarterly dividend", "weekly report" classify the noun; they are not times
    if word in WEEKDAY_NUMBER:
        return Normalised("SET", f"XXXX-WXX-{WEEKDAY_NUMBER[word] + 1}")
    if word in MONTH_NUMBER:  # "each July"
        return Normalised("SET", f"XXXX-{MONTH_NUMBER[word]:02d}")
    return Normalised("SET", _SET_VALUE[word])


_RATE_BEFORE_RE = re.compile(
    r"(?:\d|%|pct|percent|dlrs|dollars|euros|pounds|yuan|yen|million|billion|trillion|cents?|tonnes|barrels|bpd"
    r"|shares|units|times|once|twice)\s*$",
    re.IGNORECASE,
)


# "three quarters of its food" is a fraction; "several quarters of losses", "two quarters of 1990" are not.
_FRACTION_OF_RE = re.compile(
    r"\s+of\s+(?:its|their|his|her|our|all|a|an|this|that|these|those|the(?!\s+(?:fiscal\s+|calendar\s+)?year))\b",
    re.IGNORECASE,
)
_AGE_AFTER_RE = re.compile(r"[\s-]+old\b")  # "a 6-year-old", "52 years old": an age, not a time


# Half of a unit in the next smaller one, written after the whole units ("P2Y6M", "PT5H30M", "PT1M30S").
_HALF_UNIT = {"year": ("6", "M"), "day": ("T12", "H"), "hour": ("30", "M"), "minute": ("30", "S")}


def _norm_duration(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    quantity = m["du_n"].lower()
    unit = unit_name(m["du_u"])
    number = quantity_value(quantity)
    if unit == "second" and quantity in ("a", "an", "one"):  # "a second offer"
        return None
    if number == 0 or _AGE_AFTER_RE.match(text, m.end()):
        return None
    if unit == "quarter" and (text[m.start("du_u") - 1] == "-" or _FRACTION_OF_RE.match(text, m.end())):
        return None  # "three-quarters of its food": a fraction
    prefix, suffix = UNIT_CODE[unit]
    if m["du_ago"]:
        return _ago(number, unit, ref)
    if quantity in ("a", "an") and not m["du_rel"] and _RATE_BEFORE_RE.search(text, max(0, m.start() - 12), m.start()):
        return Normalised("SET", f"{prefix}1{suffix}")  # "5 pct a year"
    if unit == "decade" and number is not None:
        return Normalised("DURATION", f"P{10 * number}Y")  # TimeBank writes "two decades" as P20Y
    amount = "X" if number is None else str(number)
    if (m["du_half"] or m["du_and_half"]) and number is not None and unit in _HALF_UNIT:
        half_amount, half_unit = _HALF_UNIT[unit]  # "2 1/2 years": P2Y6M
        return Normalised("DURATION", f"{prefix}{amount}{suffix}{half_amount}{half_unit}")
    return Normalised("DURATION", f"{prefix}{amount}{suffix}")


# "in the weeks before the shooting", "days after a sniper killed him": a time anchored on an event, not a
# length; its date is the event's, which the text does not give here (TempEval's AQUAINT annotates these as
# DATE with the event's month). "a matter of days before" is a length all the same.
_EVENT_ANCHOR_AFTER_RE = re.compile(r"\s+(?:before|after|following|leading\s+up\s+to)\s+(?!\d)", re.IGNORECASE)
_LENGTH_OF_BEFORE_RE = re.compile(r"\bof\s+(?:the\s+)?$", re.IGNORECASE)


def _norm_bare_unit(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    if _EVENT_ANCHOR_AFTER_RE.match(text, m.end()) and not _LENGTH_OF_BEFORE_RE.search(
        text, max(0, m.start() - 12), m.start()
    ):
        return Normalised("DATE", None)
    prefix, suffix = UNIT_CODE[unit_name(m["bare_u"])]
    return Normalised("DURATION", f"{prefix}X{suffix}")


def _ago(number: int | None, unit: str, ref: date | None) -> Normalised:
    """ "three years ago": the period that far before the reference date, at the unit's granularity."""
    placeholder = {"year": "XXXX", "month": "XXXX-XX", "week": "XXXX-WXX", "decade": "XXX", "century": "XX"}
    if ref is None or number is None:
        return Normalised("DATE", "PAST_REF" if number is None else placeholder.get(unit, "XXXX-XX-XX"))
    if unit == "year":
        return year_value(ref.year - number, ref)
    if unit == "decade":
        return year_value(ref.year - 10 * number, ref)._replace(granularity="year")
    if unit == "century":
        return year_value(ref.year - 100 * number, ref)
    if unit == "month":
        return month_value(*add_months(ref.year, ref.month, -number), ref)
    if unit == "week":
        return week_value(ref - timedelta(weeks=number), ref)
    if unit == "day":
        return day_value(ref - timedelta(days=number), ref)
    # hours/minutes ago: still today (or near enough) for date purposes
    return Normalised("TIME", "PAST_REF", ref, ref, "day", ref)


# "today" meaning these times rather than this day (TimeML: PRESENT_REF): "than today", "the world of today",
# "many of today's personal computers" (a plural, generic noun after "today's", not "today's session").
_GENERIC_TODAY_BEFORE_RE = re.compile(r"\b(?:than|of)\s+$", re.IGNORECASE)
_GENERIC_TODAY_AFTER_RE = re.compile(
    r"['’]s\s+(?:[a-z]+\s+){0,2}?(?!(?:session|trading|meeting|talks|games|matches|results|figures|papers|editions"
    r"|prices|rates|gains|losses|events|news)\b)(?:[a-z]{3,}[^s\W]s\b(?!['’])|(?:children|people|youth|world|society"
    r"|generation|standards)\b)",
)


# "higher today than at any time since 1994", "more powerful today than": a comparison of these times with others.
_COMPARATIVE_BEFORE_RE = re.compile(r"\b(?:more|less|fewer|[a-z]{2,}er)\s+(?:[a-z]+\s+)?$", re.IGNORECASE)
_THAN_AFTER_RE = re.compile(r"\s+than\b", re.IGNORECASE)


def _is_generic_today(text: str, m: re.Match[str]) -> bool:
    if _GENERIC_TODAY_AFTER_RE.match(text, m.end()):
        return True
    if _THAN_AFTER_RE.match(text, m.end()) and _COMPARATIVE_BEFORE_RE.search(text, max(0, m.start() - 30), m.start()):
        return True
    after = text[m.end() : m.end() + 2]
    ends_phrase = not after or after[0] in '.,;:!?)"”' or after == "''" or after[0] == "\n"
    return ends_phrase and _GENERIC_TODAY_BEFORE_RE.search(text, max(0, m.start() - 6), m.start()) is not None


def _norm_relative(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    if m["rel_day"] or m["rel_day_after"]:
        word = (m["rel_day"] or m["rel_day_after"]).lower()
        part_of_day = m["rel_day_pod"] or m["rel_pod_day"]
        if word == "today" and not part_of_day and _is_generic_today(text, m):
            return Normalised("DATE", "PRESENT_REF", ref, ref, None, ref)
        pod = part_of_day.lower() if part_of_day else ("night" if word == "tonight" else None)
        offset = {"today": 0, "tonight": 0, "tomorrow": 1, "yesterday": -1}[word]
        if pod:
            if ref is None:
                return unresolved(f"XXXX-XX-XXT{PART_OF_DAY_CODE[pod]}", pod, "TIME")
            day = ref + timedelta(days=offset)
            return Normalised("TIME", f"{day.isoformat()}T{PART_OF_DAY_CODE[pod]}", day, day, "day", ref, pod)
        return day_value(ref + timedelta(days=offset), ref) if ref else unresolved("XXXX-XX-XX")

    modifier = re.sub(r"\s+", " ", m["rel_mod"].lower())
    unit = m["rel_unit"].lower()
    if unit == "weekend" and modifier in ("the past", "past", "this past", "the previous") and ref is not None:
        # "this past weekend": the one just gone (not a span of time like "the past week")
        return weekend_value(ref - timedelta(weeks=1) if ref.weekday() < 5 else ref, ref)
    if modifier in ("the past", "the previous", "past") and unit not in PART_OF_DAY_CODE:
        # "the past year": a period up to now, TimeML annotates it as a duration.
        if modifier != "the previous":
            if unit == "decade":
                return Normalised("DURATION", "P10Y")
            prefix, suffix = UNIT_CODE.get(unit, ("P", "W"))  # weekend: a week is close enough
            return Normalised("DURATION", f"{prefix}1{suffix}")
    if modifier in ("the next", "the coming") and unit in ("decade", "century"):
        # "the next decade", "over the last century": a stretch of time from (or up to) now, as "the past decade"
        return Normalised("DURATION", "P10Y" if unit == "decade" else "P100Y")
    words = modifier.split()
    part = words[0] if words[0] in ("early", "late", "earlier", "later") else None
    if part in ("earlier", "later"):
        part = part[:-2]
    step = {"last": -1, "previous": -1, "past": -1, "next": 1, "coming": 1}.get(words[-1], 0)  # "this past"

    if unit in PART_OF_DAY_CODE:
        day_offset = -1 if (step == -1 and unit in ("night", "evening")) else 0
        if step == 1 and unit in ("night", "evening", "morning", "afternoon"):
            day_offset = 1 if unit == "morning" else 0
        if ref is None:
            return unresolved(f"XXXX-XX-XXT{PART_OF_DAY_CODE[unit]}", unit, "TIME")
        day = ref + timedelta(days=day_offset)
        return Normalised("TIME", f"{day.isoformat()}T{PART_OF_DAY_CODE[unit]}", day, day, "day", ref, unit)

    if ref is None:
        placeholder = {"week": "XXXX-WXX", "weekend": "XXXX-WXX-WE", "month": "XXXX-XX", "year": "XXXX",
                       "quarter": "XXXX-QX", "decade": "XXX", "century": "XX"}  # fmt: skip
        return unresolved(placeholder[unit], part)
    if unit == "weekend":
        return weekend_value(ref + timedelta(weeks=step), ref)
    shifted = shifted_period(unit, ref, step, part)
    if shifted is not None:
        return shifted
    if unit == "decade":
        first = ref.year // 10 * 10 + 10 * step
        return Normalised("DATE", f"{first // 10}", date(first, 1, 1), date(first + 9, 12, 31), "decade", ref)
    first = ref.year // 100 * 100 + 100 * step
    return Normalised("DATE", f"{first // 100}", date(first, 1, 1), date(first + 99, 12, 31), "century", ref)


_EDGE_PART = {"end": "end", "beginning": "start", "start": "start", "middle": "mid"}


def _norm_period_edge(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    """ "the end of the month": the reference's month (next/last: the one after/before), with its part."""
    unit, part = m["pe_unit"].lower(), _EDGE_PART[m["pe_part"].lower()]
    step = {"next": 1, "last": -1}.get(m["pe_det"].lower(), 0)
    if ref is None:
        placeholder = {"week": "XXXX-WXX", "month": "XXXX-XX", "year": "XXXX", "quarter": "XXXX-QX"}
        return unresolved(placeholder.get(unit, "XXXX"), part)
    shifted = shifted_period(unit, ref, step, part)
    if shifted is not None:
        return shifted
    size = 10 if unit == "decade" else 100
    first = ref.year // size * size + size * step
    value = str(first // size)
    return Normalised("DATE", value, date(first, 1, 1), date(first + size - 1, 12, 31), unit, ref, part)


def _is_discourse_now(m: re.Match[str], text: str) -> bool:
    """ "Now, he says, ...": a sentence-initial "Now," set off by a comma is a discourse marker, not a time."""
    if m[0].lower() != "now" or not text.startswith(",", m.end()):
        return False
    before = text[max(0, m.start() - 8) : m.start()].rstrip().rstrip(OPENING_QUOTES).rstrip()
    return not before or before[-1] in ".!?:\n"


def _norm_reference(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    if m["ref_present"] and _is_discourse_now(m, text):
        return None
    if m["ref_present"]:
        return Normalised("DATE", "PRESENT_REF", ref, ref, None, ref)
    if m["ref_span"]:
        return Normalised("DURATION", f"PX{UNIT_CODE[unit_name(m['ref_span_u'])][1]}")
    if m["ref_past"] or m["ref_then"]:
        return Normalised("DATE", "PAST_REF", None, None, None, ref)
    return Normalised("DATE", "FUTURE_REF", None, None, None, ref)


def _norm_weekday(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    weekday = WEEKDAY_NUMBER[m["wd"].lower()]
    modifier = m["wd_mod"].lower() if m["wd_mod"] else None
    pod = (m["wd_pod2"] or m["wd_pod1"] or "").lower() or None  # "early Friday morning": the morning
    timex_type = "TIME" if pod in PART_OF_DAY_CODE else "DATE"
    if ref is None:
        value = f"XXXX-WXX-{weekday + 1}"
        if timex_type == "TIME":
            value += f"T{PART_OF_DAY_CODE[pod]}"
        return unresolved(value, pod, timex_type)
    back = (ref.weekday() - weekday) % 7
    if modifier in ("last", "past"):
        day = ref - timedelta(days=back or 7)
    elif modifier in ("next", "coming"):
        day = ref + timedelta(days=(weekday - ref.weekday()) % 7 or 7)
    elif modifier == "this":
        day = ref + timedelta(days=weekday - ref.weekday())
    elif weekday_tense(text, m.start(), m.end()) == "future":
        day = ref + timedelta(days=(weekday - ref.weekday()) % 7)
    else:
        day = ref - timedelta(days=back)
    value = day.isoformat() + (f"T{PART_OF_DAY_CODE[pod]}" if timex_type == "TIME" else "")
    return Normalised(timex_type, value, day, day, "day", ref, pod)


def _norm_clock(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    if m["ck_word"]:
        hour, minute = (24 if m["ck_word"].lower() == "midnight" else 12), 0
    elif m["ck_ampm"]:
        hour, minute = int(m["ck_h"]), int(m["ck_m"] or 0)
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if m["ck_ampm"].lower().startswith("p") else 0)
    elif m["ck_h2"]:
        hour, minute = int(m["ck_h2"]), int(m["ck_m2"])
    else:
        hour, minute = int(m["ck_hhmm"][:2]), int(m["ck_hhmm"][2:])
    if hour > 24:
        return None
    clock = f"T{hour:02d}:{minute:02d}"
    if ref is None:
        return unresolved(f"XXXX-XX-XX{clock}", timex_type="TIME")
    # A clock time in news is read as on the publication day.
    return Normalised("TIME", f"{ref.isoformat()}{clock}", ref, ref, "day", ref)


def _norm_decade(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    if m["dc"]:
        first = int(m["dc"])
    else:
        first = two_digit_year(m["dc2"], ref)  # "the '60s" said in 2013 are the 1960s
    return Normalised(
        "DATE",
        f"{first // 10}",
        date(first, 1, 1),
        date(first + 9, 12, 31),
        "decade",
        None,
        part_of(m["dc_mod"]),
    )


def _norm_century(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    """ "the 20th century": TIMEX3 writes a century as its first two digits ("19")."""
    number = int(m["ce_n"])
    if number == 0:
        return None
    first = (number - 1) * 100
    return Normalised("DATE", f"{number - 1:02d}", date(max(first, 1), 1, 1), date(first + 99, 12, 31), "century")


def _norm_short_year(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    return year_value(two_digit_year(m["yy"], ref), ref)


def _norm_year_span_end(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    first = int(text[m.start() - 5 : m.start() - 1])
    digits = m["yse"]
    if len(digits) == 4:
        year = int(digits)
    else:
        year = first // 100 * 100 + int(digits)
        if year < first:  # "1999-00"
            year += 100
    return year_value(year, None) if 0 < year - first <= 10 else None


def _norm_year(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    modifier = m["yr_mod"]
    return year_value(int(m["yr"]), None, part_of(modifier))


_SEASONS = {"spring": ("SP", 3), "summer": ("SU", 6), "autumn": ("FA", 9), "fall": ("FA", 9), "winter": ("WI", 12)}


def _season_bounds(year: int, first_month: int) -> tuple[date, date]:
    return date(year, first_month, 1), month_end(*add_months(year, first_month, 2))


_SEASON_PREPOSITION_RE = re.compile(r"\b(?:in|during|by|until|till|through|since|over|for)\s+$", re.IGNORECASE)
_FALL_OF_RE = re.compile(r"\s+(?:in|of)\b", re.IGNORECASE)


def _norm_season(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    word = m["se"].lower()
    modifier = re.sub(r"\s+", " ", (m["se_mod"] or "").lower())
    if word == "fall" and not m["se_y"] and modifier not in ("this", "last", "next", "early", "late"):
        # "the fall in prices" is a drop; "in the fall", "by the fall" (not followed by "in"/"of") a season
        in_time = modifier == "the" and _SEASON_PREPOSITION_RE.search(text, max(0, m.start() - 10), m.start())
        if not in_time or _FALL_OF_RE.match(text, m.end()):
            return None
    code, first_month = _SEASONS[word]
    part = next((w for w in ("early", "late") if w in modifier.split()), None)
    if m["se_y"]:
        year, anchor = year_number(m["se_y"], ref), None
    elif ref is None:
        return unresolved(f"XXXX-{code}", part)
    else:
        year, anchor = ref.year, ref
        if "last" in modifier or "past" in modifier:
            while _season_bounds(year, first_month)[1] >= ref:  # the last one that is over
                year -= 1
        elif "next" in modifier or "coming" in modifier:
            while _season_bounds(year, first_month)[0] <= ref:
                year += 1
        elif "this" not in modifier:
            # "in the summer" is this year's unless the sentence says it is over (past) or still to come (future)
            start, end = _season_bounds(year, first_month)
            if start > ref or end < ref:
                tense = calendar_tense(text, m.start(), m.end())
                if tense == "past" and start > ref:
                    year -= 1
                elif tense == "future" and end < ref:
                    year += 1
    start, end = _season_bounds(year, first_month)
    return Normalised("DATE", f"{year}-{code}", start, end, "season", anchor, part)


_HOLIDAYS: dict[str, Callable[[int], date]] = {
    "christmas": lambda y: date(y, 12, 25),
    "christmas day": lambda y: date(y, 12, 25),
    "christmas eve": lambda y: date(y, 12, 24),
    "new year's day": lambda y: date(y, 1, 1),
    "new year's eve": lambda y: date(y, 12, 31),
    "thanksgiving": lambda y: nth_weekday(y, 11, 3, 4),  # US: fourth Thursday of November
    "thanksgiving day": lambda y: nth_weekday(y, 11, 3, 4),
    "halloween": lambda y: date(y, 10, 31),
    "valentine's day": lambda y: date(y, 2, 14),
    "independence day": lambda y: date(y, 7, 4),
    "labor day": lambda y: nth_weekday(y, 9, 0, 1),
    "memorial day": lambda y: nth_weekday(y, 5, 0, -1),
    "election day": lambda y: nth_weekday(y, 11, 0, 1) + timedelta(days=1),  # Tuesday after the first Monday
    "easter": easter_sunday,
    "easter sunday": easter_sunday,
}


def _norm_holiday(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    """A named (US) holiday: the occurrence nearest the reference date, as a month-day is resolved."""
    holiday = _HOLIDAYS[re.sub(r"\s+", " ", m["ho"].lower())]
    if ref is None:
        return unresolved("XXXX-XX-XX")
    direction = direction_of(m["ho_mod"])
    if m["ho_mod"] and m["ho_mod"].lower() == "this":
        return day_value(holiday(ref.year), ref)
    candidates = [holiday(year) for year in (ref.year - 1, ref.year, ref.year + 1)]
    if direction == "past":
        candidates = [d for d in candidates if d < ref]
    elif direction == "future":
        candidates = [d for d in candidates if d > ref]
    else:
        nearest = min(candidates, key=lambda d: (abs((d - ref).days), d > ref))
        tense = sentence_tense(text, m.start(), m.end()) if abs((nearest - ref).days) > _TENSE_OVERRIDE_DAYS else None
        if tense in ("past", "future"):
            candidates = [d for d in candidates if (d <= ref) == (tense == "past")]
    return day_value(min(candidates, key=lambda d: (abs((d - ref).days), d > ref)), ref)


_SINCE_BEFORE_RE = re.compile(r"\bsince\s+$", re.IGNORECASE)


def _norm_year_end(m: re.Match[str], text: str, ref: date | None) -> Normalised | None:
    """ "by year-end", "year's end": the end of the reference year; "since year-end" the one before."""
    if ref is None:
        return unresolved("XXXX", "end")
    since = _SINCE_BEFORE_RE.search(text, max(0, m.start() - 8), m.start())
    return year_value(ref.year - (1 if since else 0), ref, "end")


_WITHIN_A_YEAR = frozenset(("year", "half", "quarter", "season", "month", "week", "day"))
_ENDED_AFTER_RE = re.compile(r"\s+(?:ended|ending)\b", re.IGNORECASE)


def _resolve_anaphoric(
    m: re.Match[str], text: str, ref: date | None, previous: Sequence[TemporalExpression]
) -> Normalised | None:
    """ "the quarter", "the year-ago period", "that year": the last such period mentioned, else the reference's."""
    unit = (m["an_unit"] or "").lower()
    modifier = re.sub(r"\s+", " ", (m["an_mod"] or "").lower())
    # The latest quarter mentioned so far, not the last one: reports compare it with the year-ago one.
    quarters = [e for e in previous if e.granularity == "quarter" and (ref is None or e.date_start <= ref)]
    last_quarter = max(quarters, key=lambda e: e.date_start) if quarters else None
    if modifier in ("latest", "most recent"):
        last_quarter = None
    # "in June 1998 ... later that year": the year of the last expression dated within one year.
    last_year = next((e for e in reversed(previous) if e.granularity in _WITHIN_A_YEAR and e.date_start), None)
    if unit == "weekend":
        if modifier:
            return None
        if ref is None:
            return unresolved("XXXX-WXX-WE")
        if ref.weekday() >= 5:
            return weekend_value(ref, ref)
        past = sentence_tense(text, m.start(), m.end()) == "past"
        return weekend_value(ref - timedelta(weeks=1) if past else ref, ref)
    if unit == "month":
        return _anaphoric_month(m, modifier, ref, previous)
    if unit == "year" and not modifier and _ENDED_AFTER_RE.match(text, m.end()):
        return Normalised("DURATION", "P1Y")  # "the year ended March 31": a year-long span, anchored at its end
    if unit == "period" and not modifier and not m["an_year"]:
        return None  # "the period" alone is too often not a date
    year_back = m["an_bare"] is not None or modifier in ("year-ago", "year-earlier")
    step = {"following": 1, "previous": -1, "prior": -1}.get(modifier, 0)
    if m["an_year"] and unit not in ("quarter", "period"):
        return year_value(int(m["an_year"]), None)
    if m["an_bare"] is not None or unit in ("quarter", "period"):
        if m["an_year"] and (last_quarter is None and ref is None):
            return unresolved(f"{m['an_year']}-QX")
        if modifier == "current" and ref is not None:
            return quarter_value(ref.year, quarter_number(ref), ref)
        if last_quarter is not None:
            year, quarter = last_quarter.date_start.year, quarter_number(last_quarter.date_start)
        elif ref is None:
            return unresolved("XXXX-QX")
        elif m["an_bare"] is not None:
            return year_value(ref.year - 1, ref)  # "year-earlier" results with no quarter in sight
        else:  # financial news: "the quarter" is the last one reported, the one before the reference's
            year, quarter = shift_quarter(ref.year, quarter_number(ref), -1)
        year, quarter = shift_quarter(year, quarter, -4 if year_back else step)
        if m["an_year"]:  # "the 1988 period": the quarter under discussion, in that year
            year = int(m["an_year"])
        return quarter_value(year, quarter, ref)
    if m["an_det"].lower() == "that" or step:
        if last_year is not None:
            base = last_year.date_start.year
        elif ref is None:
            return unresolved("XXXX")
        else:
            base = ref.year
    elif ref is None:
        return unresolved("XXXX")
    else:
        base = ref.year
    return year_value(base + step - (1 if year_back else 0), ref)


def _anaphoric_month(
    m: re.Match[str], modifier: str, ref: date | None, previous: Sequence[TemporalExpression]
) -> Normalised | None:
    """ "In March ... the following month": the month after (before, the same as) the last month or day mentioned.

    "the month" alone is left alone: it is as often "the month of Ramadan" as a month in time.
    """
    step = {"following": 1, "next": 1, "previous": -1, "prior": -1, "same": 0}.get(modifier)
    if m["an_year"] or (step is None and not (m["an_det"].lower() == "that" and not modifier)):
        return None
    last = next((e for e in reversed(previous) if e.granularity in ("month", "day") and e.date_start), None)
    base = last.date_start if last is not None else ref
    if base is None:
        return unresolved("XXXX-XX")
    return month_value(*add_months(base.year, base.month, step or 0), ref)


def _resolve_same_day(
    m: re.Match[str], text: str, ref: date | None, previous: Sequence[TemporalExpression]
) -> Normalised:
    """ "later that day", "earlier in the day", "that same day": the last day mentioned, else the reference.

    "the next morning", "the previous day": the day after (before) the last day mentioned, with its part of
    the day; with no day mentioned before, the text does not say which (a null value, not the reference's).
    """
    last_day = next((e.date_start for e in reversed(previous) if e.granularity == "day" and e.date_start), None)
    if m["sd_step"]:
        unit = m["sd_unit"].lower()
        timex_type = "DATE" if unit == "day" else "TIME"
        if last_day is None:
            return Normalised(timex_type, None)
        day = last_day + timedelta(days=1 if m["sd_step"].lower() in ("next", "following") else -1)
        if unit == "day":
            return day_value(day, ref)
        value = f"{day.isoformat()}T{PART_OF_DAY_CODE[unit]}"
        return Normalised("TIME", value, day, day, "day", ref, unit)
    day = last_day or ref
    return day_value(day, ref) if day else unresolved("XXXX-XX-XX")


_YEAR_AGO_QUARTER_CHARS = 1000


def _year_ago_quarter(m: re.Match[str], previous: Sequence[TemporalExpression]) -> Normalised | None:
    """ "a year ago" just after a quarter was mentioned is that quarter a year earlier (earnings reports)."""
    if not (m["du_ago"] and unit_name(m["du_u"]) == "year" and quantity_value(m["du_n"]) == 1):
        return None
    # The latest quarter reported, not the last one mentioned: that may itself be the year-ago quarter.
    recent = [e for e in previous if e.end >= m.start() - _YEAR_AGO_QUARTER_CHARS]
    quarters = [e for e in recent if e.granularity == "quarter" and (e.anchor is None or e.date_start <= e.anchor)]
    if not quarters:
        return None
    latest = max(quarters, key=lambda e: e.date_start)
    year, quarter = shift_quarter(latest.date_start.year, quarter_number(latest.date_start), -4)
    return quarter_value(year, quarter, latest.anchor)


def _norm_duration_in_context(
    m: re.Match[str], text: str, ref: date | None, previous: Sequence[TemporalExpression]
) -> Normalised | None:
    """A duration, or the point it counts back to ("three years ago"), which may be a quarter reported before."""
    normalised = _norm_duration(m, text, ref)
    if normalised is not None and normalised.timex_type == "DATE":
        return _year_ago_quarter(m, previous) or _earlier_than_said(m, text, previous) or normalised
    return normalised


_SHIFTABLE = frozenset(("year", "month", "day"))


def _earlier_than_said(m: re.Match[str], text: str, previous: Sequence[TemporalExpression]) -> Normalised | None:
    """ "in 2008, up from 55 percent four years earlier": earlier than the date just said (2004), not than the
    reference; "ago" always counts from the reference."""
    if not m["du_ago"] or m["du_ago"].lower() != "earlier" or not previous:
        return None
    said = previous[-1]
    if said.start < sentence_start_of(text, m.start()) or said.granularity not in _SHIFTABLE or said.date_start is None:
        return None
    if said.value is None or not re.fullmatch(r"\d{4}(?:-\d\d){0,2}", said.value):
        return None
    return _ago(quantity_value(m["du_n"].lower()), unit_name(m["du_u"]), said.date_start)._replace(anchor=said.anchor)
