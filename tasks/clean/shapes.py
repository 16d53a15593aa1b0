"""What a line or paragraph is, to the later steps: its kind, and the small text predicates they share."""

import re
from typing import NamedTuple

# --- Line shapes --------------------------------------------------------------------------------------

# A table row (Reuters number tables) is never joined into prose: two gaps of three or more spaces
# between words, or one gap on a line with a digit ("Wheat     2.55"). One gap without digits is prose.
TABLE_GAP = re.compile(r"(?<=\S) {3,}(?=\S)")
DIGIT = re.compile(r"\d")
LIST_ITEM = re.compile(r"(?:[-*•·▪►‣◦]|\d{1,3}[.)]|\(\d{1,3}\)|\([a-z]\))(?: |$)")
_LIST_MARKS = "-*•·▪►‣◦("


def may_be_list_item(text: str) -> bool:
    """False when `LIST_ITEM` cannot match (a fast pre-check): a list item starts with a mark or a digit."""
    return text[0] in _LIST_MARKS or text[0].isdecimal()


CLOSERS = "\"'”’»)]"
SENTENCE_END = frozenset(".!?:;…")
TITLE_BAD_END = ".,;:"
LETTER = re.compile(r"[^\W\d_]")
MAX_TITLE_WORDS = 20
MAX_TITLE_CHARS = 200
MIN_REPEAT_WORDS = 5
# Short lines with numbers are data ("Net 16.1 mln vs 9,390,000" for the quarter and the nine months).
MIN_NUMERIC_REPEAT_WORDS = 10

BLANK, PLAIN, LIST, TABLE, STANDALONE, LEARNED = range(6)


class Line(NamedTuple):
    text: str  # collapsed for prose; table rows keep their spacing
    kind: int
    indent: int


class Block(NamedTuple):
    text: str
    is_table: bool
    n_lines: int


def is_table_row(stripped: str) -> bool:
    if "   " not in stripped:  # a gap is three spaces or more: most lines have none, and the regex is slow
        return False
    gap = TABLE_GAP.search(stripped)
    if gap is None:
        return False
    return DIGIT.search(stripped) is not None or TABLE_GAP.search(stripped, gap.end()) is not None


def closes_sentence(text: str) -> bool:
    """True when the line ends like a sentence: terminal punctuation, maybe followed by closers."""
    core = text.rstrip(CLOSERS)
    return bool(core) and core[-1] in SENTENCE_END


def word_count(text: str) -> int:
    return text.count(" ") + 1 if text else 0
