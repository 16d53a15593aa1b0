"""Paragraph by paragraph: junk rejoined from wrapped lines, learned template paragraphs, repeats and
the comment section (steps 2, 5 and 6 on the joined paragraphs).
"""

from .boilerplate import MAX_BLOCK_KEY_CHARS, block_key, is_block_key_candidate
from .junk import COMMENT_HEADER_RE, COMMENT_POLICY, MAX_JUNK_CHARS, MAX_SHORT_TAIL_WORDS, junk_rule, may_be_junk
from .removals import Removals
from .shapes import (
    BLANK,
    DIGIT,
    LEARNED,
    LETTER,
    LIST,
    LIST_ITEM,
    MIN_NUMERIC_REPEAT_WORDS,
    MIN_REPEAT_WORDS,
    PLAIN,
    Block,
    Line,
    word_count,
)
from .structure import is_structure_line


def drop_junk_blocks(blocks: list[Block], removals: Removals) -> list[Block]:
    """Drop prose paragraphs that match a junk pattern once rejoined ("Follow us" / "on Twitter")."""
    kept: list[Block] = []
    for block in blocks:
        if not block.is_table:
            # one-line paragraphs were judged line by line already; a contact appeal may be wrapped
            rule = junk_rule(block.text) if block.n_lines > 1 and len(block.text) <= MAX_JUNK_CHARS else None
            if rule is not None:
                removals.remove(rule, block.text, block.n_lines)
                continue
        kept.append(block)
    return kept


_HEADER_ZONE_BLOCKS = 3
_FOOTER_ZONE_BLOCKS = 4


def drop_learned_paragraphs(lines: list[Line], boilerplate: frozenset[int], removals: Removals) -> list[Line]:
    """Drop whole blank-line separated paragraphs of two or more lines, one of them labelled learned, whose
    `block_key` is learned template, in the header and footer zones, before single lines are judged.

    A template sentence the site wrapped with the body is counted whole, as a paragraph
    (`document_line_keys`); one of its wrapped lines may recur often enough to be learned as a line too
    (pages wrapped at similar widths break it alike), and removing that line alone would leave the rest
    of the sentence behind. So the paragraph is matched first, as it was counted.
    """
    # (start, end) of each paragraph short enough to be a key candidate (<= 600 characters), or None
    paragraphs: list[tuple[int, int] | None] = []
    start = None
    chars = 0
    for index, line in enumerate(lines):
        if line.kind == BLANK:
            if start is not None:
                paragraphs.append((start, index) if chars <= MAX_BLOCK_KEY_CHARS else None)
                start = None
        elif start is None:
            start, chars = index, len(line.text)
        else:
            chars += len(line.text) + 1
    if start is not None:
        paragraphs.append((start, len(lines)) if chars <= MAX_BLOCK_KEY_CHARS else None)
    drop: set[int] = set()
    n = len(paragraphs)
    for number, bounds in enumerate(paragraphs):
        if bounds is None or bounds[1] - bounds[0] < 2 or _HEADER_ZONE_BLOCKS <= number < n - _FOOTER_ZONE_BLOCKS:
            continue
        start, end = bounds
        part = lines[start:end]
        if not any(line.kind == LEARNED for line in part) or any(
            line.kind not in (PLAIN, LIST, LEARNED) or is_structure_line(line.text) for line in part
        ):
            continue
        joined = " ".join(line.text for line in part)
        if is_block_key_candidate(joined, word_count(joined)) and block_key(joined) in boilerplate:
            removals.remove("learned_boilerplate", joined, end - start)
            drop.update(range(start, end + 1))  # with the blank line after it
    if not drop:
        return lines
    kept = [line for index, line in enumerate(lines) if index not in drop]
    while kept and kept[-1].kind == BLANK:
        kept.pop()
    return kept


