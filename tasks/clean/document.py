"""One document through every step: `clean_document(raw)` -> `CleanedDocument`."""

from typing import NamedTuple

from .encoding import _MAX_FTFY_ROUNDS, _NEEDS_FULL_FTFY, _normalize_unicode
from .headline import _detect_title
from .lines import _classify_lines, _drop_learned_lines
from .paragraphs import (
    _drop_comment_section,
    _drop_junk_blocks,
    _drop_learned_blocks,
    _drop_learned_paragraphs,
    _drop_repeats,
)
from .removals import CLEAN_RULES, _TracedCounts
from .shapes import _BLANK, _LEARNED
from .unwrap import _build_blocks


class CleanedDocument(NamedTuple):
    """A cleaned document and the account of what cleaning removed."""

    title: str | None
    text: str
    removed_chars: dict[str, int]
    removed_lines: dict[str, int]


def _clean_once(
    raw: str,
    removed_chars: dict[str, int],
    removed_lines: dict[str, int],
    find_title: bool,
    boilerplate: frozenset[int] = frozenset(),
) -> tuple[str | None, str]:
    """Return (title, body) after one pass of every step, adding what it removed to the counts."""
    text = _normalize_unicode(raw, removed_chars)
    lines = _classify_lines(text, removed_chars, removed_lines, boilerplate)
    if boilerplate:
        if any(line.kind == _LEARNED for line in lines):  # a learned line may be part of a learned paragraph
            lines = _drop_learned_paragraphs(lines, boilerplate, removed_chars, removed_lines)
        lines = _drop_learned_lines(lines, removed_chars, removed_lines)
    title = None
    if find_title:
        title, lines = _detect_title(lines)
    # Paragraph keys are learned from blank-line separated paragraphs: a body without blank lines (Reuters'
    # indented paragraphs) has none to look up.
    has_paragraphs = boilerplate and any(line.kind == _BLANK for line in lines)
    blocks = _build_blocks(lines)
    if has_paragraphs:
        blocks = _drop_learned_blocks(blocks, boilerplate, removed_chars, removed_lines)
    blocks = _drop_junk_blocks(blocks, removed_chars, removed_lines)
    blocks = _drop_repeats(blocks, removed_chars, removed_lines)
    blocks = _drop_comment_section(blocks, removed_chars, removed_lines)
    return title, "\n\n".join(block.text for block in blocks)


def clean_document(
    raw: str, boilerplate: frozenset[int] = frozenset(), trace: list[tuple[str, str]] | None = None
) -> CleanedDocument:
    """Return the headline, clean body and per-rule removal counts of one raw document.

    `boilerplate` holds the `line_key`s learned for the document's drop (`learn_boilerplate`): whole
    short lines with those keys are removed as `learned_boilerplate`. When `trace` is a list, every
    removed line or paragraph is appended to it as (rule, text).
    """
    removed_chars = dict.fromkeys(CLEAN_RULES, 0)
    if trace is not None:
        removed_chars = _TracedCounts(removed_chars, trace)
    removed_lines = dict.fromkeys(CLEAN_RULES, 0)
    title, body = _clean_once(raw, removed_chars, removed_lines, find_title=True, boilerplate=boilerplate)
    # ftfy judges mojibake line by line, so rejoining hard-wrapped lines can give it new context. When
    # the body may still hold mojibake, clean it again until it is stable, so that cleaning is idempotent.
    for _ in range(_MAX_FTFY_ROUNDS):
        if body.isascii() or not _NEEDS_FULL_FTFY.search(body):
            break
        _, again = _clean_once(body, removed_chars, removed_lines, find_title=False, boilerplate=boilerplate)
        if again == body:
            break
        body = again
    return CleanedDocument(title, body, removed_chars, removed_lines)
