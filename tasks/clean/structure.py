"""Article structure: datelines and bylines, which stay in the text however often they recur.

`find_dateline` is the one dateline finder (for cleanup's structure checks and for reference dates);
`article_structure` gives the dateline's place and the byline of a cleaned article.
"""

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .shapes import DIGIT

# A dateline on its own line ("BEIJING 1996-08-30", "LONDON, March 14, 2016 (Reuters)", "SAN FRANCISCO,
# Calif. Aug 30"): an ALL-CAPS place, maybe a country or state after a comma, a date and nothing else. It
# heads the story and is never joined into the sentence after it.
MONTH = (  # any case: Reuters writes "MARCH 11" and "OCt 19" too
    r"(?i:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?"
    r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
DATELINE = re.compile(
    r"(?P<place>[^\W\d_][^\W\d_.'&-]*(?:[ .'&-]+[^\W\d_]+){0,4}\.?)"
    r"(?: ?, [^\W\d_][\w.'&-]*(?: [^\W\d_][\w.'&-]*){0,2})?,? "
    rf"(?P<date>\d{{4}}-\d{{2}}-\d{{2}}|{MONTH} \d{{1,2}}(?:, \d{{4}})?|\d{{1,2}} {MONTH}(?: \d{{4}})?)"
    r"(?: \((?P<agency>[^\W\d_][\w ]{0,24})\))?"
)
MAX_DATELINE_CHARS = 80
# A dateline as agencies print it, on its own line or leading the first paragraph, with or without a date:
# "LONDON, March 14 (Reuters) -", "WASHINGTON (AP) —", "PARIS, Feb. 21 (AFP) -", "NEW YORK --". The place
# is in capitals (checked apart), an agency in brackets or a dash follows.
_DATELINE_DASH = r"(?:-{1,2}|–|—)"
_DATELINE_PREFIX = (
    r"(?P<place>[^\W\d_][^\W\d_.'&-]*(?:[ .'&-]+[^\W\d_]+){0,4}\.?)"
    r"(?: ?, [^\W\d_][\w.'&-]*(?: [^\W\d_][\w.'&-]*){0,2})?"
    rf"(?P<date> ?,? (?:\d{{4}}-\d{{2}}-\d{{2}}|{MONTH} \d{{1,2}}(?:, \d{{4}})?|\d{{1,2}} {MONTH}(?: \d{{4}})?))?"
    r"(?: \((?P<agency>[^\W\d_][\w .&-]{0,24})\))?"
)
DATELINE_LEAD = re.compile(_DATELINE_PREFIX + rf" (?P<dash>{_DATELINE_DASH})(?= |$)")
DATELINE_ALONE = re.compile(_DATELINE_PREFIX + rf"(?: (?P<dash>{_DATELINE_DASH}))?")
# A byline: "By Jane Doe", "By JANE DOE", "By Jane Doe and John Roe", "By Jane Doe, BBC News", "By Jane Doe
# in London". Capitalised words only after "By", so "By then, ..." and "By continuing ..." are not bylines.
_NAME_WORD = r"[A-Z][\w.'’-]*"
_NAMES = rf"{_NAME_WORD}(?: {_NAME_WORD}){{0,3}}"
BYLINE = re.compile(
    rf"(?:By|BY) (?P<names>{_NAMES}(?:(?: and| &) {_NAMES}){{0,3}})"
    rf"(?:(?:,| in| for) {_NAME_WORD}(?: {_NAME_WORD}){{0,4}})?"
)
MAX_BYLINE_CHARS = 100


# The date ends a dateline, or only an agency in brackets follows it; every date form holds a digit within
# its last 13 characters ("30 September.", "September. 30, 2016").
_DATE_TAIL_CHARS = 20


def may_be_dateline(text: str) -> bool:
    """False when `DATELINE` cannot match the whole text (a fast pre-check): a digit near the end, or a
    closing bracket there and a digit anywhere."""
    if text[-1:] == ")":
        return DIGIT.search(text) is not None
    return DIGIT.search(text, max(0, len(text) - _DATE_TAIL_CHARS)) is not None


def is_dateline(text: str) -> bool:
    """True for a line that is a dateline and nothing else ("BEIJING 1996-08-30")."""
    if len(text) > MAX_DATELINE_CHARS or not text[:2].isupper() or not may_be_dateline(text):
        return False
    match = DATELINE.fullmatch(text)
    return match is not None and match["place"].isupper()


def _dateline_lead(text: str) -> re.Match | None:
    """The dateline a paragraph starts with ("LONDON, March 14 (Reuters) - ..."), or None.

    A capitalised place, maybe a date and an agency, then a dash; without a date or an agency the text
    after the dash must not be in capitals too ("SOCCER - ENGLISH LEAGUE RESULTS" is a headline).
    """
    if not text[:2].isupper():
        return None
    match = DATELINE_LEAD.match(text)
    if match is None or not match["place"].isupper():
        return None
    if match["agency"] is None and match["date"] is None:
        rest = text[match.end() :].lstrip()
        if rest and not (rest[:1].isupper() and rest[1:2].islower()):
            return None
    return match


def is_byline(text: str) -> bool:
    return len(text) <= MAX_BYLINE_CHARS and text[:3] in ("By ", "BY ") and BYLINE.fullmatch(text) is not None


def is_structure_line(text: str) -> bool:
    """True for a dateline or byline line: article structure, never template however often it recurs."""
    if len(text) > MAX_BYLINE_CHARS:
        return False
    if is_byline(text) or is_dateline(text):
        return True
    # a dateline alone ends in its date, its agency's bracket or a dash
    if not text[:2].isupper() or not (text[-1].isdigit() or text[-1] in ")-–—"):
        return False
    match = DATELINE_ALONE.fullmatch(text)
    return (
        match is not None
        and match["place"].isupper()
        and (match["agency"] is not None or match["date"] is not None or match["dash"] is not None)
    )


# A wire dateline as reference dates have read it: up to 80 characters of place (any case, "Cleveland,
# Ohio"), a comma, maybe a weekday, a month name in Title or UPPER case and a day, maybe a year, maybe an
# agency in brackets, then a dash ("CLEVELAND, Feb 26 -", "Paris, Monday, March 14, 2016 (AFP) --").
def _cased(words: Sequence[str]) -> str:
    """Alternation of the Title-case and UPPER-case forms of `words`, longest first."""
    forms = []
    for word in sorted(words, key=len, reverse=True):
        forms += [word.capitalize(), word.upper()]
    return "(?-i:" + "|".join(forms) + ")"


_FULL_MONTHS = "january february march april may june july august september october november december".split()
_ABBREVIATED_MONTHS = "jan feb mar apr jun jul aug sept sep oct nov dec".split()
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_CASED_MONTH = _cased(_FULL_MONTHS + [month + r"\.?" for month in _ABBREVIATED_MONTHS])
_WIRE_DATELINE = re.compile(
    rf"^(?P<place>[^\n]{{0,80}}?),\s+(?:{_cased(_WEEKDAYS)},?\s+)?"
    rf"(?P<date>{_CASED_MONTH}\s+[0-3]?\d\b(?:,?\s+\d{{4}})?)"
    r"\s*(?:\((?P<agency>[^)\n]{1,40})\)\s*)?(?:-|--|—|–)",
    re.IGNORECASE,
)
# The parts of a dateline's date: "1996-12-06", "Feb. 21, 2016" / "March 14", "14 March 2016".
_DATE_PARTS = re.compile(
    r"(?P<iso_year>\d{4})-(?P<iso_month>\d{2})-(?P<iso_day>\d{2})"
    r"|(?P<month>[^\W\d_]+)\.?\s+(?P<day>\d{1,2})(?:,?\s+(?P<year>\d{4}))?"
    r"|(?P<day_before>\d{1,2})\s+(?P<month_after>[^\W\d_]+)\.?(?:\s+(?P<year_after>\d{4}))?"
)
_MONTH_NUMBERS = {name[:3]: number for number, name in enumerate(_FULL_MONTHS, start=1)}
# Where a dateline is looked for: the first line of each of the first paragraphs, and the first lines.
_DATELINE_PARAGRAPHS = 3
_DATELINE_LINES = 4
_DATELINE_LINES_CHARS = 200


@dataclass(frozen=True)
class Dateline:
    """A document's dateline: the place it names, its date as written, its agency, where it is in the text."""

    place: str  # "LONDON", "SAN FRANCISCO", "Cleveland"
    date_text: str | None  # "1996-12-06", "March 14", "Feb. 21, 2016", "14 March 2016"; None without a date
    agency: str | None  # "Reuters", "AP"
    start: int  # offsets of the dateline (with its dash, if any) in the text searched
    end: int

    def date_parts(self) -> tuple[int | None, int, int] | None:
        """(year or None, month, day) of `date_text`, or None without a date."""
        match = _DATE_PARTS.fullmatch(self.date_text) if self.date_text else None
        if match is None:
            return None
        if match["iso_year"]:
            return int(match["iso_year"]), int(match["iso_month"]), int(match["iso_day"])
        month = _MONTH_NUMBERS[(match["month"] or match["month_after"]).casefold()[:3]]
        year = match["year"] or match["year_after"]
        return (int(year) if year else None), month, int(match["day"] or match["day_before"])


def _structure_dateline(line: str) -> re.Match | None:
    """The dateline a line is (`DATELINE`, whole line) or starts with (`_dateline_lead`), or None."""
    return DATELINE.fullmatch(line) if is_dateline(line) else _dateline_lead(line)


def _dateline_lines(text: str) -> Iterator[tuple[int, str]]:
    """(offset, line) of the lines a dateline is looked for in, in text order:
    the first line of each of the first three paragraphs and the first four lines of the first 200
    characters (as reference dates have read them)."""
    seen = set()
    offset = 0
    for paragraph in text.split("\n\n", _DATELINE_PARAGRAPHS)[:_DATELINE_PARAGRAPHS]:
        seen.add(offset)
        offset += len(paragraph) + 2
    offset = 0
    for line in text[:_DATELINE_LINES_CHARS].split("\n")[:_DATELINE_LINES]:
        seen.add(offset)
        offset += len(line) + 1
    for start in sorted(seen):
        if start < len(text):
            end = text.find("\n", start)
            yield start, text[start : end if end >= 0 else len(text)]


def find_dateline(text: str) -> Dateline | None:
    """Return the dateline of a clean article's text (title excluded), or None.

    Every form cleanup keeps as article structure, on its own line or leading a paragraph ("LONDON
    1996-12-06", "LONDON, March 14 (Reuters) -", "WASHINGTON (AP) —", "NEW YORK --", "SAN FRANCISCO,
    Calif. Aug 30") with its place in capitals, and the wire form reference dates read ("Cleveland,
    Ohio, Monday, Feb 26, 1987 (AP) -"), in the first line of one of the first three paragraphs or in
    the first four lines; the first one in the text wins.
    """
    for start, line in _dateline_lines(text):
        match = _structure_dateline(line)
        if match is not None:
            date = match["date"]
            return Dateline(
                match["place"].rstrip("."),
                date.lstrip(" ,") if date else None,
                match["agency"],
                start,
                start + match.end(),
            )
        stripped = line.strip()
        wire = _WIRE_DATELINE.match(stripped)
        if wire is not None:
            skipped = start + len(line) - len(line.lstrip())
            return Dateline(
                wire["place"].split(",", 1)[0].strip(),
                wire["date"],
                wire["agency"],
                skipped,
                skipped + wire.end(),
            )
    return None


def article_structure(title: str | None, text: str) -> tuple[str | None, str | None]:
    """Return (dateline place, byline) of a clean article, from its first paragraphs, or None each.

    The place is what the dateline names ("LONDON" of "LONDON, March 14 (Reuters) -"); the byline is the
    names after "By" ("Jane Doe and John Roe").
    """
    place = byline = None
    for paragraph in text.split("\n\n", 3)[:3]:
        first_line = paragraph.split("\n", 1)[0]
        if byline is None and is_byline(first_line):
            byline = BYLINE.fullmatch(first_line)["names"]
            continue
        if place is None:
            match = _structure_dateline(first_line)
            if match is not None:
                place = match["place"].rstrip(".")
    if byline is None and title is not None and is_byline(title):
        byline = BYLINE.fullmatch(title)["names"]
    return place, byline
