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
  clock, and a clock time next to a day ("Saturday at 3 p.m.") or in a clause naming one day ("Saturday's
  match kicks off at 17:00") is on that day; a verb of deferral or of granting time before "until"/"to"
  ("postponed until Tuesday", "gave Cyprus until Monday") and "is" on a day ("Kick-off is on Sunday") say
  future, "from Monday" in a sentence told in the past starts a past range; seasons follow the tense as
  months do, and a bare month told in the simple past just before it is the one before;
- "the week of March 6" and "Easter week" are that ISO week; "the second half of next year" is one
  expression of that year;
- durations are told from points ("a month" P1M, "a month ago" 2016-02; "the next decade" P10Y), both
  ends of a range carry a duration ("12 to 18 months": P12M and P18M), each year of a span of years its
  own value ("2008-09"), abbreviated years ("'58") their century from the reference date;
- frequencies are TimeML SETs ("annually" P1Y, "every morning" XXXX-XX-XXTMO, "every two years" P2Y,
  "Tuesday nights" XXXX-WXX-2TNI), and "today" used generically ("than today", "today's computers") is
  PRESENT_REF;
- what cannot be resolved with some confidence keeps its text and type with a null value ("the turn of
  the century", an NER span no pattern explains): a wrong value costs a consumer more than a missing one.

One compiled regex finds all candidates in a single pass; spaCy DATE/TIME spans are merged in afterwards.

Where each part lives (names with a leading underscore are private to the package, not to their module):

- ``families.py``: one record per expression family (pattern, first words, normaliser, TIMEX3 types);
- ``candidates.py``: the combined regex and the prefilters derived from the records (first-word trie,
  windows around trigger words);
- ``normalise.py``: each family's normaliser, from a match to a TIMEX3 value;
- ``tense.py``: the sentence's tense and direction cues for underspecified dates;
- ``values.py``: TIMEX3 values and intervals (days, weeks, months, quarters, years) and the output type;
- ``vocabulary.py``: month, weekday and number words and the regex fragments built from them;
- ``extract.py``: ``extract_dates``, the driver (ranges, clock times on their day, NER spans merged in);
- ``reference.py``: each document's reference date (manifest, dateline, drop date).
"""

from __future__ import annotations

from .extract import dated_rows, extract_dates
from .reference import reference_date_from_dateline, reference_dates
from .values import TemporalExpression

__all__ = ["TemporalExpression", "dated_rows", "extract_dates", "reference_date_from_dateline", "reference_dates"]
