"""The stage's driver: candidates -> normalised expressions -> ranges, clock times on their day, NER spans merged."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from .candidates import candidate_matches
from .families import FAMILY_BY_NAME
from .tense import CONTEXT_CHARS, SENTENCE_END_RE, sentence_start_of
from .values import TemporalExpression, month_value, quantity_value, week_value
from .vocabulary import MONTH_NUMBER, NUMBER_WORDS, OPENING_QUOTES, WEEKDAY_NUMBER

# An NER span we cannot normalise is kept only if it looks temporal at all (spaCy sometimes tags "we").
_TEMPORAL_HINT_RE = re.compile(
    r"(?<!\d)(?:1[5-9]|20)\d\d(?!\d)|\d[:/]\d|\b(?:year|month|week|day|hour|minute|decade|centur|quarter|half|season|"
    r"spring|summer|autumn|fall|winter|morning|afternoon|evening|night|noon|midnight|today|tonight|tomorrow|yesterday|"
    r"daily|weekly|monthly|recent|ago|period|time|era|age|dawn|dusk|weekend|holiday|christmas|easter|"
    r"ramadan|monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|april|june|july|"
    r"august|september|october|november|december)",
    re.IGNORECASE,
)


def _month_of(expression: str) -> int | None:
    """The month number named by the last month word of an expression, if any."""
    for word in reversed(re.split(r"[\s-]+", expression)):
        month = MONTH_NUMBER.get(word.rstrip(".").lower())
        if month is not None:
            return month
    return None


def _is_title_mid_sentence(text: str, m: re.Match[str]) -> bool:
    """Whether a match in Title Case inside a sentence is a name: ABC's "This Week", "VOA Today", "High Noon"."""
    words = m[0].split()
    if not all(word[0].isupper() and word[1:].islower() for word in words if word[0].isalpha()) or m[0][0].isdigit():
        return False
    # ABC News' "This Week": the possessive's apostrophe and the opening quote both go
    before = text[max(0, m.start() - 20) : m.start()].rstrip(OPENING_QUOTES + " \t\n")
    return bool(before) and (before[-1].isalnum() or before[-1] == ",")


# British English capitalises seasons: after a preposition or before a year it is still one ("by Spring 2005",
# "in the approach to Spring"), where "Suddenly Last Summer", "My Summer of Love", "Jamie Winter" are names.
_BEFORE_CAPITALISED_SEASON_RE = re.compile(
    r"\b(?:in|by|to|until|till|through|since|during|before|after|from|over)\s+$", re.IGNORECASE
)
_YEAR_AFTER_RE = re.compile(r",?\s+(?:19|20)\d\d\b")


def _is_capitalised_season(text: str, m: re.Match[str]) -> bool:
    """Whether a season in Title Case is a season all the same: after a preposition or before a year."""
    return m.lastgroup == "season" and (
        _BEFORE_CAPITALISED_SEASON_RE.search(text, max(0, m.start() - 10), m.start()) is not None
        or _YEAR_AFTER_RE.match(text, m.end()) is not None
    )


def _find_own(text: str, reference_date: date | None) -> tuple[list[TemporalExpression], list[tuple[int, int]]]:
    """The expressions the patterns find, and the spans of names that look like them ("This Week")."""
    found = []
    names = []
    for m in candidate_matches(text):
        family = FAMILY_BY_NAME[m.lastgroup]
        try:
            if family.in_context:
                normalised = family.normalise(m, text, reference_date, found)
            else:
                normalised = family.normalise(m, text, reference_date)
        except (ValueError, OverflowError):  # a reference near year 1 or 9999: no date to give
            continue
        if normalised is None:
            continue
        if family.nameable and _is_title_mid_sentence(text, m) and not _is_capitalised_season(text, m):
            names.append((m.start(), m.end()))
            continue
        if (
            family.name in ("spelled_year", "relative")
            and normalised.granularity == "year"
            and found
            and found[-1].granularity == "month"
            and found[-1].text.split()[0].lower() not in ("last", "next", "this")
            and not any(ch.isdigit() for ch in found[-1].text)  # "December 1985 this year" has its year
            and text[found[-1].end : m.start()].isspace()
            and _month_of(found[-1].text) is not None
        ):
            # "January nineteen ninety-seven", "June last year": the month of that year
            month_name = found.pop()
            month = _month_of(month_name.text)
            year_month = month_value(normalised.date_start.year, month, normalised.anchor, month_name.part_of_day)
            found.append(TemporalExpression(text[month_name.start : m.end()], month_name.start, m.end(), *year_month))
            continue
        found.append(TemporalExpression(m[0], m.start(), m.end(), *normalised))
    found = _ordered_ranges(text, _weeks_of_days(text, _range_starts(text, _day_range_starts(text, found))))
    return _date_clocks_by_their_day(text, _merge_clock_and_day(text, found)), names


