"""The headline: the first line when it is shaped like one and set apart from the body (step 3)."""

from .shapes import (
    BLANK,
    DIGIT,
    LETTER,
    MAX_TITLE_CHARS,
    MAX_TITLE_WORDS,
    PLAIN,
    TITLE_BAD_END,
    Line,
    closes_sentence,
    word_count,
)
from .structure import is_structure_line

_MAX_HEADER_LINE_WORDS = 8
_MAX_HEADER_LINES = 2
_MIN_HEADED_TITLE_WORDS = 3


def _is_title_shaped(line: Line) -> bool:
    text = line.text
    if (
        line.kind != PLAIN
        or len(text) > MAX_TITLE_CHARS
        or word_count(text) > MAX_TITLE_WORDS
        or not LETTER.search(text)
        or is_structure_line(text)
    ):
        return False
    last = text[-1]
    return not (last in TITLE_BAD_END and not (last == "." and text.upper() == text))


def detect_title(lines: list[Line]) -> tuple[str | None, list[Line]]:
    """Return the headline (or None) and the lines after it.

    The headline is the first line when a blank line follows it, or when the lines between it and the
    first blank line are short header lines (a byline, a dateline, an ad label or a credit the junk rules
    did not know): those stay in the body, but are never glued to the headline.
    """
    first = 0
    while first < len(lines) and lines[first].kind == BLANK:
        first += 1
    if first + 2 >= len(lines) or not _is_title_shaped(lines[first]):
        return None, lines
    if lines[first + 1].kind == BLANK:
        return lines[first].text, lines[first + 2 :]
    end = first + 1
    while end < len(lines) and lines[end].kind != BLANK and end - first <= _MAX_HEADER_LINES:
        end += 1
    header = lines[first + 1 : end]
    if (
        end >= len(lines)
        or lines[end].kind != BLANK
        or len(header) > _MAX_HEADER_LINES
        or word_count(lines[first].text) < _MIN_HEADED_TITLE_WORDS
    ):
        return None, lines
    for line in header:
        text = line.text
        short = word_count(text) <= _MAX_HEADER_LINE_WORDS and not closes_sentence(text) and not DIGIT.search(text)
        if not (is_structure_line(text) or (short and line.kind == PLAIN and text[0].isupper())):
            return None, lines
    body = [item for line in header for item in (line, Line("", BLANK, 0))]
    return lines[first].text, body + lines[end + 1 :]
