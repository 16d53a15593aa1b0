"""The date stage's speed-up prefilters find exactly what a full scan of the candidate regex finds.

Two prefilters stand between the text and the families' patterns: the first-word trie and per-family
look-aheads derived from each family's first words, and the windows around trigger words. Text is drawn
from strings each family's pattern matches and the words dates are written with, so that it is dense in
expressions and near-expressions.

Digits are ASCII: the prefilters look for 0-9 where the patterns' \\d would also take other scripts' digits
("൫၈"), a difference no news text shows.
"""

import re
from datetime import date

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tasks.dates import extract_dates
from tasks.dates.candidates import EXPRESSION_RE, TRIGGER_RE, WINDOW_BEFORE, candidate_matches, expression_regex
from tasks.dates.families import FAMILIES, FAMILY_BY_NAME

FULL_SCAN = expression_regex(prefilters=False)

FIRST_WORDS = sorted({word for family in FAMILIES for word in family.first_words})
UNITS = [
    "year", "years", "month", "months", "week", "weeks", "day", "days", "quarter", "quarters", "half",
    "decade", "decades", "century", "hours", "minutes", "seconds", "morning", "night", "weekend", "period",
]  # fmt: skip
OTHER_WORDS = [
    "ago", "earlier", "of", "and", "to", "or", "in", "on", "at", "by", "since", "until", "will", "said", "met", "pct",
    "percent", "old", "evening", "Day", "Eve", "Year's", "GMT", "EST", "a.m.", "p.m.", "am", "pm", "hrs", "ended",
    "before", "after", "more", "trading", "fiscal", "1/2", "noon", "Now", "This", "Week", "Today", "dollars",
    "future", "moment", "present", "s", "a", "the", "last", "next", "same", "that",
]  # fmt: skip
NUMBERS = [
    "1998", "2016", "1850", "09", "1999", "00", "12", "3", "31", "0", "20th", "1st", "4th", "3:30", "10.45",
    "1530", "'58", "’09", "'60s", "1990s", "2016-03-15", "03/04/2016", "14.03.2016", "$1998", "1,998",
]  # fmt: skip
SEPARATORS = [" ", " ", " ", " ", " ", ", ", "-", "–", "/", ". ", "\n\n", "", "'s ", ' "', "(", ") "]


def _cased(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, word.capitalize(), word.upper()])


ANY_CHARACTER = st.characters(codec="utf-8", exclude_categories=("Nd",), include_characters="0123456789")
# Strings each family's own pattern matches (its look-arounds aside), set among the other tokens.
FAMILY_STRINGS = st.sampled_from(sorted(FAMILY_BY_NAME)).flatmap(
    lambda name: st.from_regex(
        re.compile(FAMILY_BY_NAME[name].pattern, re.IGNORECASE), fullmatch=True, alphabet=ANY_CHARACTER
    )
)
TOKENS = st.one_of(
    FAMILY_STRINGS,
    FAMILY_STRINGS,
    st.sampled_from(FIRST_WORDS).flatmap(_cased),
    st.sampled_from(UNITS),
    st.sampled_from(OTHER_WORDS),
    st.sampled_from(NUMBERS),
    st.text(alphabet="abcdeimnorstuwy", min_size=1, max_size=6),
)
# Blank runs are cut to two characters, as cleanup leaves them: the windows reach 40 characters before a
# trigger word, which "two  more  trading  days" spread over 50 blanks would not fit in.
DATE_LIKE_TEXT = st.lists(st.tuples(TOKENS, st.sampled_from(SEPARATORS)), max_size=40).map(
    lambda parts: re.sub(r"(\s\s)\s+", r"\1", "".join(token + separator for token, separator in parts))
)


def _found(matches) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.lastgroup) for m in matches]


@settings(max_examples=400, deadline=None)
@given(DATE_LIKE_TEXT)
def test_first_word_trie_and_family_lookaheads_agree_with_a_full_scan(text):
    assert _found(EXPRESSION_RE.finditer(text)) == _found(FULL_SCAN.finditer(text))


def _within_the_windows_reach(text: str) -> bool:
    """True when every expression a full scan finds starts at most WINDOW_BEFORE characters before its
    first trigger word: the windows' documented reach (an expression whose words spread further, "a couple
    of - - - - additional trading years", is not looked for; cleanup collapses runs of blanks)."""
    lowered = text.lower()
    for m in FULL_SCAN.finditer(text):
        trigger = TRIGGER_RE.search(lowered, m.start(), m.end())
        if trigger is not None and trigger.start() - m.start() > WINDOW_BEFORE:
            return False
    return True