# "from 3 to 5 April", "3-5 April": the first day of a range of days, written before the day that has the month
_DAY_RANGE_START_RE = re.compile(r"(?<![\w.,])(?P<d>[0-3]?\d)(?:st|nd|rd|th)?\s*(?:to|-|–|and)\s*$", re.IGNORECASE)
_DAY_MONTH_RE = re.compile(r"[0-3]?\d(?:st|nd|rd|th)?\s+(?:of\s+)?[A-Za-z]")


def _day_range_starts(text: str, found: list[TemporalExpression]) -> list[TemporalExpression]:
    """Add the first day of "3 to 5 April" (the date "3 April"), which the patterns do not see as a date."""
    result: list[TemporalExpression] = []
    for e in found:
        if e.granularity == "day" and e.date_start is not None and e.value and _DAY_MONTH_RE.match(e.text):
            start = _DAY_RANGE_START_RE.search(text, max(0, e.start - 12), e.start)
            previous_end = result[-1].end if result else 0
            if start is not None and start.start("d") >= previous_end:
                day = int(start["d"])
                first = e.date_start.replace(day=day) if 1 <= day < e.date_start.day else None
                if first is not None:
                    value = first.isoformat() + e.value[10:]
                    result.append(e._replace(text=start["d"], start=start.start("d"), end=start.end("d"), value=value,
                                             date_start=first, date_end=first))  # fmt: skip
        result.append(e)
    return result


_RANGE_FROM_RE = re.compile(r"\b(?:from|between)\s+$", re.IGNORECASE)
_RANGE_TO_RE = re.compile(r"\s*(?:to|until|till|through|and|-|–)\s*", re.IGNORECASE)
_YEAR_IN_TEXT_RE = re.compile(r"\d{4}|['’]\d\d")


def _ordered_ranges(text: str, found: list[TemporalExpression]) -> list[TemporalExpression]:
    """ "from June 1 to November 30": a range ends after it starts, so an end without its year is moved on
    a year when the nearest reading would put it first."""
    result = list(found)
    for i in range(1, len(result)):
        first, last = result[i - 1], result[i]
        if (
            first.granularity in ("day", "month")
            and last.granularity == first.granularity
            and first.date_start is not None
            and last.date_start is not None
            and last.date_start < first.date_start
            and not _YEAR_IN_TEXT_RE.search(last.text)
            and _RANGE_TO_RE.fullmatch(text, first.end, last.start)
            and _RANGE_FROM_RE.search(text, max(0, first.start - 12), first.start)
        ):
            later = _a_year_later(last)
            if later is not None:
                result[i] = later
    return result


def _a_year_later(e: TemporalExpression) -> TemporalExpression | None:
    if e.value is None or not re.fullmatch(r"\d{4}-\d\d(?:-\d\d)?", e.value):
        return None
    try:
        start, end = e.date_start.replace(year=e.date_start.year + 1), e.date_end.replace(year=e.date_end.year + 1)
    except ValueError:  # February 29
        return None
    if e.granularity == "month":
        end = month_value(start.year, start.month, None).date_end
    return e._replace(value=f"{start.year}{e.value[4:]}", date_start=start, date_end=end)


_WEEK_OF_BEFORE_RE = re.compile(r"\bthe\s+week\s+(?:of|beginning|starting|ending)\s+$", re.IGNORECASE)
_WEEK_AFTER_RE = re.compile(r"\s+week\b(?!\s*(?:-|of|end|day|night|long)\b)", re.IGNORECASE)
_HOLIDAY_RE = re.compile(r"[a-z' ]+", re.IGNORECASE)
_NOT_HOLIDAYS = frozenset((*WEEKDAY_NUMBER, "today", "tonight", "tomorrow", "yesterday"))


