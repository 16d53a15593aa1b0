"""Tense and direction cues: whether the sentence around an expression points back or forward in time."""

from __future__ import annotations

import re

from .vocabulary import TIME_ZONES

# Words that decide whether a bare weekday lies in the past or the future (left context, same sentence).
_FUTURE_JUST_BEFORE_RE = re.compile(
    r"\b(?:from|starting|beginning|begins?|next|effective|payable|ahead\s+of|as\s+(?:soon|early)\s+as|set\s+to\s+\w+"
    # "Kick-off is at 3pm on Sunday", "the final is on Saturday": what is (not was) on a day is still to come
    r"|(?<!\bthat\s)(?<!\bwhich\s)(?<!\bwho\s)(?:is|are))"
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
    r"(?:has|have)\s+until|(?P<bare_verb>meet|vote|resume|begin)(?=(?:\s+[a-z]+ly)?\s+(?:on\s+)?(?:(?-i:[A-Z])|$))))|(?P<past>said|says|was|were|had|did|ago|last)|(?P<past_form>"
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
    r"|keep|continue|up|stay|remain|become|seem|appear|look))*\s+",
    re.IGNORECASE,
)
# A full stop after "a.m.", a title or a month abbreviation ("Nov. 9") does not end the sentence.
SENTENCE_END_RE = re.compile(
    r"(?<!\b[ap]\.m)(?<!\b(?:Mr|Ms|Dr|St|Jr|Sr|Lt))(?<!\b(?:Mrs|Gen|Gov|Sen|Rep|Col|U\.S|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec))"
    r"(?<!\bSept)(?<!\bvs)(?<!\bv)[.!?][\"'”’)]*\s|\n\s*\n"
)
CONTEXT_CHARS = 160


def sentence_start_of(text: str, start: int) -> int:
    """Where the sentence holding ``start`` begins (at most ``CONTEXT_CHARS`` back)."""
    sentence_start = max(0, start - CONTEXT_CHARS)
    for boundary in SENTENCE_END_RE.finditer(text, sentence_start, start):
        sentence_start = boundary.end()
    return sentence_start


# "on a 221-207 vote Thursday", "the planned merger": after a determiner or a count it is no verb
_NOUN_BEFORE_RE = re.compile(r"(?:\b(?:a|an|the|its|their|his|her|our|this|that)|\d)[\s\d,-]*$", re.IGNORECASE)


def _is_noun_or_adjective(text: str, cue: re.Match[str]) -> bool:
    if cue["past_form"] is not None:
        return _DETERMINER_BEFORE_RE.search(text, max(0, cue.start() - 24), cue.start()) is not None
    if cue["bare_verb"] is not None:
        return _NOUN_BEFORE_RE.search(text, max(0, cue.start() - 24), cue.start()) is not None
    return False


def sentence_tense(text: str, start: int, end: int, from_says_future: bool = True) -> str | None:
    """ "future", "past" or None: what the sentence around ``text[start:end]`` says about its time.

    ``from_says_future=False`` reads "from" just before as the start of a range ("from Aug. 26 to Oct. 20").
    """
    sentence_start = sentence_start_of(text, start)
    just_before = _FUTURE_JUST_BEFORE_RE.search(text, sentence_start, start)
    if just_before and just_before[0].lower().startswith("from"):
        # "from Monday, shops must close" lies ahead; "the strike lasted from Monday to Wednesday" does not
        if from_says_future and sentence_tense(text, start, start, from_says_future=False) != "past":
            return "future"
    elif just_before:
        return "future"
    if _PAST_JUST_BEFORE_RE.search(text, sentence_start, start):
        return "past"
    cues = [cue for cue in _TENSE_CUE_RE.finditer(text, sentence_start, start) if not _is_noun_or_adjective(text, cue)]
    if not cues:
        # Nothing before it ("On Tuesday, talks will resume"): the first tense cue after it decides.
        after = SENTENCE_END_RE.search(text, end, end + CONTEXT_CHARS)
        cue = _TENSE_CUE_RE.search(text, end, after.start() if after else min(len(text), end + CONTEXT_CHARS))
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


