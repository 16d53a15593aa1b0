"""The expression families: one record each (pattern, first words, normaliser, TIMEX3 types).

Adding a family means adding one ``Family`` here (and its normaliser in ``normalise.py``): the combined
regex, the per-family look-ahead and the first-word trie of ``candidates.py`` are derived from the records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import normalise as norm
from .values import Normalised
from .vocabulary import (
    FULL_MONTH,
    MONTH,
    MONTH_NUMBER,
    NOT_AN_AMOUNT,
    NUMBER,
    NUMBER_WORDS,
    ONES,
    SPELLED_YEAR,
    TIME_ZONES,
    UNIT_WORDS,
    VAGUE_QUANTITIES,
    WEEKDAY,
    WEEKDAY_NUMBER,
)

DIGITS = "0-9"
MONTHS = tuple(MONTH_NUMBER)  # with their abbreviations: "jan", "sept"
WEEKDAYS = tuple(WEEKDAY_NUMBER)


@dataclass(frozen=True)
class Family:
    """One family of temporal expressions: how it is found and how its value is made."""

    name: str
    # A regex body with named groups (prefixed by the family, e.g. "md_m"); all families are compiled,
    # case-insensitively, as the alternatives of one regex in the order of FAMILIES.
    pattern: str
    # The lower-case words an expression of the family can start with, or a prefix of such a word ("mid"
    # for "midday"); with first_characters, they make the prefilters: a word starting otherwise is skipped.
    first_words: tuple[str, ...]
    # (match, text, reference date) -> Normalised, or None when the match is not temporal after all;
    # with in_context, also the expressions found before it in the document.
    normalise: Callable[..., Normalised | None]
    timex_types: tuple[str, ...]
    # Non-letter first characters, as the inside of a character class ("0-9", "'’").
    first_characters: str = ""
    in_context: bool = False
    # In Title Case inside a sentence it is a name, not a time (ABC's "This Week", "High Noon").
    nameable: bool = False

    @property
    def head(self) -> str:
        """A look-ahead on the first characters: the engine gives up on the family after one check.

        It stands before the whole pattern (every alternative of it), so first_words must cover them all.
        """
        letters = "".join(sorted({word[0] for word in self.first_words}))
        return f"(?=[{self.first_characters}{letters}])"


_NUMBER_FIRST_WORDS = (*NUMBER_WORDS, *(q.split()[0] for q in VAGUE_QUANTITIES), "couple")

# Python's regex takes the first alternative that matches at the leftmost position, so longer forms come
# before their prefixes.
FAMILIES: tuple[Family, ...] = (
    Family(
        "spelled_year",
        rf"(?:(?P<sy_the>the\s+year)\s+)?(?P<sy>{SPELLED_YEAR})",
        ("the", "nineteen", "two"),
        norm._norm_spelled_year,
        ("DATE",),
    ),
    Family(
        "iso",
        r"(?P<iso_y>\d{4})-(?P<iso_m>\d\d)-(?P<iso_d>\d\d)(?![\d-])",
        (),
        norm._norm_iso,
        ("DATE",),
        first_characters=DIGITS,
    ),
    Family(
        "numeric",
        r"(?<![\d./])(?P<num_a>\d{1,2})(?P<num_sep>[/.])(?P<num_b>\d{1,2})(?P=num_sep)(?P<num_y>\d{4})(?!\d)",
        (),
        norm._norm_numeric,
        ("DATE",),
        first_characters=DIGITS,
    ),
    Family(
        "month_day",
        rf"(?:(?P<md_wd>{WEEKDAY}),?\s+)?(?:(?P<md_mod>last|next|this|early|late|mid)[\s-]+)?"
        rf"(?P<md_m>{MONTH})\s+(?P<md_d>[0-3]?\d)(?:st|nd|rd|th)?{NOT_AN_AMOUNT}(?:,?\s+(?P<md_y>\d{{4}})(?!\d))?",
        (*WEEKDAYS, "last", "next", "this", "early", "late", "mid", *MONTHS),
        norm._norm_md,
        ("DATE",),
    ),
    Family(
        "day_month",
        # "Tuesday 19 March", British order: the weekday belongs to the date
        rf"(?:(?P<dm_wd>{WEEKDAY}),?\s+(?:the\s+)?)?"
        rf"(?<![\d.,])(?P<dm_d>[0-3]?\d)(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<dm_m>{MONTH})"
        rf"(?:,?\s+(?P<dm_y>\d{{4}})(?!\d))?",
        WEEKDAYS,
        norm._norm_dm,
        ("DATE",),
        first_characters=DIGITS,
    ),
    Family(
        "month_year",
        rf"(?:(?P<my_mod>early|late|mid|end)[\s-]+)?(?P<my_m>{MONTH}),?\s+(?P<my_y>\d{{4}}|['’]\d\d)(?!\d)",
        ("early", "late", "mid", "end", *MONTHS),
        norm._norm_month_year,
        ("DATE",),
    ),
    Family(
        "month",
        rf"(?:(?P<mo_mod>last|next|this|early|late|mid|end)[\s-]+)?(?P<mo_m>{FULL_MONTH})",
        ("last", "next", "this", "early", "late", "mid", "end", *MONTHS),
        norm._norm_month,
        ("DATE",),
    ),
    # "the end of the month", "by the beginning of next year": that period, with its part
    Family(
        "period_edge",
        r"(?:the\s+)?(?P<pe_part>end|beginning|start|middle)\s+of\s+(?P<pe_det>the|this|next|last)\s+"
        r"(?P<pe_unit>week|month|year|quarter|decade|century)(?![\w-])",
        ("the", "end", "beginning", "start", "middle"),
        norm._norm_period_edge,
        ("DATE",),
    ),
    Family(
        "quarter",
        r"(?:the\s+)?(?:(?:comparable|corresponding)\s+)?(?:(?P<q_rel>year-ago|year-earlier|(?:last|next|this)\s+year's)\s+)?"
        r"(?:(?P<q_y1>(?:19|20)\d\d)\s+)?(?P<q_ord>first|second|third|fourth|final|1st|2nd|3rd|4th|last(?=[\s-]+(?:quarter|half)\s+of\s+(?:19|20)\d\d))"
        r"[\s-]+(?P<q_kind>quarter|qtr|half)(?:\s+(?:of\s+)?(?P<q_y2>(?:19|20)\d\d)(?!\d)"
        r"|\s+of\s+(?P<q_yrel>this|next|last|the|the\s+current)\s+year\b(?!['’-]))?",
        (
            "the",
            "comparable",
            "corresponding",
            "year",
            "last",
            "next",
            "this",
            "first",
            "second",
            "third",
            "fourth",
            "final",
        ),  # fmt: skip
        norm._norm_quarter,
        ("DATE",),
        first_characters=DIGITS,
    ),
    Family(
        "set",
        rf"(?:every|each)\s+(?P<set_n>\d{{1,3}}|{ONES}|ten|eleven|twelve|fifteen|twenty|thirty|other)\s+"
        r"(?P<set_nu>years?|months?|weeks?|days?|hours?|minutes?)"
        rf"|(?:every|each)\s+(?P<set_every>{WEEKDAY}|{FULL_MONTH}|day|week|month|year|quarter|morning|afternoon|evening|night)"
        r"(?:\s+(?P<set_every_pod>morning|afternoon|evening|night)(?![\w-]))?"
        r"|(?P<set_adv>daily|weekly|monthly|quarterly|annually|yearly|hourly|nightly)"
        r"|per\s+(?P<set_per>annum|year|month|week|day|hour)"
        rf"|(?:on\s+)?(?P<set_wd>{WEEKDAY})(?:(?-i:s)(?:\s+(?P<set_wd_pod>morning|afternoon|evening|night)s?)?"
        r"|\s+(?P<set_wd_pods>morning|afternoon|evening|night)s)",
        (
            "every",
            "each",
            "daily",
            "weekly",
            "monthly",
            "quarterly",
            "annually",
            "yearly",
            "hourly",
            "nightly",
            "per",
            "on",
            *WEEKDAYS,
        ),  # fmt: skip
        norm._norm_set,
        ("SET",),
    ),
    Family(
        "duration",
        rf"(?:(?P<du_the>the\s+)?(?P<du_rel>past|last|previous|next|coming|first|final)\s+)?"
        rf"(?P<du_n>{NUMBER})(?P<du_half>\s+1/2|\s+and\s+a\s+half)?[\s-]+(?:(?:more|additional|further|straight|consecutive)\s+)?(?:(?:trading|business|working)\s+)?(?P<du_u>{UNIT_WORDS})"
        # "a year-earlier loss": the unit belongs to "year-earlier" (anaphoric), not to a duration
        r"(?P<du_and_half>\s+and\s+a\s+half)?(?:\s+(?P<du_ago>ago|earlier))?(?!-(?:earlier|ago)\b)",
        ("the", "past", "last", "previous", "next", "coming", "first", "final", *_NUMBER_FIRST_WORDS),
        norm._norm_duration_in_context,
        ("DURATION", "DATE", "SET", "TIME"),
        first_characters=DIGITS,
        in_context=True,
    ),
    Family(
        "bare_unit",
        r"(?P<bare_u>years|months|weeks|days|decades|centuries)",
        ("years", "months", "weeks", "days", "decades", "centuries"),
        norm._norm_bare_unit,
        ("DURATION", "DATE"),
    ),
    Family(
        "relative",
        r"(?P<rel_day>today|tonight|tomorrow|yesterday)(?:\s+(?P<rel_day_pod>morning|afternoon|evening|night))?"
        # "mid-afternoon yesterday", "late evening today": the part of the day before the day
        r"|(?:(?:mid|early|late)[\s-]+)?(?P<rel_pod_day>morning|afternoon|evening|night)\s+(?P<rel_day_after>yesterday|today|tomorrow)"
        # ("the next morning" is the next morning of the story: the same_day family's)
        r"|(?!the\s+next\s+(?:morning|afternoon|evening|night)\b)"
        r"(?P<rel_mod>(?:the\s+)?(?:past|previous|current|last|next|coming)|this\s+past|this|"
        r"(?:earlier|later|early|late)\s+(?:this|last|next))"
        r"\s+(?P<rel_unit>morning|afternoon|evening|night|weekend|week|month|year|quarter|decade|century)",
        (
            "today",
            "tonight",
            "tomorrow",
            "yesterday",
            "the",
            "past",
            "previous",
            "current",
            "last",
            "next",
            "coming",
            "this",
            "earlier",
            "later",
            "early",
            "late",
            "mid",
            "morning",
            "afternoon",
            "evening",
            "night",
        ),  # fmt: skip
        norm._norm_relative,
        ("DATE", "TIME", "DURATION"),
        nameable=True,
    ),
    Family(
        "reference",
        r"(?P<ref_present>now|currently|at\s+present|presently|nowadays|at\s+the\s+moment|these\s+days"
        # "current" before a noun ("current market conditions"); the units and "account" make other expressions.
        r"|current(?=\s+[a-z])(?!\s+(?:fiscal\s+|calendar\s+)?(?:year|quarter|period|month|week|half|account)))"
        r"|(?P<ref_then>then[\s-]+current)"
        # "in recent weeks" is a stretch of some weeks up to now (a duration); "recent years" an era.
        r"|(?P<ref_span>recent\s+(?P<ref_span_u>months|weeks))"
        r"|(?P<ref_past>recently|lately|(?:recent|past)\s+(?:years|months|weeks|decades)"
        r"|in\s+the\s+past(?!\s+(?:\d|(?:[a-z]+(?:\s+(?:to|or)\s+[a-z]+)?\s+)?(?:years?|months?|weeks?|days?|hours?|decades?"
        r"|quarters?)\b)))"
        r"|(?P<ref_future>(?:in\s+)?the\s+future|in\s+future)",
        (
            "now",
            "currently",
            "at",
            "presently",
            "nowadays",
            "these",
            "current",
            "then",
            "recent",
            "recently",
            "lately",
            "past",
            "in",
            "the",
        ),  # fmt: skip
        norm._norm_reference,
        ("DATE", "DURATION"),
        nameable=True,
    ),
    Family(
        "same_day",
        r"(?:earlier|later)\s+(?:in\s+)?(?:that|the)\s+day|(?:that|the)\s+same\s+day"
        # "the next morning", "the following day": counted from the day the story is at, not from today
        r"|the\s+(?P<sd_step>next|following|previous|prior)\s+(?P<sd_unit>day|morning|afternoon|evening|night)(?![\w-])",
        ("earlier", "later", "that", "the"),
        norm._resolve_same_day,
        ("DATE", "TIME"),
        in_context=True,
    ),
    Family(
        "year_end",
        r"(?:the\s+)?(?:(?:fiscal|calendar)\s+)?(?P<ye>year(?:'s)?[\s-]+end)(?![\w-])",
        ("the", "fiscal", "calendar", "year"),
        norm._norm_year_end,
        ("DATE",),
    ),
    Family(
        "anaphoric",
        r"(?P<an_det>the|that)\s+(?:(?:comparable|corresponding)\s+)?(?:(?P<an_year>(?:19|20)\d\d)\s+)?"
        r"(?:(?P<an_mod>latest|most\s+recent|current|year-ago|year-earlier|comparable|same|"
        r"full|following|previous|prior)\s+)?(?:fiscal\s+)?(?P<an_unit>quarter|period|year|month|weekend)(?![\w-])"
        r"|(?P<an_bare>year-earlier|year-ago)",
        ("the", "that", "year"),
        norm._resolve_anaphoric,
        ("DATE", "DURATION"),
        in_context=True,
    ),
    Family(
        "season",
        r"(?:(?P<se_mod>this|last|next|early|late|(?:the\s+)?(?:early|late|coming|past)|the)\s+)?"
        rf"(?P<se>spring|summer|autumn|fall|winter)(?:\s+(?:of\s+)?(?P<se_y>(?:19|20)\d\d(?!\d)|['’]\d\d(?!\d)|{SPELLED_YEAR}))?",
        (
            "this",
            "last",
            "next",
            "early",
            "late",
            "the",
            "coming",
            "past",
            "spring",
            "summer",
            "autumn",
            "fall",
            "winter",
        ),  # fmt: skip
        norm._norm_season,
        ("DATE",),
        nameable=True,  # "the Arab Spring", ``Spring of Life'' demonstrations, the Summer Olympics
    ),
    Family(
        "holiday",
        r"(?:(?P<ho_mod>last|next|this)\s+)?(?-i:(?P<ho>Christmas(?:\s+(?:Day|Eve))?|New\s+Year's\s+(?:Day|Eve)"
        r"|Thanksgiving(?:\s+Day)?|Halloween|Valentine's\s+Day|Independence\s+Day|Labor\s+Day|Memorial\s+Day"
        r"|Election\s+Day|Easter(?:\s+Sunday)?))",
        (
            "last",
            "next",
            "this",
            "christmas",
            "new",
            "thanksgiving",
            "halloween",
            "valentine",
            "independence",
            "labor",
            "memorial",
            "election",
            "easter",
        ),  # fmt: skip
        norm._norm_holiday,
        ("DATE",),
    ),
    Family(
        "weekday",
        r"(?:(?P<wd_mod>last|next|this|coming|past)\s+)?(?:(?P<wd_pod1>late|early)\s+(?:on\s+)?)?"
        rf"(?P<wd>{WEEKDAY})(?:\s+(?P<wd_pod2>morning|afternoon|evening|night))?",
        ("last", "next", "this", "coming", "past", "late", "early", *WEEKDAYS),
        norm._norm_weekday,
        ("DATE", "TIME"),
    ),
    Family(
        "clock",
        r"(?<![\d:.,])(?P<ck_h>[01]?\d)(?:[:.](?P<ck_m>[0-5]\d))?\s*(?P<ck_ampm>[ap]\.?m\b\.?)"
        rf"(?:\s*(?-i:{TIME_ZONES})\b)?"
        rf"|(?<![\d:.,])(?P<ck_h2>[012]?\d):(?P<ck_m2>[0-5]\d)(?!\d)(?:\s*(?P<ck_tz>{TIME_ZONES})\b)?"
        rf"|(?<![\d:.,])(?P<ck_hhmm>[012]\d[0-5]\d)\s+(?P<ck_tz2>(?-i:{TIME_ZONES}|hrs))\b"
        r"|(?P<ck_word>noon|midday|midnight)",
        ("noon", "midday", "midnight"),
        norm._norm_clock,
        ("TIME",),
        first_characters=DIGITS,
        nameable=True,
    ),
    Family(
        "century",
        r"(?P<ce_n>[12]?\d)(?:st|nd|rd|th)[\s-]+century",
        (),
        norm._norm_century,
        ("DATE",),
        first_characters=DIGITS,
    ),
    Family(
        "decade",
        r"(?:the\s+)?(?:(?P<dc_mod>early|late|mid)[\s-]+)?(?P<dc>(?:1[5-9]|20)\d0)'?s"
        r"|(?:the\s+)?'(?P<dc2>\d0)s",
        ("the", "early", "late", "mid"),
        norm._norm_decade,
        ("DATE",),
        first_characters=DIGITS + "'",
    ),
    # "'58", "’09": an abbreviated year (not "'60s", a decade, nor a quoted number: "'58 percent'").
    Family(
        "short_year",
        r"['’](?P<yy>\d\d)(?![\d'’%]|\w|\s*(?:percent|pct)\b)",
        (),
        norm._norm_short_year,
        ("DATE",),
        first_characters="'’",
    ),
    Family(
        "year",
        # Years before 1900 only after "in"/"since" ("in 1898"): otherwise they are as often amounts.
        r"(?<![$£€\d.,/-])(?:(?P<yr_mod>early|late|mid|fiscal)[\s-]+)?"
        r"(?P<yr>(?:19|20)\d\d|(?:(?<=\bin\s)|(?<=\bsince\s))1[5-8]\d\d)"
        # "2008-09", "1998/1999": a span of two years (or a season): each year is its own expression
        rf"(?:(?=[-–/](?:(?:19|20)\d\d|\d\d)(?![\d/-]|[.,]\d))|(?![/-]\d|\.\d)){NOT_AN_AMOUNT}",
        ("early", "late", "mid", "fiscal"),
        norm._norm_year,
        ("DATE",),
        first_characters=DIGITS,
    ),
    # The second year of such a span: "09" of "2008-09" is 2009.
    Family(
        "year_span_end",
        r"(?<=(?:19|20)\d\d[-–/])(?P<yse>(?:19|20)\d\d|\d\d)(?![\d/-]|[.,]\d)",
        (),
        norm._norm_year_span_end,
        ("DATE",),
        first_characters=DIGITS,
    ),
)
FAMILY_BY_NAME = {family.name: family for family in FAMILIES}
