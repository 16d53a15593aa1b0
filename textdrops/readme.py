"""Sections of README.md generated from the code that declares them (the schema, the settings)."""

from __future__ import annotations

import sys
from collections.abc import Callable


def update_section(markers: tuple[str, str], markdown: str, path: str = "README.md") -> None:
    """Replace the README's text between the two markers with `markdown`."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    start, end = markers
    i, j = text.index(start) + len(start), text.index(end)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text[:i] + markdown + text[j:])


def section_main(markers: tuple[str, str], markdown: Callable[[], str]) -> None:
    """`python -m MODULE --update-readme` rewrites the section; without it the section is printed."""
    if sys.argv[1:] == ["--update-readme"]:
        update_section(markers, markdown())
    else:
        print(markdown(), end="")