def told_in_the_past(text: str, start: int) -> bool:
    """Whether a past-tense verb just before ``start`` tells of it ("changed to a calendar year in December").

    An event told in the simple past cannot lie ahead, however near the next such month is. Not when a modal
    or "to" + verb stands between ("agreed to buy it in February": the buying may be ahead) or a reporting
    verb ("said") is all there is.
    """
    window_start = max(sentence_start_of(text, start), start - _NEAR_VERB_CHARS)
    cues = list(_TENSE_CUE_RE.finditer(text, window_start, start))
    if not cues or cues[-1]["past_form"] is None or any(c["future"] for c in cues):
        return False
    last = cues[-1]
    if _DETERMINER_BEFORE_RE.search(text, max(0, last.start() - 24), last.start()):
        return False
    if _PARTICIPLE_AFTER_RE.search(text, max(0, last.start() - 12), last.start()):
        return False  # "to be published in early November", "when the case is heard in May": a participle
    if _DEADLINE_BEFORE_RE.search(text, max(0, start - 16), start) or _deferred_to(text, start):
        return False  # "gave them until mid-November", "the vote was postponed to March"
    return _INFINITIVE_RE.search(text, last.end(), start) is None


# "by February", "through January": a month or a date after a deadline preposition is still to come
# (weekdays are not: "stayed until Thursday" is as common as "until Thursday" ahead).
_DEADLINE_BEFORE_RE = re.compile(r"\b(?:by|through|until|till)\s+(?:early\s+|late\s+|mid-?)?$", re.IGNORECASE)


# A verb of deferral then "until"/"to" ("postponed until Tuesday", "delayed to March 3"), or one granting
# time then "until" ("gave Cyprus until Monday"): the date lies after the deferring, whatever its tense.
_DEFERRED_TO_RE = re.compile(
    r"(?:\b(?:postpon|delay|defer|adjourn|put\s+off|push(?:ed|es|ing)?\s+back|extend|recess|reschedul)\w*"
    r"(?:\s+[\w'-]+){0,6}?\s+(?:until|till|to)"
    r"|\b(?:give|gives|gave|given|giving|grant\w*|allow\w*)(?:\s+[\w'-]+){0,6}?\s+(?:until|till))"
    r"\s+(?:early\s+|late\s+|mid-?)?$",
    re.IGNORECASE,
)


def _deferred_to(text: str, start: int) -> bool:
    return _DEFERRED_TO_RE.search(text, max(sentence_start_of(text, start), start - 80), start) is not None


def calendar_tense(text: str, start: int, end: int) -> str | None:
    """The tense of a month or month-day: a deadline preposition before it says future, else ``sentence_tense``."""
    if _DEADLINE_BEFORE_RE.search(text, max(0, start - 16), start) or _deferred_to(text, start):
        return "future"
    # "bought from Aug. 26 to Oct. 20": a range of dates, past or future as the rest of the sentence says.
    return sentence_tense(text, start, end, from_says_future=False)


# A clock time just before a weekday ("at 15:00 GMT Saturday", "until 9 a.m. EST Tuesday") belongs to it:
# the tense cues are read before the clock, and a deadline preposition before the clock says future.
_CLOCK_BEFORE_WEEKDAY_RE = re.compile(
    rf"(?:\d{{1,2}}[:.][0-5]\d(?:\s*[ap]\.?m\b\.?)?|\d{{1,2}}\s*[ap]\.?m\b\.?|noon|midnight)"
    rf"(?:\s*(?-i:{TIME_ZONES})\b)?(?:\s*\(\d{{4}}\s*(?-i:GMT|UTC)\))?,?\s+(?:on\s+)?$",
    re.IGNORECASE,
)
_CLOCK_LEAD_IN_RE = re.compile(r"(?:\b(?:at|by|until|till|before|from)\s+)?(?:(?:about|around|approximately)\s+)?$")


def weekday_tense(text: str, start: int, end: int) -> str | None:
    """The tense of a weekday, read from before the clock time that leads into it, if any."""
    if _deferred_to(text, start):
        return "future"
    clock = _CLOCK_BEFORE_WEEKDAY_RE.search(text, max(0, start - 40), start)
    if clock is not None:
        lead_in = _CLOCK_LEAD_IN_RE.search(text, max(0, clock.start() - 24), clock.start())
        start = lead_in.start()
        if lead_in[0][:2].lower() in ("by", "un", "ti", "be"):
            return "future"  # "gave them until 9 a.m. Tuesday": a deadline with an hour lies ahead
    tense = sentence_tense(text, start, end)
    if tense is None and _DEADLINE_BEFORE_RE.search(text, max(0, start - 16), start):
        return "future"  # "until Monday" with nothing saying past
    return tense