@settings(max_examples=400, deadline=None)
@given(DATE_LIKE_TEXT)
def test_trigger_windows_agree_with_a_full_scan(text):
    assume(_within_the_windows_reach(text))
    assert _found(candidate_matches(text)) == _found(FULL_SCAN.finditer(text))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ANY_CHARACTER, max_size=300))
def test_prefilters_agree_with_a_full_scan_on_any_text(text):
    assert _found(candidate_matches(text)) == _found(FULL_SCAN.finditer(text))


def test_windows_agree_on_a_long_article_with_sparse_dates():
    filler = "The committee discussed the proposal at length and no decision was reached. " * 12
    text = filler + "He left late on Monday and will return on February 27, 2016. " + filler + "It rose 5 pct a year."
    assert _found(candidate_matches(text)) == _found(FULL_SCAN.finditer(text))


# One example at least per family: a family added without one fails here.
EXAMPLES = {
    "spelled_year": ["nineteen ninety-six", "the year two thousand"],
    "iso": ["2016-03-15"],
    "numeric": ["14/03/2016"],
    "month_day": ["Tuesday, February 27", "late March 3rd, 2016", "Sept. 9"],
    "day_month": ["27 February 2016", "3rd of March"],
    "month_year": ["June 1998", "mid-May '58"],
    "month": ["next January", "October"],
    "period_edge": ["the end of the month", "beginning of next year"],
    "quarter": ["the third quarter", "1988 second half", "4th qtr 1990", "year-ago first quarter"],
    "set": ["every two years", "each Monday morning", "annually", "per annum", "Tuesday nights"],
    "duration": ["three years", "the past 12 months", "a few days ago", "2 1/2 years", "couple of weeks"],
    "bare_unit": ["decades"],
    "relative": ["tomorrow morning", "last week", "earlier this year", "mid-afternoon yesterday", "morning today"],
    "reference": ["now", "at the moment", "recently", "in the future", "then-current"],
    "same_day": ["later that day", "that same day", "the next morning", "the previous day"],
    "year_end": ["year-end", "the fiscal year's end"],
    "anaphoric": ["the year-ago period", "that year", "year-earlier"],
    "season": ["last summer", "the fall of 1998", "spring"],
    "holiday": ["Christmas Eve", "next Thanksgiving", "New Year's Day"],
    "weekday": ["late on Monday", "next Friday night"],
    "clock": ["10:30 a.m. EST", "15:00 GMT", "0735 GMT", "midnight"],
    "century": ["20th century"],
    "decade": ["the 1990s", "early 1960s", "the '60s"],
    "short_year": ["'58"],
    "year": ["1998", "mid-2016", "fiscal 1990"],
    "year_span_end": ["09"],
}
CONTEXT = {"year_span_end": "2008-"}


def test_every_family_has_examples():
    assert set(EXAMPLES) == {family.name for family in FAMILIES}


@pytest.mark.parametrize("family,example", [(f, e) for f, examples in EXAMPLES.items() for e in examples])
def test_each_family_finds_its_examples_through_the_prefilters(family, example):
    before = CONTEXT.get(family, "In ")
    text = f"{before}{example}."
    matches = [m for m in candidate_matches(text) if m.start() == len(before)]
    assert matches and matches[0].lastgroup == family and matches[0][0] == example


def test_family_first_words_are_lower_case_words_and_types_are_timex3_types():
    for family in FAMILIES:
        assert all(re.fullmatch(r"[a-z]+", word) for word in family.first_words), family.name
        assert set(family.timex_types) <= {"DATE", "TIME", "DURATION", "SET"}, family.name


@settings(max_examples=300, deadline=None)
@given(DATE_LIKE_TEXT, st.one_of(st.none(), st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1))))
def test_each_value_has_a_type_its_family_declares(text, reference):
    expressions = {(e.start, e.end): e for e in extract_dates(text, reference)}
    for m in candidate_matches(text):
        expression = expressions.get((m.start(), m.end()))
        if expression is not None and expression.text == m[0]:
            assert expression.timex_type in FAMILY_BY_NAME[m.lastgroup].timex_types, (m.lastgroup, expression)
