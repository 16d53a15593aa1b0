"""Hard-wrap repair: join wrapped lines into paragraphs, keep tables and data rows line by line (step 4).

Consecutive lines are joined with a space into one paragraph. A line starts a new paragraph when the
previous one ends a sentence unless it begins with a lower-case letter, when it is indented deeper than
the body (Reuters' 4-space indent decides alone in such documents), or when it is a list item. Table-like
lines and runs of short data rows are kept line by line. Wrap widths are measured per run of lines: in a
hard-wrapped document a line that ends a sentence ends the paragraph only when the next word would have
fitted on it within its run's width. See the package docstring for the full account.
"""

import bisect
from collections import Counter

from .shapes import (
    BLANK,
    CLOSERS,
    DIGIT,
    LETTER,
    LIST,
    LIST_ITEM,
    PLAIN,
    SENTENCE_END,
    STANDALONE,
    TABLE,
    Block,
    Line,
    closes_sentence,
    word_count,
)
from .structure import is_byline, is_dateline

# A hard-wrapped document: its longest prose line is at most this long and several lines come close to it.
_MIN_WRAP_WIDTH = 50
_MAX_WRAP_WIDTH = 100
_MIN_FULL_SHARE = 0.4
_MIN_FULL_LINES = 3
_FULL_LINE_SLACK = 12


def _wrap_width(lines: list[Line]) -> int | None:
    """Return the width a document is hard-wrapped at, or None when it does not look wrapped.

    In a wrapped document a line that ends a sentence still continues its paragraph when the next line's
    first word would not have fitted on it: the wrapper, not the writer, broke the line there. The width
    is the third-longest prose line, so that a junk line or two left unwrapped do not widen it; the
    document counts as wrapped when that is 50-100 columns and many lines come close to it and break
    mid-sentence.
    """
    texts = [line.text for line in lines if line.kind == PLAIN]
    if len(texts) < _MIN_FULL_LINES:
        return None
    lengths = sorted(map(len, texts), reverse=True)
    width = lengths[_MIN_FULL_LINES - 1]
    if not _MIN_WRAP_WIDTH <= width <= _MAX_WRAP_WIDTH:
        return None
    min_full = width - _FULL_LINE_SLACK
    if len(lengths) - bisect.bisect_left(lengths[::-1], min_full) < _MIN_FULL_SHARE * len(lengths):
        return None
    # Wrapping breaks most lines mid-sentence; text written one sentence per line is not wrapped.
    ends = [text.rstrip(CLOSERS)[-1:] for text in texts]  # "" for a line of closers only
    mid_sentence = len(ends) - sum(map(SENTENCE_END.__contains__, ends))
    if mid_sentence < _MIN_FULL_SHARE * len(lengths):
        return None
    return width


# Per block: a paragraph may be wrapped at its own width (a quote, a pasted block), so each run of lines
# gets its own width. A run of a hard-wrapped paragraph has every line but the last close to one width.
_MIN_RUN_WRAP_WIDTH = 30
_MIN_RUN_FULL_SHARE = 0.8
_MIN_RUN_MID_SENTENCE_SHARE = 0.5


def _line_runs(lines: list[Line]) -> list[tuple[int, int]]:
    """(start, end) of each stretch of consecutive prose and list lines (end exclusive)."""
    runs = []
    start = 0
    n = len(lines)
    while start < n:
        if lines[start].kind not in (PLAIN, LIST):
            start += 1
            continue
        end = start
        while end < n and lines[end].kind in (PLAIN, LIST):
            end += 1
        runs.append((start, end))
        start = end
    return runs


def _run_wrap_width(lines: list[Line], start: int, end: int) -> int:
    """The width the run's lines were wrapped at, judged from all lines but the last (0 when unknown):
    the second-longest of them when there are four or more, so that one junk line left unwrapped in the
    run does not widen it, else the longest. A run with two lines longer than any wrap is not wrapped."""
    longest = second = 0
    too_long = 0
    for i in range(start, end - 1):
        n = len(lines[i].text)
        if n > _MAX_WRAP_WIDTH:
            too_long += 1
        elif n > longest:
            longest, second = n, longest
        elif n > second:
            second = n
    counted = end - 1 - start - too_long
    if not counted or too_long > 1:
        return 0
    return second if counted >= 4 else longest


