"""The words dates are written with (months, weekdays, numbers, units) and the regex fragments built from them."""

from __future__ import annotations

from collections.abc import Sequence

MONTH_NUMBER = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
    "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
}  # fmt: skip
WEEKDAY_NUMBER = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
}  # fmt: skip
NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
}  # fmt: skip
VAGUE_QUANTITIES = ("a few", "few", "several", "some", "many", "a couple of", "a number of")
PART_OF_DAY_CODE = {"morning": "MO", "afternoon": "AF", "evening": "EV", "night": "NI"}
TIME_ZONES = "GMT|UTC|EST|EDT|CST|CDT|MST|MDT|PST|PDT|BST|CET|CEST|JST|HKT|SGT|AEST|AEDT|MSK|ET|PT|CT|MT"


def _cased(words: Sequence[str]) -> str:
    """Alternation of Title-case and UPPER-case forms: month and weekday names must be capitalised."""
    forms = []
    for word in sorted(words, key=len, reverse=True):
        forms += [word.capitalize(), word.upper()]
    return "(?-i:" + "|".join(forms) + ")"


_FULL_MONTHS = [m for m in MONTH_NUMBER if len(m) > 4 or m in ("may", "june", "july")]
_ABBREVIATED_MONTHS = [m for m in MONTH_NUMBER if m not in _FULL_MONTHS]
MONTH = _cased(_FULL_MONTHS + [m + r"\.?" for m in _ABBREVIATED_MONTHS])
FULL_MONTH = _cased(_FULL_MONTHS)
WEEKDAY = _cased(list(WEEKDAY_NUMBER))
NUMBER = (
    r"\d{1,3}|(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)[\s-](?:one|two|three|four|five|six|seven|eight|nine)|"
    + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
    + "|"
    + "|".join(q.replace(" ", r"\s+") for q in VAGUE_QUANTITIES)
    + r"|couple\s+of"
)
ONES = "one|two|three|four|five|six|seven|eight|nine"
_TEENS = "ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen"
_TENS = "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
# Years as broadcast transcripts spell them: "nineteen ninety-six", "two thousand (and) one".
SPELLED_YEAR = (
    rf"nineteen[\s-]+(?:(?:{_TENS})(?:[\s-]+(?:{ONES}))?|{_TEENS}|oh[\s-]+(?:{ONES}))"
    rf"|two\s+thousand(?:\s+(?:and\s+)?(?:(?:{_TENS})(?:[\s-]+(?:{ONES}))?|{_TEENS}|{ONES}))?"
)
# "quarters" only in the plural: "a quarter" is as often a fraction ("a quarter of the market").
UNIT_WORDS = r"years?|months?|weeks?|days?|hours?|minutes?|seconds?|decades?|centur(?:y|ies)|quarters"
NOT_AN_AMOUNT = r"(?![.,]\d|\d|\s*(?:pct|percent|%|mln|billion|dlrs|tonnes|barrels|shares|cents))"
OPENING_QUOTES = "\"'“‘`"