def _weeks_of_days(text: str, found: list[TemporalExpression]) -> list[TemporalExpression]:
    """ "the week of March 6", "Easter week": the week that holds the day, one expression."""
    result = []
    for e in found:
        if e.granularity == "day" and e.timex_type == "DATE" and e.date_start is not None:
            before = _WEEK_OF_BEFORE_RE.search(text, max(0, e.start - 24), e.start)
            # a named day ("Easter", "Thanksgiving") followed by "week"; "Monday week" is British for a day
            after = (
                _WEEK_AFTER_RE.match(text, e.end)
                if _HOLIDAY_RE.fullmatch(e.text) and e.text.split()[-1].lower() not in _NOT_HOLIDAYS
                else None
            )
            if before or after:
                start = before.start() if before else e.start
                end = after.end() if after else e.end
                result.append(TemporalExpression(text[start:end], start, end, *week_value(e.date_start, e.anchor)))
                continue
        result.append(e)
    return result


# "12 to 18 months", "two or three days", "5-10 years", "between 5 and 10 years": the first number of a range
# of durations, written just before the duration that carries the unit.
_RANGE_START_RE = re.compile(
    r"(?:(?<=\bbetween\s)(?P<between>)|(?<![\w.,$£€-]))(?P<n>\d{1,3}|"
    + "|".join(w for w in sorted(NUMBER_WORDS, key=len, reverse=True) if w not in ("a", "an", "hundred"))
    + r")\s*(?:(?P<and>and)|to|or|-|–)\s*$",
    re.IGNORECASE,
)
_DURATION_VALUE_RE = re.compile(r"(PT?)(\d+)([A-Z]+)")


def _range_starts(text: str, found: list[TemporalExpression]) -> list[TemporalExpression]:
    """Add the first end of each range of durations, with the unit of the second ("12" of "12 to 18 months": P12M)."""
    result: list[TemporalExpression] = []
    for e in found:
        value = _DURATION_VALUE_RE.fullmatch(e.value or "") if e.timex_type == "DURATION" else None
        start = _RANGE_START_RE.search(text, max(0, e.start - 24), e.start) if value else None
        if start is not None and (start["and"] is None or start["between"] is not None):
            number = quantity_value(start["n"])
            previous_end = result[-1].end if result else 0
            if number and start.start("n") >= previous_end:
                prefix, _, suffix = value.groups()
                result.append(
                    TemporalExpression(
                        start["n"],
                        start.start("n"),
                        start.end("n"),
                        "DURATION",
                        f"{prefix}{number}{suffix}",
                        None,
                        None,
                        None,
                        None,
                        None,
                    )  # fmt: skip
                )
        result.append(e)
    return result


_CLOCK_VALUE_RE = re.compile(r"T\d\d:\d\d$")
_CLOCK_DAY_GAP_RE = re.compile(r"[\s,]*")


def _merge_clock_and_day(text: str, found: list[TemporalExpression]) -> list[TemporalExpression]:
    """ "10 p.m. Wednesday", "noon Thursday", "5 p.m. EST, Nov. 9": one time on that day, not two expressions."""
    merged: list[TemporalExpression] = []
    for e in found:
        clock = merged[-1] if merged else None
        if (
            clock is not None
            and e.granularity == "day"
            and e.value is not None
            and clock.value is not None
            and _CLOCK_VALUE_RE.search(clock.value)
            and clock.value.startswith(clock.anchor.isoformat() if clock.anchor else "XXXX-XX-XX")
            and _CLOCK_DAY_GAP_RE.fullmatch(text, clock.end, e.start)
        ):
            value = e.value.split("T")[0] + clock.value[-6:]
            merged[-1] = TemporalExpression(
                text[clock.start : e.end], clock.start, e.end, "TIME", value, e.date_start, e.date_end, "day",
                e.anchor, e.part_of_day,
            )  # fmt: skip
            continue
        merged.append(e)
    return merged


# Between a clock time and the day it is on: "3 p.m. on Saturday", "10:35 a.m. (0735 GMT) Friday" ...
_CLOCK_THEN_DAY_GAP_RE = re.compile(r"[\s,()]*(?:on\s+)?", re.IGNORECASE)
# ... and between a day and its clock time: "Saturday at 3 p.m.", "Tuesday, around 10 a.m."
_DAY_THEN_CLOCK_GAP_RE = re.compile(
    r"[\s,]*(?:(?:at|from|by|until|till|before|after|shortly\s+(?:after|before))\s+)?(?:(?:about|around|approximately)\s+)?",
    re.IGNORECASE,
)


