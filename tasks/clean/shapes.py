"""What a line or paragraph is, to the later steps: its kind, and the small text predicates they share."""

import re
from typing import NamedTuple

# --- Line shapes --------------------------------------------------------------------------------------

# A table row (Reuters number tables) is never joined into prose: two gaps of three or more spaces
# between words, or one gap on a line with a digit ("Wheat     2.55"). One gap without digits is prose.
_TABLE_GAP = re.compile(r"(?<=\S) {3,}(?=\S)")
_DIGIT = re.compile(r"\d")
_LIST_ITEM = re.compile(r"(?:[-*•·▪►‣◦]|\d{1,3}[.)]|\(\d{1,3}\)|\([a-z]\))(?: |$)")
_LIST_MARKS = "-*•·▪►‣◦("


def _may_be_list_item(text: str) -> bool:
    """False when `_LIST_ITEM` cannot match (a fast pre-check): a list item starts with a mark or a digit."""
    return text[0] in _LIST_MARKS or text[0].isdecimal()


_CLOSERS = "\"'”’»)]"
_SENTENCE_END = frozenset(".!?:;…")
_TITLE_BAD_END = ".,;:"
_LETTER = re.compile(r"[^\W\d_]")
_MAX_TITLE_WORDS = 20
_MAX_TITLE_CHARS = 200
_MIN_REPEAT_WORDS = 5
# Short lines with numbers are data ("Net 16.1 mln vs 9,390,000" for the quarter and the nine months).
_MIN_NUMERIC_REPEAT_WORDS = 10

_BLANK, _PLAIN, _LIST, _TABLE, _STANDALONE, _LEARNED = range(6)


class _Line(NamedTuple):
    text: str  # collapsed for prose; table rows keep their spacing
    kind: int
    indent: int


class _Block(NamedTuple):
    text: str
    is_table: bool
    n_lines: int


def _is_table_row(stripped: str) -> bool:
    if "   " not in stripped:  # a gap is three spaces or more: most lines have none, and the regex is slow
        return False
    gap = _TABLE_GAP.search(stripped)
    if gap is None:
        return False
    return _DIGIT.search(stripped) is not None or _TABLE_GAP.search(stripped, gap.end()) is not None


def _ends_sentence(text: str) -> bool:
    """True when the line ends like a sentence: terminal punctuation, maybe followed by closers."""
    core = text.rstrip(_CLOSERS)
    return bool(core) and core[-1] in _SENTENCE_END


def _word_count(text: str) -> int:
    return text.count(" ") + 1 if text else 0
