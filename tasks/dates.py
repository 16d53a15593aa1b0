"""Find temporal expressions in news text and normalise them to TimeML TIMEX3 values and date intervals.

Plain functions, no Prefect and no spaCy: NER spans arrive as ``(start, end, label)`` tuples.

Resolution is relative to ``reference_date`` (the document's publication date):

- a bare weekday is read as past (the most recent such weekday on or before the reference date) unless
  the words just before it in its sentence say future ("will", "from", "beginning on", "next" ...), then
  it is the first such weekday on or after the reference date; "last Monday" is strictly before and
  "next Monday" strictly after it;
- a month or month-day without a year takes the occurrence nearest the reference date (within six
  months); "last"/"next" force the past/future occurrence, and the sentence's tense moves it across
  the reference only when the nearest occurrence is more than two months away ("the year ended
  March 31", said in November, is the March before); named holidays (Thanksgiving, Christmas ...)
  are resolved the same way;
  a deadline preposition ("by February", "through January") says future and "since" past;
- "that year", "the following year", "later that day" count from the last date mentioned; "year-end" is
  the end of the reference year ("since year-end": the one before);
- relative words in Title Case inside a sentence are names (ABC's "This Week"), and a sentence-initial
  "Now," is a discourse marker: neither is a date;
- "a year ago/earlier" in an earnings report is the latest reported quarter one year before;
- a clock time followed by its day ("10 p.m. Wednesday") and a month followed by its year
  ("June last year", "January nineteen ninety-seven") are one expression;
- a quarter or half without a year is the most recent one that has started by the reference date;
- without a reference date, relative expressions keep their type and get an X-filled value
  ("XXXX-02-27", "XXXX-WXX-1") with no dates.
- the tense of a sentence is read from cheap cues: modals and plans (will, 'll, would, is to, plans to,
  expected, scheduled), present-tense verbs of schedule ("starts", "go to the polls", "has until"), past
  forms; for a weekday led by a clock time ("will play at 15:00 GMT Saturday") they are read before the
  clock, and a clock time next to a day ("Saturday at 3 p.m.") is on that day; seasons follow the tense as
  months do, and a bare month told in the simple past just before it is the one before;
- durations are told from points ("a month" P1M, "a month ago" 2016-02; "the next decade" P10Y), both
  ends of a range carry a duration ("12 to 18 months": P12M and P18M), each year of a span of years its
  own value ("2008-09"), abbreviated years ("'58") their century from the reference date;
- frequencies are TimeML SETs ("annually" P1Y, "every morning" XXXX-XX-XXTMO, "every two years" P2Y,
  "Tuesday nights" XXXX-WXX-2TNI), and "today" used generically ("than today", "today's computers") is
  PRESENT_REF;
- what cannot be resolved with some confidence keeps its text and type with a null value ("the turn of
  the century", an NER span no pattern explains): a wrong value costs a consumer more than a missing one.

One compiled regex finds all candidates in a single pass; spaCy DATE/TIME spans are merged in afterwards.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import NamedTuple

__all__ = ["TemporalExpression", "extract_dates", "reference_date_from_dateline"]


class TemporalExpression(NamedTuple):
    """One temporal expression: its span, TIMEX3 type and value, and the date interval it denotes."""

    text: str
    start: int
    end: int
    timex_type: str
    value: str | None
    date_start: date | None
    date_end: date | None
    granularity: str | None
    anchor: date | None
    part_of_day: str | None


class _Normalised(NamedTuple):
    timex_type: str
    value: str | None
    date_start: date | None = None
    date_end: date | None = None
    granularity: str | None = None
    anchor: date | None = None
    part_of_day: str | None = None


# ---------------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------------

_MONTH_NUMBER = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
    "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
}  # fmt: skip
_WEEKDAY_NUMBER = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
}  # fmt: skip
_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
}  # fmt: skip
_VAGUE_QUANTITIES = ("a few", "few", "several", "some", "many", "a couple of", "a number of")
_PART_OF_DAY_CODE = {"morning": "MO", "afternoon": "AF", "evening": "EV", "night": "NI"}
_TIME_ZONES = "GMT|UTC|EST|EDT|CST|CDT|MST|MDT|PST|PDT|BST|CET|CEST|JST|HKT|SGT|AEST|AEDT|MSK"


def _cased(words: Sequence[str]) -> str:
    """Alternation of Title-case and UPPER-case forms: month and weekday names must be capitalised."""
    forms = []
    for word in sorted(words, key=len, reverse=True):
        forms += [word.capitalize(), word.upper()]
    return "(?-i:" + "|".join(forms) + ")"


_FULL_MONTHS = [m for m in _MONTH_NUMBER if len(m) > 4 or m in ("may", "june", "july")]
_ABBREVIATED_MONTHS = [m for m in _MONTH_NUMBER if m not in _FULL_MONTHS]
_MONTH = _cased(_FULL_MONTHS + [m + r"\.?" for m in _ABBREVIATED_MONTHS])
_FULL_MONTH = _cased(_FULL_MONTHS)
_WEEKDAY = _cased(list(_WEEKDAY_NUMBER))
_NUMBER = (
    r"\d{1,3}|(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)[\s-](?:one|two|three|four|five|six|seven|eight|nine)|"
    + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
    + "|"
    + "|".join(q.replace(" ", r"\s+") for q in _VAGUE_QUANTITIES)
    + r"|couple\s+of"
)
_ONES = "one|two|three|four|five|six|seven|eight|nine"
_TEENS = "ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen"
_TENS = "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
# Years as broadcast transcripts spell them: "nineteen ninety-six", "two thousand (and) one".
_SPELLED_YEAR = (
    rf"nineteen[\s-]+(?:(?:{_TENS})(?:[\s-]+(?:{_ONES}))?|{_TEENS}|oh[\s-]+(?:{_ONES}))"
    rf"|two\s+thousand(?:\s+(?:and\s+)?(?:(?:{_TENS})(?:[\s-]+(?:{_ONES}))?|{_TEENS}|{_ONES}))?"
)
# "quarters" only in the plural: "a quarter" is as often a fraction ("a quarter of the market").
_UNIT = r"years?|months?|weeks?|days?|hours?|minutes?|seconds?|decades?|centur(?:y|ies)|quarters"
_NOT_AN_AMOUNT = r"(?![.,]\d|\d|\s*(?:pct|percent|%|mln|billion|dlrs|tonnes|barrels|shares|cents))"

# Families are named groups of one alternation; Python's regex takes the first alternative that
# matches at the leftmost position, so longer forms come before their prefixes.
_FAMILIES = {
    "spelled_year": rf"(?=[tTnN])(?:(?P<sy_the>the\s+year)\s+)?(?P<sy>{_SPELLED_YEAR})",
    "iso": r"(?P<iso_y>\d{4})-(?P<iso_m>\d\d)-(?P<iso_d>\d\d)(?![\d-])",
    "numeric": (r"(?<![\d./])(?P<num_a>\d{1,2})(?P<num_sep>[/.])(?P<num_b>\d{1,2})(?P=num_sep)(?P<num_y>\d{4})(?!\d)"),
    "month_day": (
        rf"(?:(?P<md_wd>{_WEEKDAY}),?\s+)?(?:(?P<md_mod>last|next|this|early|late|mid)[\s-]+)?"
        rf"(?P<md_m>{_MONTH})\s+(?P<md_d>[0-3]?\d)(?:st|nd|rd|th)?{_NOT_AN_AMOUNT}(?:,?\s+(?P<md_y>\d{{4}})(?!\d))?"
    ),
    "day_month": (
        rf"(?<![\d.,])(?P<dm_d>[0-3]?\d)(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<dm_m>{_MONTH})"
        rf"(?:,?\s+(?P<dm_y>\d{{4}})(?!\d))?"
    ),
    "month_year": rf"(?:(?P<my_mod>early|late|mid|end)[\s-]+)?(?P<my_m>{_MONTH}),?\s+(?P<my_y>\d{{4}}|['’]\d\d)(?!\d)",
    "month": rf"(?:(?P<mo_mod>last|next|this|early|late|mid|end)[\s-]+)?(?P<mo_m>{_FULL_MONTH})",
    # "the end of the month", "by the beginning of next year": that period, with its part
    "period_edge": (
        r"(?:the\s+)?(?P<pe_part>end|beginning|start|middle)\s+of\s+(?P<pe_det>the|this|next|last)\s+"
        r"(?P<pe_unit>week|month|year|quarter|decade|century)(?![\w-])"
    ),
    "quarter": (
        r"(?:the\s+)?(?:(?:comparable|corresponding)\s+)?(?:(?P<q_rel>year-ago|year-earlier|(?:last|next|this)\s+year's)\s+)?"
        r"(?:(?P<q_y1>(?:19|20)\d\d)\s+)?(?P<q_ord>first|second|third|fourth|final|1st|2nd|3rd|4th|last(?=[\s-]+(?:quarter|half)\s+of\s+(?:19|20)\d\d))"
        r"[\s-]+(?P<q_kind>quarter|qtr|half)(?:\s+(?:of\s+)?(?P<q_y2>(?:19|20)\d\d)(?!\d))?"
    ),
    "set": (
        rf"(?:every|each)\s+(?P<set_n>\d{{1,3}}|{_ONES}|ten|eleven|twelve|fifteen|twenty|thirty|other)\s+"
        r"(?P<set_nu>years?|months?|weeks?|days?|hours?|minutes?)"
        rf"|(?:every|each)\s+(?P<set_every>{_WEEKDAY}|{_FULL_MONTH}|day|week|month|year|quarter|morning|afternoon|evening|night)"
        r"(?:\s+(?P<set_every_pod>morning|afternoon|evening|night)(?![\w-]))?"
        r"|(?P<set_adv>daily|weekly|monthly|quarterly|annually|yearly|hourly|nightly)"
        r"|per\s+(?P<set_per>annum|year|month|week|day|hour)"
        rf"|(?:on\s+)?(?P<set_wd>{_WEEKDAY})(?:(?-i:s)(?:\s+(?P<set_wd_pod>morning|afternoon|evening|night)s?)?"
        r"|\s+(?P<set_wd_pods>morning|afternoon|evening|night)s)"
    ),
    "duration": (
        rf"(?:(?P<du_the>the\s+)?(?P<du_rel>past|last|previous|next|coming|first|final)\s+)?"
        rf"(?P<du_n>{_NUMBER})(?P<du_half>\s+1/2|\s+and\s+a\s+half)?[\s-]+(?:(?:more|additional|further|straight|consecutive)\s+)?(?:(?:trading|business|working)\s+)?(?P<du_u>{_UNIT})"
        # "a year-earlier loss": the unit belongs to "year-earlier" (anaphoric), not to a duration
        r"(?P<du_and_half>\s+and\s+a\s+half)?(?:\s+(?P<du_ago>ago|earlier))?(?!-(?:earlier|ago)\b)"
    ),
    "bare_unit": r"(?P<bare_u>years|months|weeks|days|decades|centuries)",
    "relative": (
        r"(?P<rel_day>today|tonight|tomorrow|yesterday)(?:\s+(?P<rel_day_pod>morning|afternoon|evening|night))?"
        r"|(?P<rel_mod>(?:the\s+)?(?:past|previous|current|last|next|coming)|this\s+past|this|"
        r"(?:earlier|later|early|late)\s+(?:this|last|next))"
        r"\s+(?P<rel_unit>morning|afternoon|evening|night|weekend|week|month|year|quarter|decade|century)"
    ),
    "reference": (
        r"(?P<ref_present>now|currently|at\s+present|presently|nowadays|at\s+the\s+moment|these\s+days"
        # "current" before a noun ("current market conditions"); the units and "account" make other expressions.
        r"|current(?=\s+[a-z])(?!\s+(?:fiscal\s+|calendar\s+)?(?:year|quarter|period|month|week|half|account)))"
        r"|(?P<ref_then>then[\s-]+current)"
        # "in recent weeks" is a stretch of some weeks up to now (a duration); "recent years" an era.
        r"|(?P<ref_span>recent\s+(?P<ref_span_u>months|weeks))"
        r"|(?P<ref_past>recently|lately|(?:recent|past)\s+(?:years|months|weeks|decades)"
        r"|in\s+the\s+past(?!\s+(?:\d|(?:[a-z]+\s+)?(?:years?|months?|weeks?|days?|decades?|quarters?)\b)))"
        r"|(?P<ref_future>(?:in\s+)?the\s+future|in\s+future)"
    ),
    "same_day": r"(?:earlier|later)\s+(?:in\s+)?(?:that|the)\s+day|(?:that|the)\s+same\s+day",
    "year_end": r"(?:the\s+)?(?:(?:fiscal|calendar)\s+)?(?P<ye>year(?:'s)?[\s-]+end)(?![\w-])",
    "anaphoric": (
        r"(?P<an_det>the|that)\s+(?:(?:comparable|corresponding)\s+)?(?:(?P<an_year>(?:19|20)\d\d)\s+)?"
        r"(?:(?P<an_mod>latest|most\s+recent|current|year-ago|year-earlier|comparable|same|"
        r"full|following|previous|prior)\s+)?(?:fiscal\s+)?(?P<an_unit>quarter|period|year|month|weekend)(?![\w-])"
        r"|(?P<an_bare>year-earlier|year-ago)"
    ),
    "season": (
        r"(?:(?P<se_mod>this|last|next|early|late|(?:the\s+)?(?:early|late|coming|past)|the)\s+)?"
        rf"(?P<se>spring|summer|autumn|fall|winter)(?:\s+of\s+(?P<se_y>(?:19|20)\d\d(?!\d)|['’]\d\d(?!\d)|{_SPELLED_YEAR}))?"
    ),
    "holiday": (
        r"(?:(?P<ho_mod>last|next|this)\s+)?(?-i:(?P<ho>Christmas(?:\s+(?:Day|Eve))?|New\s+Year's\s+(?:Day|Eve)"
        r"|Thanksgiving(?:\s+Day)?|Halloween|Valentine's\s+Day|Independence\s+Day|Labor\s+Day|Memorial\s+Day"
        r"|Election\s+Day|Easter(?:\s+Sunday)?))"
    ),
    "weekday": (
        rf"(?:(?P<wd_mod>last|next|this|coming|past)\s+)?(?:(?P<wd_pod1>late|early)\s+(?:on\s+)?)?"
        rf"(?P<wd>{_WEEKDAY})(?:\s+(?P<wd_pod2>morning|afternoon|evening|night))?"
    ),
    "clock": (
        r"(?<![\d:.,])(?P<ck_h>[01]?\d)(?:[:.](?P<ck_m>[0-5]\d))?\s*(?P<ck_ampm>[ap]\.?m\b\.?)"
        rf"(?:\s*(?-i:{_TIME_ZONES})\b)?"
        rf"|(?<![\d:.,])(?P<ck_h2>[012]?\d):(?P<ck_m2>[0-5]\d)(?!\d)(?:\s*(?P<ck_tz>{_TIME_ZONES})\b)?"
        rf"|(?<![\d:.,])(?P<ck_hhmm>[012]\d[0-5]\d)\s+(?P<ck_tz2>(?-i:{_TIME_ZONES}|hrs))\b"
        r"|(?P<ck_word>noon|midday|midnight)"
    ),
    "century": r"(?P<ce_n>[12]?\d)(?:st|nd|rd|th)[\s-]+century",
    "decade": (
        r"(?:the\s+)?(?:(?P<dc_mod>early|late|mid)[\s-]+)?(?P<dc>(?:1[5-9]|20)\d0)'?s"
        r"|(?:the\s+)?'(?P<dc2>\d0)s"
    ),
    # "'58", "’09": an abbreviated year (not "'60s", a decade, nor a quoted number: "'58 percent'").
    "short_year": r"['’](?P<yy>\d\d)(?![\d'’%]|\w|\s*(?:percent|pct)\b)",
    "year": (
        # Years before 1900 only after "in"/"since" ("in 1898"): otherwise they are as often amounts.
        rf"(?<![$£€\d.,/-])(?:(?P<yr_mod>early|late|mid|fiscal)[\s-]+)?"
        rf"(?P<yr>(?:19|20)\d\d|(?:(?<=\bin\s)|(?<=\bsince\s))1[5-8]\d\d)"
        # "2008-09", "1998/1999": a span of two years (or a season): each year is its own expression
        rf"(?:(?=[-–/](?:(?:19|20)\d\d|\d\d)(?![\d/-]|[.,]\d))|(?![/-]\d|\.\d)){_NOT_AN_AMOUNT}"
    ),
    # The second year of such a span: "09" of "2008-09" is 2009.
    "year_span_end": r"(?<=(?:19|20)\d\d[-–/])(?P<yse>(?:19|20)\d\d|\d\d)(?![\d/-]|[.,]\d)",
}
# No family starts with b, g, k, u, x or z (nor _): words starting so are skipped before any family is tried.
_FIRST_CHARACTERS = r"\dac-fh-tvwy'"


def _family_head(name: str) -> str:
    first = _FAMILY_FIRST_CHARACTERS.get(name)
    return f"(?=[{first}])" if first else ""


# The characters each family can start with (case-insensitive): a look-ahead on them lets the engine
# give up on a family after one check. Keep them in step with the families (tests cover every family).
_FAMILY_FIRST_CHARACTERS = {
    "period_edge": "tebsm",
    "iso": "0-9",
    "numeric": "0-9",
    "set": "edwmqayhnpotfs",
    "bare_unit": "ymwdc",
    "quarter": "tcylnfs0-9",
    "season": "tlnecpsafw",
    "holiday": "lntchvime",
    "weekday": "lntcpemwfs",
    "clock": "0-9nm",
    "decade": "telm0-9'",
    "reference": "ncaprlit",
    "year": "elmf0-9",
    "short_year": "'’",
    "year_span_end": "0-9",
    "same_day": "elt",
    "year_end": "tfcy",
    "anaphoric": "ty",
    "relative": "typclne",
}
# Every expression starts with a digit, an apostrophe or one of these words (or a longer word they begin).
_FIRST_WORDS = (
    "a an at in on per each every the that this these then last next coming past previous current currently "
    "recent recently lately presently nowadays now future early late mid end earlier later first second third "
    "fourth final comparable corresponding fiscal calendar year years months weeks days decades centuries "
    "today tonight tomorrow yesterday noon midnight daily weekly monthly quarterly annually yearly hourly "
    "nightly few several some many couple hundred one two three four five six seven eight nine ten eleven twelve "
    "thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy "
    "eighty ninety spring summer autumn fall winter christmas new thanksgiving halloween valentine independence "
    "labor memorial election easter beginning start middle"
).split()


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


_FIRST_WORD_RE = _word_trie(_FIRST_WORDS + [month.lower() for month in _MONTH_NUMBER] + list(_WEEKDAY_NUMBER))
_EXPRESSION_RE = re.compile(
    # The look-aheads let the engine skip positions inside words and words no expression starts with
    # (most of them) before trying every family.
    rf"(?<![\w'’])(?=[\d'’]|(?-i:{_FIRST_WORD_RE}))(?:"
    + "|".join(f"(?P<{name}>{_family_head(name)}{body})" for name, body in _FAMILIES.items())
    + r")(?!\w)",
    re.IGNORECASE,
)

# Words that decide whether a bare weekday lies in the past or the future (left context, same sentence).
_FUTURE_JUST_BEFORE_RE = re.compile(
    r"\b(?:from|starting|beginning|begins?|next|effective|payable|ahead\s+of|as\s+(?:soon|early)\s+as|set\s+to\s+\w+)"
    r"\s+(?:on\s+)?$",
    re.IGNORECASE,
)
# Irregular past forms news reporting uses most ("the king met Monday"); regular ones end in -ed.
_IRREGULAR_PAST = (
    "met|told|gave|took|made|came|went|left|held|began|sent|spoke|broke|rose|fell|won|lost|led|saw|found|kept|"
    "paid|sold|bought|brought|thought|became|ran|struck|shot|flew|wrote|chose|drove|got|knew|grew|hung|heard|"
    "meant|stood|sought|fought|caught|taught|felt|ate|fled|forgot|hid|lay|rode|rang|sang|sank|slid|spent|"
    "stole|swore|threw|understood|withdrew|woke|wore|bore|beat|drew|overtook|undertook|built|lent|dealt"
)
_TENSE_CUE_RE = re.compile(
    r"\b(?:(?P<future>will|would|shall|'ll|going\s+to|to\s+be\s+held|scheduled|due|expected|plans?\s+to|"
    r"planning|planned\s+(?:for|to|an?)\b|is\s+to|are\s+to|"
    # A present-tense verb of schedule says the time is still ahead: "the tournament starts on Saturday",
    # "voters go to the polls Sunday", "Cyprus has until Monday".
    r"(?:starts|begins|opens|resumes|ends|expires|kicks\s+off|takes\s+place|meets|faces|plays|visits|arrives|"
    r"leaves|travels|heads|returns|launches|go(?:es)?\s+to\s+the\s+polls|"
    r"(?:has|have)\s+until|(?:meet|vote|resume|begin)(?=\s+(?:on\s+)?(?:(?-i:[A-Z])|$))))|(?P<past>said|says|was|were|had|did|ago|last)|(?P<past_form>"
    + _IRREGULAR_PAST
    + r"|(?!(?:need|speed|hundred|united|indeed|proceed|exceed|succeed|embed)\b)[a-z]{2,}ed))\b",
    re.IGNORECASE,
)
_PAST_JUST_BEFORE_RE = re.compile(r"\bsince\s+(?:shortly\s+)?(?:(?:after|before)\s+)?(?:the\s+)?$", re.IGNORECASE)
# "a still unspecified date", "the planned merger": a participle used as an adjective says nothing of the tense.
_DETERMINER_BEFORE_RE = re.compile(
    r"\b(?:a|an|the|its|their|his|her|our|this|that|these|those)\s+(?:[a-z]+ly\s+|still\s+)?$", re.IGNORECASE
)
_PLUPERFECT_BEFORE_RE = re.compile(r"\bhad\s+(?:been\s+)?$", re.IGNORECASE)
_PASSIVE_BETWEEN_RE = re.compile(
    r"(?:\s+(?:be|been|being|have|has|not|to|still|also|then|now|probably|likely|get|getting|start|starting|begin"
    r"|keep|continue|up))*\s+",
    re.IGNORECASE,
)
# A full stop after "a.m.", a title or a month abbreviation ("Nov. 9") does not end the sentence.
_SENTENCE_END_RE = re.compile(
    r"(?<!\b[ap]\.m)(?<!\b(?:Mr|Ms|Dr|St|Jr|Sr|Lt))(?<!\b(?:Mrs|Gen|Gov|Sen|Rep|Col|U\.S|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec))"
    r"(?<!\bSept)(?<!\bvs)(?<!\bv)[.!?][\"'”’)]*\s|\n\s*\n"
)
_CONTEXT_CHARS = 160


# ---------------------------------------------------------------------------------------------------
# Calendar helpers
# ---------------------------------------------------------------------------------------------------


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _day(day: date, anchor: date | None, part_of_day: str | None = None) -> _Normalised:
    return _Normalised("DATE", day.isoformat(), day, day, "day", anchor, part_of_day)


def _week(day: date, anchor: date | None) -> _Normalised:
    iso_year, iso_week, _ = day.isocalendar()
    monday = day - timedelta(days=day.weekday())
    return _Normalised("DATE", f"{iso_year}-W{iso_week:02d}", monday, monday + timedelta(days=6), "week", anchor)


def _weekend(day: date, anchor: date | None) -> _Normalised:
    week = _week(day, anchor)
    saturday = week.date_start + timedelta(days=5)
    return week._replace(value=f"{week.value}-WE", date_start=saturday)


def _month(year: int, month: int, anchor: date | None, part: str | None = None) -> _Normalised:
    return _Normalised(
        "DATE", f"{year}-{month:02d}", date(year, month, 1), _month_end(year, month), "month", anchor, part
    )


def _months(year: int, first_month: int, n_months: int, value: str, granularity: str, anchor: date | None):
    """A run of whole months of one year (a quarter, a half) as a DATE interval."""
    interval = date(year, first_month, 1), _month_end(year, first_month + n_months - 1)
    return _Normalised("DATE", value, *interval, granularity, anchor)


def _quarter(year: int, quarter: int, anchor: date | None) -> _Normalised:
    return _months(year, 3 * (quarter - 1) + 1, 3, f"{year}-Q{quarter}", "quarter", anchor)


def _half(year: int, half: int, anchor: date | None) -> _Normalised:
    return _months(year, 6 * (half - 1) + 1, 6, f"{year}-H{half}", "half", anchor)


def _year(year: int, anchor: date | None, part: str | None = None) -> _Normalised:
    return _Normalised("DATE", str(year), date(year, 1, 1), date(year, 12, 31), "year", anchor, part)


def _shifted_period(unit: str, ref: date, step: int, part: str | None) -> _Normalised | None:
    """The week, month, year or quarter `step` of them from the reference's (None for other units)."""
    if unit == "week":
        return _week(ref + timedelta(weeks=step), ref)._replace(part_of_day=part)
    if unit == "month":
        return _month(*_add_months(ref.year, ref.month, step), ref, part)
    if unit == "year":
        return _year(ref.year + step, ref, part)
    if unit == "quarter":
        year, month = _add_months(ref.year, ref.month, 3 * step)
        return _quarter(year, (month - 1) // 3 + 1, ref)._replace(part_of_day=part)
    return None


def _unresolved(value: str, part: str | None = None, timex_type: str = "DATE") -> _Normalised:
    return _Normalised(timex_type, value, part_of_day=part)


def _nearest_year(reference: date, month: int, day: int, direction: str | None) -> int:
    """Year putting month/day nearest the reference (past/future only when the text says so)."""
    candidates = []
    for year in (reference.year - 1, reference.year, reference.year + 1):
        candidate = _safe_date(year, month, min(day, calendar.monthrange(year, month)[1]))
        if candidate is None:
            continue
        if direction == "past" and candidate >= reference:
            continue
        if direction == "future" and candidate <= reference:
            continue
        # Ties go to the past: news mostly reports what happened.
        candidates.append((abs((candidate - reference).days), candidate > reference, year))
    return min(candidates)[2]


def _direction(modifier: str | None) -> str | None:
    if modifier is None:
        return None
    modifier = modifier.lower()
    return {"last": "past", "past": "past", "next": "future", "coming": "future"}.get(modifier)


def _part(modifier: str | None) -> str | None:
    if modifier is None:
        return None
    modifier = modifier.lower()
    return modifier if modifier in ("early", "late", "mid", "end") else None


def _number(text: str) -> int | None:
    """Integer value of a quantity word or numeral; None for vague quantities ("several")."""
    text = re.sub(r"\s+", " ", text.lower())
    if text.isdigit():
        return int(text)
    if text in _NUMBER_WORDS:
        return _NUMBER_WORDS[text]
    if text in ("a couple of", "couple of"):
        return 2
    parts = re.split(r"[\s-]", text)
    if len(parts) == 2 and parts[0] in _NUMBER_WORDS and parts[1] in _NUMBER_WORDS:
        return _NUMBER_WORDS[parts[0]] + _NUMBER_WORDS[parts[1]]
    return None


_UNIT_CODE = {
    "year": ("P", "Y"),
    "month": ("P", "M"),
    "week": ("P", "W"),
    "day": ("P", "D"),
    "hour": ("PT", "H"),
    "minute": ("PT", "M"),
    "second": ("PT", "S"),
    "decade": ("P", "DE"),
    "century": ("P", "CE"),
    "quarter": ("P", "Q"),
}


def _unit(text: str) -> str:
    text = text.lower()
    return "century" if text.startswith("centur") else text.rstrip("s")


# ---------------------------------------------------------------------------------------------------
# Per-family normalisers: (match, text, reference_date) -> _Normalised | None (None: not temporal)
# ---------------------------------------------------------------------------------------------------


def _two_digit_year(digits: str, ref: date | None) -> int:
    """The year of "'58" or "’09": in this century unless that lies more than ten years after the reference."""
    short = int(digits)
    this_century = (ref.year // 100 * 100 if ref else 2000) + short
    return this_century if this_century <= (ref.year if ref else 2000) + 10 else this_century - 100


def _year_number(text: str, ref: date | None = None) -> int:
    """The year of "1994", "'94", "nineteen ninety-four" or "two thousand and one"."""
    if text.isdigit():
        return int(text)
    if text[0] in "'’":
        return _two_digit_year(text[1:], ref)
    words = [w for w in re.split(r"[\s-]+", text.lower()) if w not in ("and", "oh")]
    if words[:2] == ["two", "thousand"]:
        return 2000 + sum(_NUMBER_WORDS[w] for w in words[2:])
    return 1900 + sum(_NUMBER_WORDS[w] for w in words[1:])


def _norm_spelled_year(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    year = _year_number(m["sy"])
    if not m["sy_the"] and year >= 2000 and not _YEAR_CUE_BEFORE_RE.search(text, max(0, m.start() - 8), m.start()):
        return None  # "two thousand patients"
    return _year(year, None)


_YEAR_CUE_BEFORE_RE = re.compile(r"\b(?:in|since|by|until|of)\s+$", re.IGNORECASE)


def _norm_iso(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    day = _safe_date(int(m["iso_y"]), int(m["iso_m"]), int(m["iso_d"]))
    return _day(day, None) if day else None


def _norm_numeric(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    a, b, year = int(m["num_a"]), int(m["num_b"]), int(m["num_y"])
    if a > 12 >= b:
        day = _safe_date(year, b, a)
    elif b > 12 >= a or a == b:
        day = _safe_date(year, a, b)
    else:  # 03/04/2016: day-first or month-first cannot be told apart
        return None
    return _day(day, None) if day else None


_TENSE_OVERRIDE_DAYS = 60
_TENSE_OVERRIDE_MONTHS = 2


def _norm_month_day(month_text: str, day_text: str, year_text: str | None, modifier: str | None,
                    ref: date | None, tense: Callable[[], str | None]) -> _Normalised | None:  # fmt: skip
    """The day of a month-day, the year from the text or, without one, the occurrence nearest ``ref``.

    ``tense`` (computed only when needed) moves an occurrence months away to the other side of ``ref``.
    """
    month = _MONTH_NUMBER[month_text.rstrip(".").lower()]
    day_number = int(day_text)
    if not 1 <= day_number <= 31:
        return None
    part = _part(modifier)
    if year_text:
        day = _safe_date(int(year_text), month, day_number)
        return _day(day, None, part) if day else None
    if ref is None:
        return _unresolved(f"XXXX-{month:02d}-{day_number:02d}", part) if day_number <= 31 else None
    year = _nearest_year(ref, month, day_number, _direction(modifier))
    nearest = _safe_date(year, month, day_number)
    # Tense only overrides the nearest occurrence when that is months away ("the year ended March 31"
    # in November): a week or two either side is more often right than the tense guess.
    if modifier is None and nearest is not None and abs((nearest - ref).days) > _TENSE_OVERRIDE_DAYS:
        said = tense()
        if (said == "past" and nearest > ref) or (said == "future" and nearest < ref):
            year = _nearest_year(ref, month, day_number, said)
    # (A past verb just before is not enough to move a month-day near the reference to the year before, as it
    # is for a bare month: "extended to Nov. 20", "payable Dec. 7" are dates still ahead. Tried: lower on both.)
    day = _safe_date(year, month, day_number)
    return _day(day, ref, part) if day else None


def _norm_md(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    return _norm_month_day(
        m["md_m"], m["md_d"], m["md_y"], m["md_mod"], ref, lambda: _calendar_tense(text, m.start(), m.end())
    )


def _norm_dm(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    return _norm_month_day(
        m["dm_m"], m["dm_d"], m["dm_y"], None, ref, lambda: _calendar_tense(text, m.start(), m.end())
    )


def _norm_month_year(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    year_text = m["my_y"]
    anchor = ref if year_text[0] in "'’" else None  # "June '58" depends on the century of the reference
    return _month(
        _year_number(year_text, ref), _MONTH_NUMBER[m["my_m"].rstrip(".").lower()], anchor, _part(m["my_mod"])
    )


_MAY_MARCH_CUE_RE = re.compile(
    r"\b(?:in|since|by|until|till|from|through|to|during|of|before|after|early|late|mid|end|last|next|this|"
    r"and|or)[\s-]+$",
    re.IGNORECASE,
)


def _norm_month(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    month_text = m["mo_m"]
    modifier = m["mo_mod"]
    if month_text.lower() in ("may", "march") and modifier is None:
        # "May" and "March" are also a verb and a modal: only a date after a preposition.
        if not _MAY_MARCH_CUE_RE.search(text, max(0, m.start() - 12), m.start()):
            return None
    month = _MONTH_NUMBER[month_text.lower()]
    part = _part(modifier)
    if ref is None:
        return _unresolved(f"XXXX-{month:02d}", part)
    if modifier and modifier.lower() == "this":
        return _month(ref.year, month, ref, part)
    direction = _direction(modifier)
    if direction is None:
        if month == ref.month:
            return _month(ref.year, month, ref, part)  # "in March", said in March: this month
        # The nearest such month; the tense moves it across the reference only when that is months away
        # ("in January", said in late October, is next January even in "said it would ... in January").
        ahead = (month - ref.month) % 12
        direction = "future" if ahead <= 6 else "past"
        if min(ahead, 12 - ahead) > _TENSE_OVERRIDE_MONTHS:
            direction = _calendar_tense(text, m.start(), m.end()) or direction
        elif direction == "future" and _told_in_the_past(text, m.start()):
            direction = "past"
    year = ref.year
    if direction == "past" and (year, month) >= (ref.year, ref.month):
        year -= 1
    if direction == "future" and (year, month) <= (ref.year, ref.month):
        year += 1
    return _month(year, month, ref, part)


_ORDINAL = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}


def _norm_quarter(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    is_half = m["q_kind"].lower() == "half"
    ordinal = m["q_ord"].lower()
    number = (2 if is_half else 4) if ordinal in ("final", "last") else _ORDINAL[ordinal]
    if is_half and number > 2:
        return None
    year_text = m["q_y1"] or m["q_y2"]
    build = _half if is_half else _quarter
    if year_text:
        return build(int(year_text), number, None)
    if ref is None:
        return _unresolved(f"XXXX-{'H' if is_half else 'Q'}{number}")
    relation = re.sub(r"\s+", " ", (m["q_rel"] or "").lower())
    if relation.endswith("year's"):  # "last year's third quarter"
        return build(ref.year + {"last": -1, "next": 1}.get(relation.split()[0], 0), number, ref)
    period = build(ref.year, number, ref)
    if period.date_start > ref:  # "fourth quarter" in February means last year's
        period = build(ref.year - 1, number, ref)
    if relation:  # "the year-ago third quarter": the same quarter one year before
        period = build(period.date_start.year - 1, number, ref)
    return period


_SET_VALUE = {
    "day": "P1D", "daily": "P1D", "week": "P1W", "weekly": "P1W", "month": "P1M", "monthly": "P1M",
    "year": "P1Y", "annually": "P1Y", "yearly": "P1Y", "annum": "P1Y", "quarter": "P3M",
    "quarterly": "P3M", "hourly": "PT1H", "hour": "PT1H", "nightly": "XXXX-XX-XXTNI",
    "night": "XXXX-XX-XXTNI", "morning": "XXXX-XX-XXTMO", "afternoon": "XXXX-XX-XXTAF", "evening": "XXXX-XX-XXTEV",
}  # fmt: skip


_ADJECTIVE_USE_RE = re.compile(
    r"\s+(?!(?:to|in|on|at|and|or|by|for|from|since|until|through|basis|is|are|was|were|will|with|as)\b)[a-z]"
)


def _norm_set(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    """TimeML SET values: "every morning" XXXX-XX-XXTMO, "every two years" P2Y, "Tuesday nights" XXXX-WXX-2TNI."""
    if m["set_nu"]:
        count = 2 if m["set_n"].lower() == "other" else _number(m["set_n"])
        if not count:
            return None
        prefix, suffix = _UNIT_CODE[_unit(m["set_nu"])]
        return _Normalised("SET", f"{prefix}{count}{suffix}")
    word = (m["set_every"] or m["set_adv"] or m["set_per"] or m["set_wd"]).lower()
    pod = m["set_every_pod"] or m["set_wd_pod"] or m["set_wd_pods"]
    if word in _WEEKDAY_NUMBER and pod:  # "Tuesday nights", "every Monday morning"
        return _Normalised("SET", f"XXXX-WXX-{_WEEKDAY_NUMBER[word] + 1}T{_PART_OF_DAY_CODE[pod.lower()]}")
    if m["set_adv"] and word not in ("daily", "annually", "nightly") and _ADJECTIVE_USE_RE.match(text, m.end()):
        return None  # "quarterly dividend", "weekly report" classify the noun; they are not times
    if word in _WEEKDAY_NUMBER:
        return _Normalised("SET", f"XXXX-WXX-{_WEEKDAY_NUMBER[word] + 1}")
    if word in _MONTH_NUMBER:  # "each July"
        return _Normalised("SET", f"XXXX-{_MONTH_NUMBER[word]:02d}")
    return _Normalised("SET", _SET_VALUE[word])


_RATE_BEFORE_RE = re.compile(
    r"(?:\d|%|pct|percent|dlrs|cents?|tonnes|barrels|bpd|shares|units|times|once|twice)\s*$", re.IGNORECASE
)


# "three quarters of its food" is a fraction; "several quarters of losses", "two quarters of 1990" are not.
_FRACTION_OF_RE = re.compile(
    r"\s+of\s+(?:its|their|his|her|our|all|a|an|this|that|these|those|the(?!\s+(?:fiscal\s+|calendar\s+)?year))\b",
    re.IGNORECASE,
)
_AGE_AFTER_RE = re.compile(r"[\s-]+old\b")  # "a 6-year-old", "52 years old": an age, not a time


# Half of a unit in the next smaller one, written after the whole units ("P2Y6M", "PT5H30M", "PT1M30S").
_HALF_UNIT = {"year": ("6", "M"), "day": ("T12", "H"), "hour": ("30", "M"), "minute": ("30", "S")}


def _norm_duration(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    quantity = m["du_n"].lower()
    unit = _unit(m["du_u"])
    number = _number(quantity)
    if unit == "second" and quantity in ("a", "an", "one"):  # "a second offer"
        return None
    if number == 0 or _AGE_AFTER_RE.match(text, m.end()):
        return None
    if unit == "quarter" and (text[m.start("du_u") - 1] == "-" or _FRACTION_OF_RE.match(text, m.end())):
        return None  # "three-quarters of its food": a fraction
    prefix, suffix = _UNIT_CODE[unit]
    if m["du_ago"]:
        return _ago(number, unit, ref)
    if quantity in ("a", "an") and not m["du_rel"] and _RATE_BEFORE_RE.search(text, max(0, m.start() - 12), m.start()):
        return _Normalised("SET", f"{prefix}1{suffix}")  # "5 pct a year"
    if unit == "decade" and number is not None:
        return _Normalised("DURATION", f"P{10 * number}Y")  # TimeBank writes "two decades" as P20Y
    amount = "X" if number is None else str(number)
    if (m["du_half"] or m["du_and_half"]) and number is not None and unit in _HALF_UNIT:
        half_amount, half_unit = _HALF_UNIT[unit]  # "2 1/2 years": P2Y6M
        return _Normalised("DURATION", f"{prefix}{amount}{suffix}{half_amount}{half_unit}")
    return _Normalised("DURATION", f"{prefix}{amount}{suffix}")


# "in the weeks before the shooting", "days after a sniper killed him": a time anchored on an event, not a
# length; its date is the event's, which the text does not give here (TempEval's AQUAINT annotates these as
# DATE with the event's month). "a matter of days before" is a length all the same.
_EVENT_ANCHOR_AFTER_RE = re.compile(r"\s+(?:before|after|following|leading\s+up\s+to)\s+(?!\d)", re.IGNORECASE)
_LENGTH_OF_BEFORE_RE = re.compile(r"\bof\s+(?:the\s+)?$", re.IGNORECASE)


def _norm_bare_unit(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    if _EVENT_ANCHOR_AFTER_RE.match(text, m.end()) and not _LENGTH_OF_BEFORE_RE.search(
        text, max(0, m.start() - 12), m.start()
    ):
        return _Normalised("DATE", None)
    prefix, suffix = _UNIT_CODE[_unit(m["bare_u"])]
    return _Normalised("DURATION", f"{prefix}X{suffix}")


def _ago(number: int | None, unit: str, ref: date | None) -> _Normalised:
    """ "three years ago": the period that far before the reference date, at the unit's granularity."""
    placeholder = {"year": "XXXX", "month": "XXXX-XX", "week": "XXXX-WXX", "decade": "XXX", "century": "XX"}
    if ref is None or number is None:
        return _Normalised("DATE", "PAST_REF" if number is None else placeholder.get(unit, "XXXX-XX-XX"))
    if unit == "year":
        return _year(ref.year - number, ref)
    if unit == "decade":
        return _year(ref.year - 10 * number, ref)._replace(granularity="year")
    if unit == "century":
        return _year(ref.year - 100 * number, ref)
    if unit == "month":
        return _month(*_add_months(ref.year, ref.month, -number), ref)
    if unit == "week":
        return _week(ref - timedelta(weeks=number), ref)
    if unit == "day":
        return _day(ref - timedelta(days=number), ref)
    # hours/minutes ago: still today (or near enough) for date purposes
    return _Normalised("TIME", "PAST_REF", ref, ref, "day", ref)


# "today" meaning these times rather than this day (TimeML: PRESENT_REF): "than today", "the world of today",
# "many of today's personal computers" (a plural, generic noun after "today's", not "today's session").
_GENERIC_TODAY_BEFORE_RE = re.compile(r"\b(?:than|of)\s+$", re.IGNORECASE)
_GENERIC_TODAY_AFTER_RE = re.compile(
    r"['’]s\s+(?:[a-z]+\s+){0,2}?(?!(?:session|trading|meeting|talks|games|matches|results|figures|papers|editions"
    r"|prices|rates|gains|losses|events|news)\b)(?:[a-z]{3,}[^s\W]s\b(?!['’])|(?:children|people|youth|world|society"
    r"|generation|standards)\b)",
)


def _is_generic_today(text: str, m: re.Match[str]) -> bool:
    if _GENERIC_TODAY_AFTER_RE.match(text, m.end()):
        return True
    after = text[m.end() : m.end() + 2]
    ends_phrase = not after or after[0] in '.,;:!?)"”' or after == "''" or after[0] == "\n"
    return ends_phrase and _GENERIC_TODAY_BEFORE_RE.search(text, max(0, m.start() - 6), m.start()) is not None


def _norm_relative(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    if m["rel_day"]:
        word = m["rel_day"].lower()
        if word == "today" and not m["rel_day_pod"] and _is_generic_today(text, m):
            return _Normalised("DATE", "PRESENT_REF", ref, ref, None, ref)
        pod = m["rel_day_pod"].lower() if m["rel_day_pod"] else ("night" if word == "tonight" else None)
        offset = {"today": 0, "tonight": 0, "tomorrow": 1, "yesterday": -1}[word]
        if pod:
            if ref is None:
                return _unresolved(f"XXXX-XX-XXT{_PART_OF_DAY_CODE[pod]}", pod, "TIME")
            day = ref + timedelta(days=offset)
            return _Normalised("TIME", f"{day.isoformat()}T{_PART_OF_DAY_CODE[pod]}", day, day, "day", ref, pod)
        return _day(ref + timedelta(days=offset), ref) if ref else _unresolved("XXXX-XX-XX")

    modifier = re.sub(r"\s+", " ", m["rel_mod"].lower())
    unit = m["rel_unit"].lower()
    if modifier in ("the past", "the previous", "past") and unit not in _PART_OF_DAY_CODE:
        # "the past year": a period up to now, TimeML annotates it as a duration.
        if modifier != "the previous":
            if unit == "decade":
                return _Normalised("DURATION", "P10Y")
            prefix, suffix = _UNIT_CODE.get(unit, ("P", "W"))  # weekend: a week is close enough
            return _Normalised("DURATION", f"{prefix}1{suffix}")
    if modifier in ("the next", "the coming") and unit in ("decade", "century"):
        # "the next decade", "over the last century": a stretch of time from (or up to) now, as "the past decade"
        return _Normalised("DURATION", "P10Y" if unit == "decade" else "P100Y")
    words = modifier.split()
    part = words[0] if words[0] in ("early", "late", "earlier", "later") else None
    if part in ("earlier", "later"):
        part = part[:-2]
    step = {"last": -1, "previous": -1, "next": 1, "coming": 1}.get(words[-1], 0)

    if unit in _PART_OF_DAY_CODE:
        day_offset = -1 if (step == -1 and unit in ("night", "evening")) else 0
        if step == 1 and unit in ("night", "evening", "morning", "afternoon"):
            day_offset = 1 if unit == "morning" else 0
        if ref is None:
            return _unresolved(f"XXXX-XX-XXT{_PART_OF_DAY_CODE[unit]}", unit, "TIME")
        day = ref + timedelta(days=day_offset)
        return _Normalised("TIME", f"{day.isoformat()}T{_PART_OF_DAY_CODE[unit]}", day, day, "day", ref, unit)

    if ref is None:
        placeholder = {"week": "XXXX-WXX", "weekend": "XXXX-WXX-WE", "month": "XXXX-XX", "year": "XXXX",
                       "quarter": "XXXX-QX", "decade": "XXX", "century": "XX"}  # fmt: skip
        return _unresolved(placeholder[unit], part)
    if unit == "weekend":
        return _weekend(ref + timedelta(weeks=step), ref)
    shifted = _shifted_period(unit, ref, step, part)
    if shifted is not None:
        return shifted
    if unit == "decade":
        first = ref.year // 10 * 10 + 10 * step
        return _Normalised("DATE", f"{first // 10}", date(first, 1, 1), date(first + 9, 12, 31), "decade", ref)
    first = ref.year // 100 * 100 + 100 * step
    return _Normalised("DATE", f"{first // 100}", date(first, 1, 1), date(first + 99, 12, 31), "century", ref)


_EDGE_PART = {"end": "end", "beginning": "start", "start": "start", "middle": "mid"}


def _norm_period_edge(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    """ "the end of the month": the reference's month (next/last: the one after/before), with its part."""
    unit, part = m["pe_unit"].lower(), _EDGE_PART[m["pe_part"].lower()]
    step = {"next": 1, "last": -1}.get(m["pe_det"].lower(), 0)
    if ref is None:
        placeholder = {"week": "XXXX-WXX", "month": "XXXX-XX", "year": "XXXX", "quarter": "XXXX-QX"}
        return _unresolved(placeholder.get(unit, "XXXX"), part)
    shifted = _shifted_period(unit, ref, step, part)
    if shifted is not None:
        return shifted
    size = 10 if unit == "decade" else 100
    first = ref.year // size * size + size * step
    value = str(first // size)
    return _Normalised("DATE", value, date(first, 1, 1), date(first + size - 1, 12, 31), unit, ref, part)


def _is_discourse_now(m: re.Match[str], text: str) -> bool:
    """ "Now, he says, ...": a sentence-initial "Now," set off by a comma is a discourse marker, not a time."""
    if m[0].lower() != "now" or not text.startswith(",", m.end()):
        return False
    before = text[max(0, m.start() - 8) : m.start()].rstrip().rstrip(_OPENING_QUOTES).rstrip()
    return not before or before[-1] in ".!?:\n"


def _norm_reference(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    if m["ref_present"] and _is_discourse_now(m, text):
        return None
    if m["ref_present"]:
        return _Normalised("DATE", "PRESENT_REF", ref, ref, None, ref)
    if m["ref_span"]:
        return _Normalised("DURATION", f"PX{_UNIT_CODE[_unit(m['ref_span_u'])][1]}")
    if m["ref_past"] or m["ref_then"]:
        return _Normalised("DATE", "PAST_REF", None, None, None, ref)
    return _Normalised("DATE", "FUTURE_REF", None, None, None, ref)


def _sentence_start(text: str, start: int) -> int:
    """Where the sentence holding ``start`` begins (at most ``_CONTEXT_CHARS`` back)."""
    sentence_start = max(0, start - _CONTEXT_CHARS)
    for boundary in _SENTENCE_END_RE.finditer(text, sentence_start, start):
        sentence_start = boundary.end()
    return sentence_start


def _tense(text: str, start: int, end: int, from_says_future: bool = True) -> str | None:
    """ "future", "past" or None: what the sentence around ``text[start:end]`` says about its time.

    ``from_says_future=False`` reads "from" just before as the start of a range ("from Aug. 26 to Oct. 20").
    """
    sentence_start = _sentence_start(text, start)
    just_before = _FUTURE_JUST_BEFORE_RE.search(text, sentence_start, start)
    if just_before and (from_says_future or not just_before[0].lower().startswith("from")):
        return "future"
    if _PAST_JUST_BEFORE_RE.search(text, sentence_start, start):
        return "past"
    cues = [
        cue
        for cue in _TENSE_CUE_RE.finditer(text, sentence_start, start)
        if cue["past_form"] is None or not _DETERMINER_BEFORE_RE.search(text, max(0, cue.start() - 24), cue.start())
    ]
    if not cues:
        # Nothing before it ("On Tuesday, talks will resume"): the first tense cue after it decides.
        after = _SENTENCE_END_RE.search(text, end, end + _CONTEXT_CHARS)
        cue = _TENSE_CUE_RE.search(text, end, after.start() if after else min(len(text), end + _CONTEXT_CHARS))
        if cue is not None and cue[0].lower().startswith("planned"):
            return "past"  # "On Friday, the government planned to pay": the planning was on Friday
        cues = [cue] if cue else []
    if not cues:
        return None
    last = cues[-1]
    if last["past_form"] is not None and len(cues) > 1 and cues[-2]["future"] is not None:
        if _PASSIVE_BETWEEN_RE.fullmatch(text, cues[-2].end(), last.start()):
            return "future"  # a participle after a modal: "will be named in December"
    if last["future"] is not None and _PLUPERFECT_BEFORE_RE.search(text, max(0, last.start() - 12), last.start()):
        return "past"  # "had been scheduled to expire at midnight Friday": a plan that was
    return "future" if last["future"] is not None else "past"


_NEAR_VERB_CHARS = 60
_PARTICIPLE_AFTER_RE = re.compile(r"\b(?:is|are|was|were|be|been|being|get|gets|got|has|have)\s+$", re.IGNORECASE)
_INFINITIVE_RE = re.compile(r"\bto\s+(?!(?:a|an|the|his|her|its|their|our|this|that|\d)\b)[a-z]+", re.IGNORECASE)


def _told_in_the_past(text: str, start: int) -> bool:
    """Whether a past-tense verb just before ``start`` tells of it ("changed to a calendar year in December").

    An event told in the simple past cannot lie ahead, however near the next such month is. Not when a modal
    or "to" + verb stands between ("agreed to buy it in February": the buying may be ahead) or a reporting
    verb ("said") is all there is.
    """
    window_start = max(_sentence_start(text, start), start - _NEAR_VERB_CHARS)
    cues = list(_TENSE_CUE_RE.finditer(text, window_start, start))
    if not cues or cues[-1]["past_form"] is None or any(c["future"] for c in cues):
        return False
    last = cues[-1]
    if _DETERMINER_BEFORE_RE.search(text, max(0, last.start() - 24), last.start()):
        return False
    if _PARTICIPLE_AFTER_RE.search(text, max(0, last.start() - 12), last.start()):
        return False  # "to be published in early November", "when the case is heard in May": a participle
    if _DEADLINE_BEFORE_RE.search(text, max(0, start - 16), start):
        return False  # "gave them until mid-November"
    return _INFINITIVE_RE.search(text, last.end(), start) is None


# "by February", "through January": a month or a date after a deadline preposition is still to come
# (weekdays are not: "stayed until Thursday" is as common as "until Thursday" ahead).
_DEADLINE_BEFORE_RE = re.compile(r"\b(?:by|through|until|till)\s+(?:early\s+|late\s+|mid-?)?$", re.IGNORECASE)


def _calendar_tense(text: str, start: int, end: int) -> str | None:
    """The tense of a month or month-day: a deadline preposition before it says future, else ``_tense``."""
    if _DEADLINE_BEFORE_RE.search(text, max(0, start - 16), start):
        return "future"
    # "bought from Aug. 26 to Oct. 20": a range of dates, past or future as the rest of the sentence says.
    return _tense(text, start, end, from_says_future=False)


# A clock time just before a weekday ("at 15:00 GMT Saturday", "until 9 a.m. EST Tuesday") belongs to it:
# the tense cues are read before the clock, and a deadline preposition before the clock says future.
_CLOCK_BEFORE_WEEKDAY_RE = re.compile(
    rf"(?:\d{{1,2}}[:.][0-5]\d(?:\s*[ap]\.?m\b\.?)?|\d{{1,2}}\s*[ap]\.?m\b\.?|noon|midnight)"
    rf"(?:\s*(?-i:{_TIME_ZONES})\b)?(?:\s*\(\d{{4}}\s*(?-i:GMT|UTC)\))?,?\s+(?:on\s+)?$",
    re.IGNORECASE,
)
_CLOCK_LEAD_IN_RE = re.compile(r"(?:\b(?:at|by|until|till|before|from)\s+)?(?:(?:about|around|approximately)\s+)?$")


def _weekday_tense(text: str, start: int, end: int) -> str | None:
    """The tense of a weekday, read from before the clock time that leads into it, if any."""
    clock = _CLOCK_BEFORE_WEEKDAY_RE.search(text, max(0, start - 40), start)
    if clock is not None:
        lead_in = _CLOCK_LEAD_IN_RE.search(text, max(0, clock.start() - 24), clock.start())
        start = lead_in.start()
        if lead_in[0][:2].lower() in ("by", "un", "ti", "be"):
            return "future"  # "gave them until 9 a.m. Tuesday": a deadline with an hour lies ahead
    tense = _tense(text, start, end)
    if tense is None and _DEADLINE_BEFORE_RE.search(text, max(0, start - 16), start):
        return "future"  # "until Monday" with nothing saying past
    return tense


def _norm_weekday(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    weekday = _WEEKDAY_NUMBER[m["wd"].lower()]
    modifier = m["wd_mod"].lower() if m["wd_mod"] else None
    pod = (m["wd_pod1"] or m["wd_pod2"] or "").lower() or None
    timex_type = "TIME" if pod in _PART_OF_DAY_CODE else "DATE"
    if ref is None:
        value = f"XXXX-WXX-{weekday + 1}"
        if timex_type == "TIME":
            value += f"T{_PART_OF_DAY_CODE[pod]}"
        return _unresolved(value, pod, timex_type)
    back = (ref.weekday() - weekday) % 7
    if modifier in ("last", "past"):
        day = ref - timedelta(days=back or 7)
    elif modifier in ("next", "coming"):
        day = ref + timedelta(days=(weekday - ref.weekday()) % 7 or 7)
    elif modifier == "this":
        day = ref + timedelta(days=weekday - ref.weekday())
    elif _weekday_tense(text, m.start(), m.end()) == "future":
        day = ref + timedelta(days=(weekday - ref.weekday()) % 7)
    else:
        day = ref - timedelta(days=back)
    value = day.isoformat() + (f"T{_PART_OF_DAY_CODE[pod]}" if timex_type == "TIME" else "")
    return _Normalised(timex_type, value, day, day, "day", ref, pod)


def _norm_clock(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    if m["ck_word"]:
        hour, minute = (24 if m["ck_word"].lower() == "midnight" else 12), 0
    elif m["ck_ampm"]:
        hour, minute = int(m["ck_h"]), int(m["ck_m"] or 0)
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if m["ck_ampm"].lower().startswith("p") else 0)
    elif m["ck_h2"]:
        hour, minute = int(m["ck_h2"]), int(m["ck_m2"])
    else:
        hour, minute = int(m["ck_hhmm"][:2]), int(m["ck_hhmm"][2:])
    if hour > 24:
        return None
    clock = f"T{hour:02d}:{minute:02d}"
    if ref is None:
        return _unresolved(f"XXXX-XX-XX{clock}", timex_type="TIME")
    # A clock time in news is read as on the publication day.
    return _Normalised("TIME", f"{ref.isoformat()}{clock}", ref, ref, "day", ref)


def _norm_decade(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    if m["dc"]:
        first = int(m["dc"])
    else:
        first = _two_digit_year(m["dc2"], ref)  # "the '60s" said in 2013 are the 1960s
    return _Normalised(
        "DATE",
        f"{first // 10}",
        date(first, 1, 1),
        date(first + 9, 12, 31),
        "decade",
        None,
        _part(m["dc_mod"]),
    )


def _norm_century(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    """ "the 20th century": TIMEX3 writes a century as its first two digits ("19")."""
    number = int(m["ce_n"])
    if number == 0:
        return None
    first = (number - 1) * 100
    return _Normalised("DATE", f"{number - 1:02d}", date(max(first, 1), 1, 1), date(first + 99, 12, 31), "century")


def _norm_short_year(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    return _year(_two_digit_year(m["yy"], ref), ref)


def _norm_year_span_end(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    first = int(text[m.start() - 5 : m.start() - 1])
    digits = m["yse"]
    if len(digits) == 4:
        year = int(digits)
    else:
        year = first // 100 * 100 + int(digits)
        if year < first:  # "1999-00"
            year += 100
    return _year(year, None) if 0 < year - first <= 10 else None


def _norm_year(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    modifier = m["yr_mod"]
    return _year(int(m["yr"]), None, _part(modifier))


_SEASONS = {"spring": ("SP", 3), "summer": ("SU", 6), "autumn": ("FA", 9), "fall": ("FA", 9), "winter": ("WI", 12)}


def _season_bounds(year: int, first_month: int) -> tuple[date, date]:
    return date(year, first_month, 1), _month_end(*_add_months(year, first_month, 2))


_SEASON_PREPOSITION_RE = re.compile(r"\b(?:in|during|by|until|till|through|since|over|for)\s+$", re.IGNORECASE)
_FALL_OF_RE = re.compile(r"\s+(?:in|of)\b", re.IGNORECASE)


def _norm_season(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    word = m["se"].lower()
    modifier = re.sub(r"\s+", " ", (m["se_mod"] or "").lower())
    if word == "fall" and not m["se_y"] and modifier not in ("this", "last", "next", "early", "late"):
        # "the fall in prices" is a drop; "in the fall", "by the fall" (not followed by "in"/"of") a season
        in_time = modifier == "the" and _SEASON_PREPOSITION_RE.search(text, max(0, m.start() - 10), m.start())
        if not in_time or _FALL_OF_RE.match(text, m.end()):
            return None
    code, first_month = _SEASONS[word]
    part = next((w for w in ("early", "late") if w in modifier.split()), None)
    if m["se_y"]:
        year, anchor = _year_number(m["se_y"], ref), None
    elif ref is None:
        return _unresolved(f"XXXX-{code}", part)
    else:
        year, anchor = ref.year, ref
        if "last" in modifier or "past" in modifier:
            while _season_bounds(year, first_month)[1] >= ref:  # the last one that is over
                year -= 1
        elif "next" in modifier or "coming" in modifier:
            while _season_bounds(year, first_month)[0] <= ref:
                year += 1
        elif "this" not in modifier:
            # "in the summer" is this year's unless the sentence says it is over (past) or still to come (future)
            start, end = _season_bounds(year, first_month)
            if start > ref or end < ref:
                tense = _calendar_tense(text, m.start(), m.end())
                if tense == "past" and start > ref:
                    year -= 1
                elif tense == "future" and end < ref:
                    year += 1
    start, end = _season_bounds(year, first_month)
    return _Normalised("DATE", f"{year}-{code}", start, end, "season", anchor, part)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th (n < 0: from the end) ``weekday`` of a month."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = _month_end(year, month)
    return last - timedelta(days=(last.weekday() - weekday) % 7 + 7 * (-n - 1))


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian computus)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday_shift = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday_shift) // 451
    month, day = divmod(h + weekday_shift - 7 * m + 114, 31)
    return date(year, month, day + 1)


_HOLIDAYS: dict[str, Callable[[int], date]] = {
    "christmas": lambda y: date(y, 12, 25),
    "christmas day": lambda y: date(y, 12, 25),
    "christmas eve": lambda y: date(y, 12, 24),
    "new year's day": lambda y: date(y, 1, 1),
    "new year's eve": lambda y: date(y, 12, 31),
    "thanksgiving": lambda y: _nth_weekday(y, 11, 3, 4),  # US: fourth Thursday of November
    "thanksgiving day": lambda y: _nth_weekday(y, 11, 3, 4),
    "halloween": lambda y: date(y, 10, 31),
    "valentine's day": lambda y: date(y, 2, 14),
    "independence day": lambda y: date(y, 7, 4),
    "labor day": lambda y: _nth_weekday(y, 9, 0, 1),
    "memorial day": lambda y: _nth_weekday(y, 5, 0, -1),
    "election day": lambda y: _nth_weekday(y, 11, 0, 1) + timedelta(days=1),  # Tuesday after the first Monday
    "easter": _easter,
    "easter sunday": _easter,
}


def _norm_holiday(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    """A named (US) holiday: the occurrence nearest the reference date, as a month-day is resolved."""
    holiday = _HOLIDAYS[re.sub(r"\s+", " ", m["ho"].lower())]
    if ref is None:
        return _unresolved("XXXX-XX-XX")
    direction = _direction(m["ho_mod"])
    if m["ho_mod"] and m["ho_mod"].lower() == "this":
        return _day(holiday(ref.year), ref)
    candidates = [holiday(year) for year in (ref.year - 1, ref.year, ref.year + 1)]
    if direction == "past":
        candidates = [d for d in candidates if d < ref]
    elif direction == "future":
        candidates = [d for d in candidates if d > ref]
    else:
        nearest = min(candidates, key=lambda d: (abs((d - ref).days), d > ref))
        tense = _tense(text, m.start(), m.end()) if abs((nearest - ref).days) > _TENSE_OVERRIDE_DAYS else None
        if tense in ("past", "future"):
            candidates = [d for d in candidates if (d <= ref) == (tense == "past")]
    return _day(min(candidates, key=lambda d: (abs((d - ref).days), d > ref)), ref)


_SINCE_BEFORE_RE = re.compile(r"\bsince\s+$", re.IGNORECASE)


def _norm_year_end(m: re.Match[str], text: str, ref: date | None) -> _Normalised | None:
    """ "by year-end", "year's end": the end of the reference year; "since year-end" the one before."""
    if ref is None:
        return _unresolved("XXXX", "end")
    since = _SINCE_BEFORE_RE.search(text, max(0, m.start() - 8), m.start())
    return _year(ref.year - (1 if since else 0), ref, "end")


def _shift_quarter(year: int, quarter: int, quarters: int) -> tuple[int, int]:
    index = year * 4 + quarter - 1 + quarters
    return index // 4, index % 4 + 1


def _quarter_number(day: date) -> int:
    return (day.month - 1) // 3 + 1


_WITHIN_A_YEAR = frozenset(("year", "half", "quarter", "season", "month", "week", "day"))
_ENDED_AFTER_RE = re.compile(r"\s+(?:ended|ending)\b", re.IGNORECASE)


def _resolve_anaphoric(
    m: re.Match[str], text: str, ref: date | None, previous: Sequence[TemporalExpression]
) -> _Normalised | None:
    """ "the quarter", "the year-ago period", "that year": the last such period mentioned, else the reference's."""
    unit = (m["an_unit"] or "").lower()
    modifier = re.sub(r"\s+", " ", (m["an_mod"] or "").lower())
    # The latest quarter mentioned so far, not the last one: reports compare it with the year-ago one.
    quarters = [e for e in previous if e.granularity == "quarter" and (ref is None or e.date_start <= ref)]
    last_quarter = max(quarters, key=lambda e: e.date_start) if quarters else None
    if modifier in ("latest", "most recent"):
        last_quarter = None
    # "in June 1998 ... later that year": the year of the last expression dated within one year.
    last_year = next((e for e in reversed(previous) if e.granularity in _WITHIN_A_YEAR and e.date_start), None)
    if unit == "weekend":
        if modifier:
            return None
        if ref is None:
            return _unresolved("XXXX-WXX-WE")
        if ref.weekday() >= 5:
            return _weekend(ref, ref)
        past = _tense(text, m.start(), m.end()) == "past"
        return _weekend(ref - timedelta(weeks=1) if past else ref, ref)
    if unit == "month":
        return _anaphoric_month(m, modifier, ref, previous)
    if unit == "year" and not modifier and _ENDED_AFTER_RE.match(text, m.end()):
        return _Normalised("DURATION", "P1Y")  # "the year ended March 31": a year-long span, anchored at its end
    if unit == "period" and not modifier and not m["an_year"]:
        return None  # "the period" alone is too often not a date
    year_back = m["an_bare"] is not None or modifier in ("year-ago", "year-earlier")
    step = {"following": 1, "previous": -1, "prior": -1}.get(modifier, 0)
    if m["an_year"] and unit not in ("quarter", "period"):
        return _year(int(m["an_year"]), None)
    if m["an_bare"] is not None or unit in ("quarter", "period"):
        if m["an_year"] and (last_quarter is None and ref is None):
            return _unresolved(f"{m['an_year']}-QX")
        if modifier == "current" and ref is not None:
            return _quarter(ref.year, _quarter_number(ref), ref)
        if last_quarter is not None:
            year, quarter = last_quarter.date_start.year, _quarter_number(last_quarter.date_start)
        elif ref is None:
            return _unresolved("XXXX-QX")
        elif m["an_bare"] is not None:
            return _year(ref.year - 1, ref)  # "year-earlier" results with no quarter in sight
        else:  # financial news: "the quarter" is the last one reported, the one before the reference's
            year, quarter = _shift_quarter(ref.year, _quarter_number(ref), -1)
        year, quarter = _shift_quarter(year, quarter, -4 if year_back else step)
        if m["an_year"]:  # "the 1988 period": the quarter under discussion, in that year
            year = int(m["an_year"])
        return _quarter(year, quarter, ref)
    if m["an_det"].lower() == "that" or step:
        if last_year is not None:
            base = last_year.date_start.year
        elif ref is None:
            return _unresolved("XXXX")
        else:
            base = ref.year
    elif ref is None:
        return _unresolved("XXXX")
    else:
        base = ref.year
    return _year(base + step - (1 if year_back else 0), ref)


def _anaphoric_month(
    m: re.Match[str], modifier: str, ref: date | None, previous: Sequence[TemporalExpression]
) -> _Normalised | None:
    """ "In March ... the following month": the month after (before, the same as) the last month or day mentioned.

    "the month" alone is left alone: it is as often "the month of Ramadan" as a month in time.
    """
    step = {"following": 1, "next": 1, "previous": -1, "prior": -1, "same": 0}.get(modifier)
    if m["an_year"] or (step is None and not (m["an_det"].lower() == "that" and not modifier)):
        return None
    last = next((e for e in reversed(previous) if e.granularity in ("month", "day") and e.date_start), None)
    base = last.date_start if last is not None else ref
    if base is None:
        return _unresolved("XXXX-XX")
    return _month(*_add_months(base.year, base.month, step or 0), ref)


def _resolve_same_day(ref: date | None, previous: Sequence[TemporalExpression]) -> _Normalised:
    """ "later that day", "earlier in the day", "that same day": the last day mentioned, else the reference."""
    day = next((e.date_start for e in reversed(previous) if e.granularity == "day" and e.date_start), ref)
    return _day(day, ref) if day else _unresolved("XXXX-XX-XX")


_YEAR_AGO_QUARTER_CHARS = 1000


def _year_ago_quarter(m: re.Match[str], previous: Sequence[TemporalExpression]) -> _Normalised | None:
    """ "a year ago" just after a quarter was mentioned is that quarter a year earlier (earnings reports)."""
    if not (m["du_ago"] and _unit(m["du_u"]) == "year" and _number(m["du_n"]) == 1):
        return None
    # The latest quarter reported, not the last one mentioned: that may itself be the year-ago quarter.
    recent = [e for e in previous if e.end >= m.start() - _YEAR_AGO_QUARTER_CHARS]
    quarters = [e for e in recent if e.granularity == "quarter" and (e.anchor is None or e.date_start <= e.anchor)]
    if not quarters:
        return None
    latest = max(quarters, key=lambda e: e.date_start)
    year, quarter = _shift_quarter(latest.date_start.year, _quarter_number(latest.date_start), -4)
    return _quarter(year, quarter, latest.anchor)


_NORMALISERS: dict[str, Callable[[re.Match[str], str, date | None], _Normalised | None]] = {
    "spelled_year": _norm_spelled_year,
    "iso": _norm_iso,
    "numeric": _norm_numeric,
    "month_day": _norm_md,
    "day_month": _norm_dm,
    "month_year": _norm_month_year,
    "month": _norm_month,
    "period_edge": _norm_period_edge,
    "quarter": _norm_quarter,
    "set": _norm_set,
    "duration": _norm_duration,
    "bare_unit": _norm_bare_unit,
    "relative": _norm_relative,
    "reference": _norm_reference,
    "same_day": lambda m, text, ref: None,  # resolved in _find_own, which knows the expressions before
    "year_end": _norm_year_end,
    "anaphoric": lambda m, text, ref: None,  # resolved in _find_own, which knows the expressions before
    "season": _norm_season,
    "holiday": _norm_holiday,
    "weekday": _norm_weekday,
    "clock": _norm_clock,
    "century": _norm_century,
    "decade": _norm_decade,
    "short_year": _norm_short_year,
    "year": _norm_year,
    "year_span_end": _norm_year_span_end,
}

# An NER span we cannot normalise is kept only if it looks temporal at all (spaCy sometimes tags "we").
_TEMPORAL_HINT_RE = re.compile(
    r"(?<!\d)(?:1[5-9]|20)\d\d(?!\d)|\d[:/]\d|\b(?:year|month|week|day|hour|minute|decade|centur|quarter|half|season|"
    r"spring|summer|autumn|fall|winter|morning|afternoon|evening|night|noon|midnight|today|tonight|tomorrow|yesterday|"
    r"daily|weekly|monthly|recent|ago|period|time|era|age|dawn|dusk|weekend|holiday|christmas|easter|"
    r"ramadan|monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|april|june|july|"
    r"august|september|october|november|december)",
    re.IGNORECASE,
)


# Every expression contains one of these (matched on lower-cased text): the full patterns only run in a
# window around them, which is most of the speed on long articles where dates are sparse.
_TRIGGER_RE = re.compile(
    # The look-ahead (every trigger's first character) spares the alternation at most positions.
    r"(?=[0-9'’acdefhjlmnopqrstwy])(?:year|month|week|day|hour|minute|decade|centur|quarter|qtr|half|annum|annual|noon|night|now|period"
    r"|(?<![a-z])(?:(?:1[5-9]|20)\d\d|\d{1,2}[:.][0-5]\d|\d{1,2}\s*[ap]\.?m\b|['’]\d\d(?!\d)|[012]\d[0-5]\d\s+[a-z]{3}\b"
    r"|\d{1,2}(?:st|nd|rd|th)\b|(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|(?:mon|tues|wednes|thurs|fri|satur|sun)days?)\b"
    r"|seconds?\b|daily|morning|evening|tomorrow|current|present|recent|lately|past|future|moment|spring|summer"
    r"|autumn|fall|winter|nineteen|two\s+thousand|christmas|thanksgiving|halloween|easter))"
)
_WINDOW_BEFORE = 40
_WINDOW_AFTER = 30


def _windows(text: str) -> list[tuple[int, int]]:
    """Merged (start, end) stretches of ``text`` around trigger words, where expressions can be."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters change length when lower-cased: scan everything
        return [(0, len(text))]
    windows: list[tuple[int, int]] = []
    for trigger in _TRIGGER_RE.finditer(lowered):
        start = max(0, trigger.start() - _WINDOW_BEFORE)
        end = min(len(text), trigger.end() + _WINDOW_AFTER)
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, end))
    return windows


def _candidate_matches(text: str) -> list[re.Match[str]]:
    """What one ``_EXPRESSION_RE.finditer`` over the whole text finds, searched only near triggers."""
    matches: list[re.Match[str]] = []
    last_end = 0
    for window_start, window_end in _windows(text):
        for m in _EXPRESSION_RE.finditer(text, max(window_start, last_end), window_end):
            if m.end() == window_end < len(text):  # it may go on past the window
                m = _EXPRESSION_RE.match(text, m.start()) or m
            if m.start() < last_end:
                continue
            matches.append(m)
            last_end = m.end()
    return matches


def _month_of(expression: str) -> int | None:
    """The month number named by the last month word of an expression, if any."""
    for word in reversed(re.split(r"[\s-]+", expression)):
        month = _MONTH_NUMBER.get(word.rstrip(".").lower())
        if month is not None:
            return month
    return None


# Relative words in Title Case inside a sentence are names: ABC's "This Week", "VOA Today", "High Noon".
_NAMEABLE_FAMILIES = frozenset(("relative", "reference", "clock"))
_OPENING_QUOTES = "\"'“‘`"


def _is_title_mid_sentence(text: str, m: re.Match[str]) -> bool:
    words = m[0].split()
    if not all(word[0].isupper() and word[1:].islower() for word in words if word[0].isalpha()) or m[0][0].isdigit():
        return False
    # ABC News' "This Week": the possessive's apostrophe and the opening quote both go
    before = text[max(0, m.start() - 20) : m.start()].rstrip(_OPENING_QUOTES + " \t\n")
    return bool(before) and (before[-1].isalnum() or before[-1] == ",")


def _find_own(text: str, reference_date: date | None) -> tuple[list[TemporalExpression], list[tuple[int, int]]]:
    """The expressions the patterns find, and the spans of names that look like them ("This Week")."""
    found = []
    names = []
    for m in _candidate_matches(text):
        family = m.lastgroup
        if family == "anaphoric":
            normalised = _resolve_anaphoric(m, text, reference_date, found)
        elif family == "same_day":
            normalised = _resolve_same_day(reference_date, found)
        else:
            try:
                normalised = _NORMALISERS[family](m, text, reference_date)
            except (ValueError, OverflowError):  # a reference near year 1 or 9999: no date to give
                continue
            if family == "duration" and normalised is not None and normalised.timex_type == "DATE":
                normalised = _year_ago_quarter(m, found) or normalised
        if normalised is None:
            continue
        if family in _NAMEABLE_FAMILIES and _is_title_mid_sentence(text, m):
            names.append((m.start(), m.end()))
            continue
        if (
            family in ("spelled_year", "relative")
            and normalised.granularity == "year"
            and found
            and found[-1].granularity == "month"
            and found[-1].text.split()[0].lower() not in ("last", "next", "this")
            and not any(ch.isdigit() for ch in found[-1].text)  # "December 1985 this year" has its year
            and text[found[-1].end : m.start()].isspace()
            and _month_of(found[-1].text) is not None
        ):
            # "January nineteen ninety-seven", "June last year": the month of that year
            month_name = found.pop()
            month = _month_of(month_name.text)
            year_month = _month(normalised.date_start.year, month, normalised.anchor, month_name.part_of_day)
            found.append(TemporalExpression(text[month_name.start : m.end()], month_name.start, m.end(), *year_month))
            continue
        found.append(TemporalExpression(m[0], m.start(), m.end(), *normalised))
    found = _range_starts(text, found)
    return _date_clocks_by_their_day(text, _merge_clock_and_day(text, found)), names


# "12 to 18 months", "two or three days", "5-10 years", "between 5 and 10 years": the first number of a range
# of durations, written just before the duration that carries the unit.
_RANGE_START_RE = re.compile(
    r"(?:(?<=\bbetween\s)(?P<between>)|(?<![\w.,$£€-]))(?P<n>\d{1,3}|"
    + "|".join(w for w in sorted(_NUMBER_WORDS, key=len, reverse=True) if w not in ("a", "an", "hundred"))
    + r")\s*(?:(?P<and>and)|to|or|-|–)\s*$",
    re.IGNORECASE,
)
_DURATION_VALUE_RE = re.compile(r"(PT?)(\d+)([A-Z]+)")


def _range_starts(text: str, found: list[TemporalExpression]) -> list[TemporalExpression]:
    """Add the first end of each range of durations, with the unit of the second ("12" of "12 to 18 months": P12M)."""
    result: list[TemporalExpression] = []
    for e in found:
        value = _DURATION_VALUE_RE.fullmatch(e.value or "") if e.timex_type == "DURATION" else None
        start = _RANGE_START_RE.search(text, max(0, e.start - 24), e.start) if value else None
        if start is not None and (start["and"] is None or start["between"] is not None):
            number = _number(start["n"])
            previous_end = result[-1].end if result else 0
            if number and start.start("n") >= previous_end:
                prefix, _, suffix = value.groups()
                result.append(
                    TemporalExpression(
                        start["n"],
                        start.start("n"),
                        start.end("n"),
                        "DURATION",
                        f"{prefix}{number}{suffix}",
                        None,
                        None,
                        None,
                        None,
                        None,
                    )  # fmt: skip
                )
        result.append(e)
    return result


_CLOCK_VALUE_RE = re.compile(r"T\d\d:\d\d$")
_CLOCK_DAY_GAP_RE = re.compile(r"[\s,]*")


def _merge_clock_and_day(text: str, found: list[TemporalExpression]) -> list[TemporalExpression]:
    """ "10 p.m. Wednesday", "noon Thursday", "5 p.m. EST, Nov. 9": one time on that day, not two expressions."""
    merged: list[TemporalExpression] = []
    for e in found:
        clock = merged[-1] if merged else None
        if (
            clock is not None
            and e.granularity == "day"
            and e.value is not None
            and clock.value is not None
            and _CLOCK_VALUE_RE.search(clock.value)
            and clock.value.startswith(clock.anchor.isoformat() if clock.anchor else "XXXX-XX-XX")
            and _CLOCK_DAY_GAP_RE.fullmatch(text, clock.end, e.start)
        ):
            value = e.value.split("T")[0] + clock.value[-6:]
            merged[-1] = TemporalExpression(
                text[clock.start : e.end], clock.start, e.end, "TIME", value, e.date_start, e.date_end, "day",
                e.anchor, e.part_of_day,
            )  # fmt: skip
            continue
        merged.append(e)
    return merged


# Between a clock time and the day it is on: "3 p.m. on Saturday", "10:35 a.m. (0735 GMT) Friday" ...
_CLOCK_THEN_DAY_GAP_RE = re.compile(r"[\s,()]*(?:on\s+)?", re.IGNORECASE)
# ... and between a day and its clock time: "Saturday at 3 p.m.", "Tuesday, around 10 a.m."
_DAY_THEN_CLOCK_GAP_RE = re.compile(
    r"[\s,]*(?:(?:at|from|by|until|till|before|after|shortly\s+(?:after|before))\s+)?(?:(?:about|around|approximately)\s+)?",
    re.IGNORECASE,
)


def _on_the_reference_day(e: TemporalExpression) -> bool:
    """A clock time that was put on the reference date for want of a day ("at 3 p.m.")."""
    return (
        e.timex_type == "TIME"
        and e.value is not None
        and _CLOCK_VALUE_RE.search(e.value) is not None
        and e.value.startswith(e.anchor.isoformat() if e.anchor else "XXXX-XX-XX")
    )


def _is_day(e: TemporalExpression) -> bool:
    return e.granularity == "day" and e.value is not None and re.fullmatch(r"\d{4}-\d\d-\d\d", e.value) is not None


def _date_clocks_by_their_day(text: str, found: list[TemporalExpression]) -> list[TemporalExpression]:
    """A clock time next to a day ("Saturday at 3 p.m.", "3 p.m. on Saturday") is on that day, not the reference's."""
    result = list(found)
    for i, e in enumerate(result):
        if not _on_the_reference_day(e):
            continue
        day = None
        j, previous_end = i + 1, e.end
        # "10:35 a.m. (0735 GMT) Friday": through other clock times to the day
        while j < len(result) and _CLOCK_THEN_DAY_GAP_RE.fullmatch(text, previous_end, result[j].start):
            if _is_day(result[j]):
                day = result[j]
                break
            if not _on_the_reference_day(result[j]):
                break
            previous_end, j = result[j].end, j + 1
        if day is None and i > 0 and _is_day(result[i - 1]):
            if _DAY_THEN_CLOCK_GAP_RE.fullmatch(text, result[i - 1].end, e.start):
                day = result[i - 1]
        if day is not None:
            result[i] = e._replace(
                value=day.value + e.value[-6:], date_start=day.date_start, date_end=day.date_end, anchor=day.anchor
            )
    return result


_AGE_RE = re.compile(r"(?:\d|\b[a-z]+)[\s-]+(?:years?|months?)[\s-]+old\b|\bages?\b", re.IGNORECASE)
# NER spans nobody can give a value: a rate word used as an adjective ("quarterly dividend") or a bare
# "the day" / "that night", which TimeML annotates only when it can be resolved from context.
_UNRESOLVABLE_NER_RE = re.compile(
    r"(?:quarterly|weekly|monthly|seasonally|(?:the|that|this)\s+(?:day|night)(?:\s+of)?)", re.IGNORECASE
)
# A unit with no number, name or definite article ("a quarter", "his year", "All week", "Good evening",
# "just minutes apart", CBS's "60 Minutes") points at no particular time: nobody can give it a value.
_GENERIC_NER_RE = re.compile(
    r"(?:(?:a|an|his|her|its|their|our|my|your|all|only|just|more\s+than\s+a)\s+)?(?:fiscal\s+)?"
    r"(?:year|quarter|month|week|weekend|day|morning|afternoon|evening|nights?)|(?:\d+\s+|only\s+|just\s+)?"
    r"(?:minutes|hours|seconds)",
    re.IGNORECASE,
)
_DEFINITE_BEFORE_RE = re.compile(r"\b(?:the|that|this)\s+$", re.IGNORECASE)


def _is_generic_ner(text: str, start: int, end: int) -> bool:
    """Whether an NER span nothing here could normalise is a bare unit ("his year") rather than a time.

    "the [week]'s most active session": a unit after a definite article refers to a time and is kept.
    """
    if _DEFINITE_BEFORE_RE.search(text, max(0, start - 6), start):
        return False
    span = text[start:end]
    return _GENERIC_NER_RE.fullmatch(span) is not None and not re.fullmatch(r"\d+\s+(?-i:[a-z]+)", span)


def _merge_ner(
    text: str,
    own: list[TemporalExpression],
    ner_spans: Sequence[tuple[int, int, str]],
    names: Sequence[tuple[int, int]] = (),
) -> list[TemporalExpression]:
    """Add NER DATE/TIME spans: a span wrapping one own expression widens it, a span nobody found is kept.

    Spans over ``names`` (titles such as ABC's "This Week") are dropped.
    """
    result = list(own)
    for ner_start, ner_end, label in ner_spans:
        if label not in ("DATE", "TIME") or not 0 <= ner_start < ner_end <= len(text):
            continue
        if any(start < ner_end and ner_start < end for start, end in names):
            continue
        overlapping = [i for i, e in enumerate(result) if e.start < ner_end and ner_start < e.end]
        if not overlapping:
            span = text[ner_start:ner_end]
            if (
                _TEMPORAL_HINT_RE.search(span)
                and not _AGE_RE.search(span)
                and not _UNRESOLVABLE_NER_RE.fullmatch(span)
                and not _is_generic_ner(text, ner_start, ner_end)
            ):
                result.append(TemporalExpression(span, ner_start, ner_end, label, None, None, None, None, None, None))
            continue
        if len(overlapping) != 1:
            continue
        inner = result[overlapping[0]]
        wider = ner_start <= inner.start and inner.end <= ner_end and (ner_end - ner_start) > (inner.end - inner.start)
        # "about two years" widens; "the year ended March 31" holds a second expression and does not.
        extra = text[ner_start : inner.start] + " " + text[inner.end : ner_end]
        if wider and not _TEMPORAL_HINT_RE.search(extra):
            result[overlapping[0]] = inner._replace(text=text[ner_start:ner_end], start=ner_start, end=ner_end)
    return result


def extract_dates(
    text: str, reference_date: date | None, ner_spans: Sequence[tuple[int, int, str]] = ()
) -> list[TemporalExpression]:
    """Return the temporal expressions of ``text``, normalised against ``reference_date``, sorted by start.

    ``ner_spans`` are ``(start, end, label)`` from an NER model; DATE and TIME spans are merged in
    (an NER span that wraps exactly one expression found here widens it; one found nowhere else is
    kept with ``value=None``).
    """
    own, names = _find_own(text, reference_date)
    merged = _merge_ner(text, own, ner_spans, names) if ner_spans else own
    return sorted(merged, key=lambda e: (e.start, e.end))


_DATELINE_RE = re.compile(
    rf"^[^\n]{{0,80}}?,\s+(?:(?P<wd>{_WEEKDAY}),?\s+)?(?P<m>{_MONTH})\s+(?P<d>[0-3]?\d)\b(?:,?\s+(?P<y>\d{{4}}))?"
    r"\s*(?:\([^)\n]{1,40}\)\s*)?(?:-|--|—|–)",
    re.IGNORECASE,
)


def reference_date_from_dateline(text: str, year_hint: int | None) -> date | None:
    """Return the date of a news dateline ("CLEVELAND, Feb 26 -") in the first 200 characters, if any.

    A dateline without a year ("Feb 26") takes ``year_hint``; with no hint it gives None.
    """
    # Reuters puts a title and a blank line before the dateline: try the first few lines that start early.
    m = None
    for line in text[:200].split("\n")[:4]:
        m = _DATELINE_RE.match(line.strip())
        if m:
            break
    if m is None:
        return None
    year = int(m["y"]) if m["y"] else year_hint
    if year is None:
        return None
    return _safe_date(year, _MONTH_NUMBER[m["m"].rstrip(".").lower()], int(m["d"]))
