"""One document through every step: `clean_document(raw)` -> `CleanedDocument`."""

from typing import NamedTuple

from .encoding import MAX_FTFY_ROUNDS, NEEDS_FULL_FTFY, normalize_unicode
from .headline import detect_title
from .lines import classify_lines, drop_learned_lines
from .paragraphs import (
    drop_comment_section,
    drop_junk_blocks,
    drop_learned_blocks,
    drop_learned_paragraphs,
    drop_repeats,
)
from .removals import Removals
from .shapes import BLANK, LEARNED
from .unwrap import build_blocks


class CleanedDocument(NamedTuple):
    """A cleaned document and the account of what cleaning removed."""

    title: str | None
    text: str
    removed_chars: dict[str, int]
    removed_lines: dict[str, int]


def _clean_once(
    raw: str,
    removals: Removals,
    find_title: bool,
    boilerplate: frozenset[int] = frozenset(),
) -> tuple[str | None, str]:
    """Return (title, body) after one pass of every step, adding what it removed to the counts."""
    text = normalize_unicode(raw, removals.chars)
    lines = classify_lines(text, removals, boilerplate)
    if boilerplate:
        if any(line.kind == LEARNED for line in lines):  # a learned line may be part of a learned paragraph
            lines = drop_learned_paragraphs(lines, boilerplate, removals)
        lines = drop_learned_lines(lines, removals)
    title = None
    if find_title:
        title, lines = detect_title(lines)
    # Paragraph keys are learned from blank-line separated paragraphs: a body without blank lines (Reuters'
    # indented paragraphs) has none to look up.
    has_paragraphs = boilerplate and any(line.kind == BLANK for line in lines)
    blocks = build_blocks(lines)
    if has_paragraphs:
        blocks = drop_learned_blocks(blocks, boilerplate, removals)
    blocks = drop_junk_blocks(blocks, removals)
    blocks = drop_repeats(blocks, removals)
    blocks = drop_comment_section(blocks, removals)
    return title, "\n\n".join(block.text for block in blocks)


def clean_document(
    raw: str, boilerplate: frozenset[int] = frozenset(), trace: list[tuple[str, str]] | None = None
) -> CleanedDocument:
    """Return the headline, clean body and per-rule removal counts of one raw document.

    `boilerplate` holds the `line_key`s learned for the document's drop (`learn_boilerplate`): whole
    short lines with those keys are removed as `learned_boilerplate`. When `trace` is a list, every
    removed line or paragraph is appended to it as (rule, text).
    """
    removals = Removals(trace)
    title, body = _clean_once(raw, removals, find_title=True, boilerplate=boilerplate)
    # ftfy judges mojibake line by line, so rejoining hard-wrapped lines can give it new context. When
    # the body may still hold mojibake, clean it again until it is stable, so that cleaning is idempotent.
    for _ in range(MAX_FTFY_ROUNDS):
        if body.isascii() or not NEEDS_FULL_FTFY.search(body):
            break
        _, again = _clean_once(body, removals, find_title=False, boilerplate=boilerplate)
        if again == body:
            break
        body = again
    return CleanedDocument(title, body, removals.chars, removals.lines)