def _indented_runs(lines: list[Line], base_indent: int) -> list[tuple[int, int]]:
    """`_line_runs` of indent-paragraphed text: a line indented deeper than the body starts a new run."""
    runs = []
    for start, end in _line_runs(lines):
        for i in range(start + 1, end):
            if lines[i].kind == PLAIN and lines[i].indent > base_indent:
                runs.append((start, i))
                start = i
        runs.append((start, end))
    return runs


def _wrap_widths(lines: list[Line]) -> list[int] | None:
    """`_run_wrap_widths` of the runs of consecutive prose and list lines."""
    return _run_wrap_widths(lines, _line_runs(lines), _wrap_width(lines))


def _run_wrap_widths(lines: list[Line], runs: list[tuple[int, int]], document_width: int | None) -> list[int] | None:
    """Return the wrap width of each line's run (0 where unknown), or None when the text is not hard-wrapped;
    `document_width` is `_wrap_width(lines)`.

    The document is wrapped when it is as a whole (`_wrap_width`) or when its runs of two or more lines,
    each measured against its own width, have most lines but the last close to that width and breaking
    mid-sentence (one paragraph at 45 columns, the next at 90). A run of three or more lines that looks
    wrapped by itself (the next word would not have fitted on most of its lines within its width) is
    judged by its own width. Any other run (two lines say little about their width; ragged lines were not
    wrapped) is judged by the narrowest such width of the document: a line that ends a sentence there
    ends its paragraph only when it is short of every width the document was wrapped at.
    """
    runs = [(start, end) for start, end in runs if end - start >= 2]
    measured: list[tuple[int, int, int]] = []
    own: list[tuple[int, int, int]] = []  # runs wrapped by themselves, measured by their own width
    non_last = full = mid_sentence = 0
    for start, end in runs:
        width = _run_wrap_width(lines, start, end)
        if width < _MIN_RUN_WRAP_WIDTH:
            continue
        measured.append((start, end, width))
        filled = 0  # lines the next word would not have fitted on within the width: the wrapper broke them
        min_full = width - _FULL_LINE_SLACK
        following = lines[start].text
        for i in range(start, end - 1):  # (`closes_sentence` and `_first_word_length` inlined: every line)
            text, following = following, lines[i + 1].text
            length = len(text)
            full += length >= min_full
            core = text.rstrip(CLOSERS)
            mid_sentence += not core or core[-1] not in SENTENCE_END
            space = following.find(" ")
            filled += length + 1 + (space if space >= 0 else len(following)) > width
        non_last += end - 1 - start
        if end - start >= 3 and filled >= _MIN_RUN_FULL_SHARE * (end - 1 - start):
            own.append((start, end, width))
    runs_wrapped = (
        non_last >= _MIN_FULL_LINES
        and full >= _MIN_RUN_FULL_SHARE * non_last
        and mid_sentence >= _MIN_RUN_MID_SENTENCE_SHARE * non_last
    )
    if document_width is None and not runs_wrapped:
        return None
    if own:
        document_width = min(width for _, _, width in own)
    elif document_width is None:
        document_width = sorted(width for _, _, width in measured)[len(measured) // 2]
    widths = [document_width] * len(lines)
    for start, end, width in own:
        widths[start:end] = [width] * (end - start)
    return widths


# A data row: a short line with a digit that does not end a sentence, in a run of such lines (results
# tables with single spaces, score lines, "Shr 1.31 dlrs vs 86 cts"). A wrapped prose line is longer than
# this (wraps are 50 columns or more), so hard-wrapped prose with numbers still joins. A short label
# without digits ("Nine mths", "June") belongs to the run it sits in or heads.
_MAX_ROW_CHARS = 48
_MAX_ROW_LABEL_WORDS = 3
_MIN_RUN_ROWS = 2


def data_run_lines(lines: list[Line], wrap_widths: list[int] | None) -> set[int]:
    """Return the indices of the lines that belong to runs of data rows, to be kept line by line.

    A run is a stretch of consecutive short prose or list lines, each a data row or a label, where every line
    but the last is unfinished (no sentence end) and the next one does not continue it in lower case,
    holding at least two data rows; a line continued in lower case is prose. In a hard-wrapped
    document two lines the wrapper broke apart (the next word would not have fitted) are not one run.
    """

    def shape(index: int) -> int:  # 2 data row, 1 label, 0 neither
        line = lines[index]
        text = line.text
        if line.kind not in (PLAIN, LIST) or len(text) > _MAX_ROW_CHARS or text[0].islower():
            return 0
        following = lines[index + 1] if index + 1 < len(lines) else None
        if following and following.kind == PLAIN and following.text[0].islower() and not closes_sentence(text):
            return 0  # its sentence goes on in lower case on the next line: prose, not a row
        if is_dateline(text):
            return 0
        # A numbered result ("2. Ludmila Engquist ( Sweden ) 12.74") is a row; its number alone is not data
        # (whether "2." reads as a list marker depends on the line before it).
        marker = LIST_ITEM.match(text)
        if DIGIT.search(text, marker.end() if marker else 0):
            return 2
        return 1 if word_count(text) <= _MAX_ROW_LABEL_WORDS and LETTER.match(text) else 0

    def linked_shape(index: int) -> int:  # the next line's shape when it and line index are rows of one run
        text = lines[index].text
        if closes_sentence(text):
            return 0
        following_shape = shape(index + 1)
        if not following_shape:
            return 0
        wrap_width = wrap_widths[index] if wrap_widths else 0
        if wrap_width and len(text) + 1 + _first_word_length(lines[index + 1].text) > wrap_width:
            return 0
        return following_shape

    rows: set[int] = set()
    next_index = 0  # lines before it are in a run already looked at
    # Only a short prose or list line not in lower case can have a shape (the rest of the document is skipped).
    for index in [
        i
        for i, line in enumerate(lines)
        if line.kind in (PLAIN, LIST) and len(line.text) <= _MAX_ROW_CHARS and not line.text[0].islower()
    ]:
        if index < next_index:
            continue
        first_shape = shape(index)
        if not first_shape:
            continue
        end = index
        n_rows = first_shape == 2
        while end + 1 < len(lines):
            following_shape = linked_shape(end)
            if not following_shape:
                break
            n_rows += following_shape == 2
            end += 1
        if end > index and n_rows >= _MIN_RUN_ROWS:
            rows.update(range(index, end + 1))
        next_index = end + 1
    return rows


def _run_widths(lines: list[Line]) -> list[int]:
    """Return, for each line, the wrap width its run of consecutive prose and list lines could have.

    That is the longest line of the run no longer than `_MAX_WRAP_WIDTH` (longer lines were not wrapped):
    a wrapper fills every line of a paragraph up to its width, so a line that left room within it for the
    next line's first word was broken by the writer, not the wrapper.
    """
    widths = [0] * len(lines)
    start = 0
    while start < len(lines):
        if lines[start].kind not in (PLAIN, LIST):
            start += 1
            continue
        end = start
        longest = 0
        while end < len(lines) and lines[end].kind in (PLAIN, LIST):
            length = len(lines[end].text)
            if length <= _MAX_WRAP_WIDTH:
                longest = max(longest, length)
            end += 1
        widths[start:end] = [longest] * (end - start)
        start = end
    return widths


# A line ending in one of these words cannot end a sentence, headline or label ("On" / "Monday, President
# Putin indicated ..." as a scraper broke it): the next line goes on with it, however long either is.
_CONTINUING_WORDS = frozenset("a an the of to and or nor but with from by at in on for into onto than".split())


def _continues_line(
    previous: str, text: str, wrap_width: int | None, run_width: int, sentence_end_breaks: bool = False
) -> bool:
    """True when the line `text` goes on with the sentence of the line before it, so the two join.

    A lower-case start always continues. In a hard-wrapped document (`wrap_width`) a line that breaks
    mid-sentence was wrapped, and so was one that ends a sentence when the next word would not have fitted
    on it (unless `sentence_end_breaks`, as after a list item). Elsewhere a line break is the writer's
    (one sentence, headline or result per line, as CoNLL and many scraped pages have it) unless the line
    ends mid-sentence and either ends in a word that cannot end it ("the", "of") or in a hyphen, or looks
    wrapped: both lines are no longer than a wrap width can be and the next word would not have fitted
    within (or close to) the run's width (`_run_widths`).
    """
    if text[0].islower():
        return True
    ends_sentence = closes_sentence(previous)
    next_fits = len(previous) + 1 + _first_word_length(text)
    if wrap_width:
        return not ends_sentence or (not sentence_end_breaks and next_fits > wrap_width)
    if ends_sentence:
        return False
    if previous[previous.rfind(" ") + 1 :].casefold() in _CONTINUING_WORDS or _ends_in_hyphen(previous):
        return True
    could_be_wrapped = len(previous) <= _MAX_WRAP_WIDTH and len(text) <= _MAX_WRAP_WIDTH
    return could_be_wrapped and next_fits > run_width - _FULL_LINE_SLACK


def _ends_in_hyphen(text: str) -> bool:
    """True for a line broken after a hyphen inside a word ("anti-"), not after a dash (" -")."""
    return text[-1] == "-" and len(text) > 1 and text[-2].isalpha()


def _first_word_length(text: str) -> int:
    space = text.find(" ")
    return len(text) if space < 0 else space


# After these words a line-final hyphen is a suspended one ("small- and medium-sized firms"), not a
# compound broken by the wrapper: the space stays.
_SUSPENDED_HYPHEN_NEXT = frozenset({"and", "or", "nor", "to"})
_WORD_EDGE_PUNCTUATION = ".,;:!?\"'”’)]"


class _HyphenEvidence:
    """How often the document spells a word pair across a hyphen with a space ("MacLeod- Henderson") and
    without one ("MacLeod-Henderson"), counted once per document in one pass over its words.

    Built lazily, the first time a hyphen wrap needs it, so the counting costs a document one pass however
    many wraps it has (a per-wrap scan of the whole document would be quadratic in its length).
    """

    def __init__(self, lines: list[Line]) -> None:
        self.spaced: Counter[tuple[str, str]] = Counter()
        self.glued: Counter[str] = Counter()
        for line in lines:
            if line.kind == BLANK or "-" not in line.text:
                continue
            words = [_bare_word(word) for word in line.text.split()]
            for word, following in zip(words, words[1:], strict=False):
                if word.endswith("-"):
                    self.spaced[word, following] += 1
            for word in words:
                if "-" in word:
                    self.glued[word] += 1

    def keeps_space(self, head: str, tail: str) -> bool:
        """True when the document spells `head tail` with a space more often than without."""
        head = _bare_word(head)
        return self.spaced[head, tail] > self.glued[head + tail]


_OPENING_PUNCTUATION = "\"'“‘([«"


def _bare_word(word: str) -> str:
    return word.lstrip(_OPENING_PUNCTUATION).rstrip(_WORD_EDGE_PUNCTUATION)


def join_wrapped(parts: list[str], lines: list[Line], evidence: list[_HyphenEvidence | None]) -> str:
    """Join wrapped lines with a space, or with nothing after a word broken at its hyphen ("anti-" /
    "racketeering"): wrappers break compounds there, and the hyphen is part of the word.

    A line-final hyphen keeps its space when the document says so: the next word is "and", "or", "to"
    (a suspended hyphen), or `lines` spell the pair with a space ("MacLeod- Henderson") more often than
    without one on a single line. `evidence` is a one-item cache of the document's `_HyphenEvidence`.
    Linear in the length of the parts: pieces are collected and joined once.
    """
    if len(parts) == 1:
        return parts[0]
    joined = " ".join(parts)
    # Only a line that ends in a hyphen can join without the space (most paragraphs have none).
    if "- " not in joined or "-" not in "".join([part[-1] for part in parts[:-1]]):
        return joined
    return join_hyphen_wrapped(parts, lines, evidence)


def join_hyphen_wrapped(parts: list[str], lines: list[Line], evidence: list[_HyphenEvidence | None]) -> str:
    """`join_wrapped` without its fast path, for paragraphs with a line that ends in a hyphen."""
    pieces = [parts[0]]
    previous = parts[0]
    for part in parts[1:]:
        if _ends_in_hyphen(previous) and part[0].isalpha():
            head = previous[previous.rfind(" ") + 1 :]
            tail = part[: _first_word_length(part)].rstrip(_WORD_EDGE_PUNCTUATION)
            if tail.casefold() not in _SUSPENDED_HYPHEN_NEXT:
                if evidence[0] is None:
                    evidence[0] = _HyphenEvidence(lines)
                if not evidence[0].keeps_space(head, tail):
                    pieces.append(part)
                    previous = part
                    continue
        pieces.append(" ")
        pieces.append(part)
        previous = part
    return "".join(pieces)


def build_blocks(lines: list[Line]) -> list[Block]:
    """Join hard-wrapped lines into paragraphs; keep table rows together as one block."""
    plain_indents = [ln.indent for ln in lines if ln.kind in (PLAIN, LIST)]
    base_indent = min(plain_indents) if plain_indents else 0
    # Indent-paragraphed text (Reuters): an indented line directly follows a non-blank prose line.
    indent_mode = any(
        cur.kind == PLAIN and cur.indent > base_indent and prev.kind in (PLAIN, LIST)
        for prev, cur in zip(lines, lines[1:], strict=False)
    )
    if indent_mode:  # the indent alone decides paragraphs; the width serves the data rows and list items
        document_width = _wrap_width(lines)
        if document_width:  # wrapped at one width (Reuters)
            wrap_widths = [document_width] * len(lines)
        else:  # each paragraph at its own width, or not wrapped
            wrap_widths = _run_wrap_widths(lines, _indented_runs(lines, base_indent), None)
    else:
        wrap_widths = _wrap_widths(lines)
    # Only text that is not hard-wrapped needs the local evidence of each run.
    run_widths = [0] * len(lines) if wrap_widths or indent_mode else _run_widths(lines)
    blocks: list[Block] = []
    parts: list[str] = []
    parts_kind = BLANK
    hyphen_evidence: list[_HyphenEvidence | None] = [None]

    def flush() -> None:
        nonlocal parts, parts_kind
        if parts:
            is_table = parts_kind == TABLE
            text = "\n".join(parts) if is_table else join_wrapped(parts, lines, hyphen_evidence)
            blocks.append(Block(text, is_table, len(parts)))
        parts = []
        parts_kind = BLANK

    # Cheap gates first: most prose lines are long and none of their neighbours holds a digit.
    data_rows = data_run_lines(lines, wrap_widths) if any(DIGIT.search(ln.text) for ln in lines) else set()
    for index, line in enumerate(lines):
        kind = line.kind
        if kind == BLANK:
            flush()
            continue
        text = line.text
        # (a dateline starts with two capitals, a byline with "By ")
        if kind == PLAIN and (
            (text[:2].isupper() and is_dateline(text)) or (text[:3] in ("By ", "BY ") and is_byline(text))
        ):
            flush()
            parts.append(line.text)
            flush()
            continue
        if index in data_rows:
            # Kept line by line, as a table block: a data row is not a wrapped piece of a sentence.
            if parts_kind != TABLE or index - 1 not in data_rows:
                flush()
            parts.append(line.text)
            parts_kind = TABLE
            continue
        if kind == TABLE:
            if parts_kind != TABLE:
                flush()
            parts.append(line.text)
            parts_kind = TABLE
            continue
        if kind == PLAIN and parts_kind == PLAIN and line.indent <= base_indent:
            wrap_width = wrap_widths[index - 1] if wrap_widths else None
            if indent_mode or _continues_line(parts[-1], line.text, wrap_width, run_widths[index - 1]):
                parts.append(line.text)
                continue
        # A list item absorbs its wrapped continuation, however that is indented.
        if kind == PLAIN and parts_kind == LIST:
            wrap_width = wrap_widths[index - 1] if wrap_widths else None
            if _continues_line(parts[-1], line.text, wrap_width, run_widths[index - 1], sentence_end_breaks=True):
                parts.append(line.text)
                continue
        flush()
        parts.append(line.text)
        parts_kind = kind
        if kind == STANDALONE:
            flush()
    flush()
    return blocks