def _on_the_reference_day(e: TemporalExpression) -> bool:
    """A clock time that was put on the reference date for want of a day ("at 3 p.m.")."""
    return (
        e.timex_type == "TIME"
        and e.value is not None
        and _CLOCK_VALUE_RE.search(e.value) is not None
        and e.value.startswith(e.anchor.isoformat() if e.anchor else "XXXX-XX-XX")
    )


def _is_day(e: TemporalExpression) -> bool:
    return e.granularity == "day" and e.value is not None and re.fullmatch(r"\d{4}-\d\d-\d\d", e.value) is not None


def _date_clocks_by_their_day(text: str, found: list[TemporalExpression]) -> list[TemporalExpression]:
    """A clock time next to a day ("Saturday at 3 p.m.", "3 p.m. on Saturday") is on that day, not the reference's."""
    result = list(found)
    any_day = any(_is_day(e) for e in result)
    for i, e in enumerate(result):
        if not _on_the_reference_day(e):
            continue
        day = None
        j, previous_end = i + 1, e.end
        # "10:35 a.m. (0735 GMT) Friday": through other clock times to the day
        while j < len(result) and _CLOCK_THEN_DAY_GAP_RE.fullmatch(text, previous_end, result[j].start):
            if _is_day(result[j]):
                day = result[j]
                break
            if not _on_the_reference_day(result[j]):
                break
            previous_end, j = result[j].end, j + 1
        if day is None and i > 0 and _is_day(result[i - 1]):
            if _DAY_THEN_CLOCK_GAP_RE.fullmatch(text, result[i - 1].end, e.start):
                day = result[i - 1]
        if day is None and any_day:
            day = _the_day_of_its_sentence(text, result, i)
        if day is not None:
            result[i] = e._replace(
                value=day.value + e.value[-6:], date_start=day.date_start, date_end=day.date_end, anchor=day.anchor
            )
    return result


def _the_day_of_its_sentence(text: str, found: list[TemporalExpression], i: int) -> TemporalExpression | None:
    """The one day the sentence around ``found[i]`` names ("Saturday's match kicks off at 17:00"), if only one."""
    clock = found[i]
    start = sentence_start_of(text, clock.start)  # at most CONTEXT_CHARS back, and as far ahead:
    limit = min(len(text), clock.end + CONTEXT_CHARS)
    end_match = SENTENCE_END_RE.search(text, clock.end, limit)
    end = end_match.start() if end_match else limit
    j = i
    while j > 0 and found[j - 1].start >= start:  # found is in text order: only the sentence's neighbours
        j -= 1
    days = {}
    while j < len(found) and found[j].start < end:
        if found[j].end <= end and _is_day(found[j]):
            days[found[j].value] = found[j]
        j += 1
    if len(days) != 1:
        return None
    day = next(iter(days.values()))
    between = text[min(day.end, clock.end) : max(day.start, clock.start)]
    # "He left at 3 p.m. and returned Friday": another clause, maybe another day
    return None if _CLAUSE_JOIN_RE.search(between) else day


_CLAUSE_JOIN_RE = re.compile(r"[;:]|\b(?:and|but|or|while|whereas|after|before|then|when|until|since)\b", re.IGNORECASE)


_AGE_RE = re.compile(r"(?:\d|\b[a-z]+)[\s-]+(?:years?|months?)[\s-]+old\b|\bages?\b", re.IGNORECASE)
# NER spans nobody can give a value: a rate word used as an adjective ("quarterly dividend") or a bare
# "the day" / "that night", which TimeML annotates only when it can be resolved from context.
_UNRESOLVABLE_NER_RE = re.compile(
    r"(?:quarterly|weekly|monthly|seasonally|(?:the|that|this)\s+(?:day|night)(?:\s+of)?)", re.IGNORECASE
)
# A unit with no number, name or definite article ("a quarter", "his year", "All week", "Good evening",
# "just minutes apart", CBS's "60 Minutes") points at no particular time: nobody can give it a value.
_GENERIC_NER_RE = re.compile(
    r"(?:(?:a|an|his|her|its|their|our|my|your|all|only|just|more\s+than\s+a)\s+)?(?:fiscal\s+)?"
    r"(?:year|quarter|month|week|weekend|day|morning|afternoon|evening|nights?)|(?:\d+\s+|only\s+|just\s+)?"
    r"(?:minutes|hours|seconds)",
    re.IGNORECASE,
)
_DEFINITE_BEFORE_RE = re.compile(r"\b(?:the|that|this)\s+$", re.IGNORECASE)


