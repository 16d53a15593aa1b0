"""Finding candidate expressions: one regex over all families, run only near trigger words.

Two prefilters keep this fast and must agree with a full scan (tests/tasks/test_dates_prefilters.py): a
first-word trie before any family is tried, and windows around trigger words for the whole regex.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .families import FAMILIES


def _word_trie(words: Sequence[str]) -> str:
    """A case-insensitive regex matching any of ``words`` as a prefix, factored by first letters.

    Written with character classes ("[tT]") rather than the IGNORECASE flag: the regex engine then
    rejects a branch on its first character without entering it, so most words fail after a few checks.
    """
    heads: dict[str, list[str]] = {}
    for word in words:
        heads.setdefault(word[0], []).append(word[1:])
    branches = []
    for head, tails in sorted(heads.items()):
        letter = f"[{head}{head.upper()}]" if head.isalpha() else re.escape(head)
        if "" in tails:  # a word that is a prefix of the others is enough on its own
            branches.append(letter)
        else:
            branches.append(letter + "(?:" + _word_trie(tails) + ")")
    return "|".join(branches)


# Every expression starts with a digit, an apostrophe or a first word of its family (or a longer word it begins).
_FIRST_WORDS = sorted({word for family in FAMILIES for word in family.first_words})
_FIRST_WORD_RE = _word_trie(_FIRST_WORDS)


def expression_regex(prefilters: bool = True) -> re.Pattern[str]:
    """All families as the named alternatives of one regex; without ``prefilters`` (to test them) the same
    regex without the first-word trie and the per-family look-aheads."""
    # The look-aheads let the engine skip positions inside words and words no expression starts with
    # (most of them) before trying every family.
    first_word = rf"(?=[\d'’]|(?-i:{_FIRST_WORD_RE}))" if prefilters else ""
    families = "|".join(
        f"(?P<{family.name}>{family.head if prefilters else ''}(?:{family.pattern}))" for family in FAMILIES
    )
    return re.compile(rf"(?<![\w'’]){first_word}(?:{families})(?!\w)", re.IGNORECASE)


EXPRESSION_RE = expression_regex()


# Every expression contains one of these (matched on lower-cased text): the full patterns only run in a
# window around them, which is most of the speed on long articles where dates are sparse.
TRIGGER_RE = re.compile(
    # The look-ahead (every trigger's first character) spares the alternation at most positions.
    r"(?=[0-9'’acdefhjlmnopqrstwy])(?:year|month|week|day|hour|minute|decade|centur|quarter|qtr|half|annum|annual|noon|night|now|period"
    # ISO and numeric dates with any year ("2105-03-04"): the property tests found them missed
    r"|(?<![a-z])(?:\d{4}-\d\d-\d\d|\d{1,2}([/.])\d{1,2}\1\d{4}"
    r"|(?:1[5-9]|20)\d\d|\d{1,2}[:.][0-5]\d|\d{1,2}\s*[ap]\.?m\b|['’]\d\d(?!\d)|[012]\d[0-5]\d\s+[a-z]{2,4}\b"
    r"|\d{1,2}(?:st|nd|rd|th)\b|(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|(?:mon|tues|wednes|thurs|fri|satur|sun)days?)\b"
    r"|seconds?\b|daily|morning|evening|tomorrow|current|present|recent|lately|past|future|moment|spring|summer"
    r"|autumn|fall|winter|nineteen|two\s+thousand|christmas|thanksgiving|halloween|easter))"
)
WINDOW_BEFORE = 40
_WINDOW_AFTER = 30


def _windows(text: str) -> list[tuple[int, int]]:
    """Merged (start, end) stretches of ``text`` around trigger words, where expressions can be."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters change length when lower-cased: scan everything
        return [(0, len(text))]
    windows: list[tuple[int, int]] = []
    for trigger in TRIGGER_RE.finditer(lowered):
        start = max(0, trigger.start() - WINDOW_BEFORE)
        end = min(len(text), trigger.end() + _WINDOW_AFTER)
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, end))
    return windows


def candidate_matches(text: str) -> list[re.Match[str]]:
    """What one ``EXPRESSION_RE.finditer`` over the whole text finds, searched only near triggers."""
    matches: list[re.Match[str]] = []
    last_end = 0
    for window_start, window_end in _windows(text):
        for m in EXPRESSION_RE.finditer(text, max(window_start, last_end), window_end):
            if m.end() == window_end < len(text):  # it may go on past the window
                m = EXPRESSION_RE.match(text, m.start()) or m
            if m.start() < last_end:
                continue
            matches.append(m)
            last_end = m.end()
    return matches