def drop_learned_blocks(blocks: list[Block], boilerplate: frozenset[int], removals: Removals) -> list[Block]:
    """Drop short prose paragraphs joined from two or more lines whose `block_key` is learned template.

    Only the header and footer zones are looked at (the first and last few paragraphs): a site wraps its
    template sentences with the body above or below the article, and hashing every paragraph of every
    document would cost more than the rest of the learned-boilerplate check.
    """
    kept: list[Block] = []
    n = len(blocks)
    for index, block in enumerate(blocks):
        if (
            (index < _HEADER_ZONE_BLOCKS or index >= n - _FOOTER_ZONE_BLOCKS)
            and block.n_lines >= 2
            and not block.is_table
            and is_block_key_candidate(block.text, word_count(block.text))
            and block_key(block.text) in boilerplate
            and not is_structure_line(block.text)
        ):
            removals.remove("learned_boilerplate", block.text, block.n_lines)
            continue
        kept.append(block)
    return kept


def drop_repeats(blocks: list[Block], removals: Removals) -> list[Block]:
    """Drop later copies of prose paragraphs of >= MIN_REPEAT_WORDS words (case folded), and the rest
    of a body pasted twice.

    Short paragraphs, short ones with numbers and table blocks are content even when they repeat, except
    inside a second copy of the body: once a long paragraph repeats, the paragraphs after it that repeat
    the ones after its first copy, in the same order, are that copy too (its list lines, its data rows),
    and so are the list lines just before it that repeat those before the first copy.
    """
    first_seen: dict[str, int] = {}  # long paragraph -> its index in `kept`
    kept: list[Block] = []
    follows: int | None = None  # index in `kept` the next block would repeat, inside a second copy

    def drop(block: Block) -> None:
        removals.remove("repeated_paragraph", block.text, block.n_lines)

    for block in blocks:
        if follows is not None:
            if follows < len(kept) and kept[follows].text.casefold() == block.text.casefold():
                drop(block)
                follows += 1
                continue
            follows = None
        words = word_count(block.text)
        if (
            not block.is_table
            and words >= MIN_REPEAT_WORDS
            and (words >= MIN_NUMERIC_REPEAT_WORDS or not DIGIT.search(block.text))
        ):
            key = block.text.casefold()
            original = first_seen.get(key)
            if original is not None:
                drop(block)
                # the list lines just kept that repeat those before the original are the copy's start
                back = 1
                while (
                    original - back >= 0
                    and len(kept) - back > original
                    and LIST_ITEM.match(kept[-back].text)
                    and kept[-back].text.casefold() == kept[original - back].text.casefold()
                ):
                    back += 1
                for _ in range(back - 1):
                    drop(kept.pop())
                follows = original + 1
                continue
            first_seen[key] = len(kept)
        kept.append(block)
    return kept


def _is_comment_header(block: Block) -> bool:
    return (
        not block.is_table
        and may_be_junk(block.text)
        and COMMENT_HEADER_RE.fullmatch(block.text) is not None
        and LETTER.search(block.text) is not None
    )


def _is_comment_tail(block: Block) -> bool:
    if block.is_table:
        return False
    if word_count(block.text) <= MAX_SHORT_TAIL_WORDS:
        return True
    hits = 0
    for _ in COMMENT_POLICY.finditer(block.text):
        hits += 1
        if hits >= 2:
            return True
    return False


def drop_comment_section(blocks: list[Block], removals: Removals) -> list[Block]:
    """Drop a trailing comment section and any leftover standalone comment prompts."""
    # Walk back from the end while paragraphs look like comment policy; the earliest header inside that
    # stretch starts the section.
    if not any(_is_comment_header(block) for block in blocks):
        return blocks
    cut = len(blocks)
    i = len(blocks) - 1
    while i >= 0 and (_is_comment_header(blocks[i]) or _is_comment_tail(blocks[i])):
        if _is_comment_header(blocks[i]):
            cut = i
        i -= 1
    kept: list[Block] = []
    for index, block in enumerate(blocks):
        if index >= cut or _is_comment_header(block):
            removals.remove("comment_section", block.text, block.n_lines)
            continue
        kept.append(block)
    return kept