def _is_generic_ner(text: str, start: int, end: int) -> bool:
    """Whether an NER span nothing here could normalise is a bare unit ("his year") rather than a time.

    "the [week]'s most active session": a unit after a definite article refers to a time and is kept.
    """
    if _DEFINITE_BEFORE_RE.search(text, max(0, start - 6), start):
        return False
    span = text[start:end]
    return _GENERIC_NER_RE.fullmatch(span) is not None and not re.fullmatch(r"\d+\s+(?-i:[a-z]+)", span)


def _merge_ner(
    text: str,
    own: list[TemporalExpression],
    ner_spans: Sequence[tuple[int, int, str]],
    names: Sequence[tuple[int, int]] = (),
) -> list[TemporalExpression]:
    """Add NER DATE/TIME spans: a span wrapping one own expression widens it, a span nobody found is kept.

    Spans over ``names`` (titles such as ABC's "This Week") are dropped.
    """
    result = list(own)
    for ner_start, ner_end, label in ner_spans:
        if label not in ("DATE", "TIME") or not 0 <= ner_start < ner_end <= len(text):
            continue
        if any(start < ner_end and ner_start < end for start, end in names):
            continue
        overlapping = [i for i, e in enumerate(result) if e.start < ner_end and ner_start < e.end]
        if not overlapping:
            span = text[ner_start:ner_end]
            if (
                _TEMPORAL_HINT_RE.search(span)
                and not _AGE_RE.search(span)
                and not _UNRESOLVABLE_NER_RE.fullmatch(span)
                and not _is_generic_ner(text, ner_start, ner_end)
            ):
                result.append(TemporalExpression(span, ner_start, ner_end, label, None, None, None, None, None, None))
            continue
        if len(overlapping) != 1:
            continue
        inner = result[overlapping[0]]
        wider = ner_start <= inner.start and inner.end <= ner_end and (ner_end - ner_start) > (inner.end - inner.start)
        # "about two years" widens; "the year ended March 31" holds a second expression and does not.
        extra = text[ner_start : inner.start] + " " + text[inner.end : ner_end]
        if wider and not _TEMPORAL_HINT_RE.search(extra):
            result[overlapping[0]] = inner._replace(text=text[ner_start:ner_end], start=ner_start, end=ner_end)
    return result


def extract_dates(
    text: str, reference_date: date | None, ner_spans: Sequence[tuple[int, int, str]] = ()
) -> list[TemporalExpression]:
    """Return the temporal expressions of ``text``, normalised against ``reference_date``, sorted by start.

    ``ner_spans`` are ``(start, end, label)`` from an NER model; DATE and TIME spans are merged in
    (an NER span that wraps exactly one expression found here widens it; one found nowhere else is
    kept with ``value=None``).
    """
    own, names = _find_own(text, reference_date)
    merged = _merge_ner(text, own, ner_spans, names) if ner_spans else own
    return sorted(merged, key=lambda e: (e.start, e.end))


def dated_rows(
    doc_ids: Sequence[str],
    titles: Sequence[str | None],
    texts: Sequence[str],
    reference_dates: Sequence[date | None],
    title_spans: Sequence[list],
    text_spans: Sequence[list],
) -> tuple[list[tuple], list[str]]:
    """Rows of the `dates` table (without drop_id, run_id) for each document's title, then its text, offsets
    into that field, both resolved against the document's reference date; and the documents whose extraction
    failed (they keep everything else)."""
    date_rows: list[tuple] = []
    date_errors: list[str] = []
    for doc_id, title, text, ref, in_title, in_text in zip(
        doc_ids, titles, texts, reference_dates, title_spans, text_spans, strict=True
    ):
        try:
            found = [
                (field, x)
                for field, source, spans in (("title", title, in_title), ("text", text, in_text))
                if source and source.strip()
                for x in extract_dates(source, ref, spans)
            ]
        except Exception as exc:  # a normaliser bug must not cost the drop: the document keeps everything else
            date_errors.append(f"{doc_id}: {type(exc).__name__}: {exc}")
            found = []
        for field, x in found:
            date_rows.append(
                (
                    doc_id,
                    field,
                    x.text,
                    x.start,
                    x.end,
                    x.timex_type,
                    x.value,
                    x.date_start,
                    x.date_end,
                    x.granularity,
                    x.anchor,
                    x.part_of_day,
                )
            )
    return date_rows, date_errors
