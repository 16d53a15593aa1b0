import re
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.dates import TemporalExpression, extract_dates, reference_date_from_dateline, reference_dates

SEEDS = Path(__file__).parent.parent / "fixtures" / "seeds"
PUBLISHED = date(2016, 3, 15)  # the day after Putin's announcement of Monday 14 March 2016


def seed_text(name: str) -> str:
    return next(SEEDS.glob(f"{name}_*.txt")).read_text(encoding="utf-8")


def expression_at(text: str, phrase: str, found: list[TemporalExpression]) -> TemporalExpression:
    """The expression overlapping the first occurrence of ``phrase`` in ``text``."""
    start = text.index(phrase)
    end = start + len(phrase)
    return next(e for e in found if e.start < end and start < e.end)


def only(text: str, reference: date | None = PUBLISHED) -> TemporalExpression:
    found = extract_dates(text, reference)
    assert len(found) == 1, found
    return found[0]


# --- the seed articles ------------------------------------------------------------------------------


def test_seed_rudaw_resolves_the_withdrawal_dates():
    text = seed_text("000")
    found = extract_dates(text, PUBLISHED)

    late_monday = expression_at(text, "late on Monday", found)
    assert late_monday.date_start == date(2016, 3, 14)
    assert late_monday.part_of_day == "late"
    assert expression_at(text, "Tuesday", found).date_start == date(2016, 3, 15)
    assert expression_at(text, "tomorrow", found).date_start == date(2016, 3, 16)
    assert expression_at(text, "last February 27", found).date_start == date(2016, 2, 27)
    months = expression_at(text, "months of maintaining", found)
    assert (months.text, months.timex_type, months.value) == ("months", "DURATION", "PXM")
    assert expression_at(text, "restarted on Monday", found).date_start == date(2016, 3, 14)


def test_seed_sputnik_reads_future_tense_tuesday_as_the_publication_day():
    text = seed_text("001")
    found = extract_dates(text, PUBLISHED)

    assert expression_at(text, "will begin on Tuesday", found).date_start == date(2016, 3, 15)
    assert expression_at(text, "On\nMonday", found).date_start == date(2016, 3, 14)
    assert expression_at(text, "Earlier on Monday", found).date_start == date(2016, 3, 14)


@pytest.mark.parametrize("name", ["000", "001"])
def test_seed_offsets_slice_to_text_and_no_pronoun_or_modal_is_a_date(name):
    text = seed_text(name)
    found = extract_dates(text, PUBLISHED)

    assert found == sorted(found, key=lambda e: e.start)
    assert all(text[e.start : e.end] == e.text for e in found)
    assert not [e for e in found if e.text.lower() in ("we", "may", "march", "second", "sat")]


@pytest.mark.parametrize("name", ["000", "001"])
def test_seed_without_reference_date_finds_expressions_but_no_relative_dates(name):
    text = seed_text(name)
    found = extract_dates(text, None)

    assert [e.text for e in found] == [e.text for e in extract_dates(text, PUBLISHED)]
    weekdays = [e for e in found if "day" in e.text.lower()]
    assert weekdays and all(e.date_start is None and e.date_end is None for e in weekdays)
    assert all(e.anchor is None for e in found)


# --- families -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "start", "end"),
    [
        ("Shares fell today.", "2016-03-15", date(2016, 3, 15), date(2016, 3, 15)),
        ("They meet tomorrow.", "2016-03-16", date(2016, 3, 16), date(2016, 3, 16)),
        ("They met yesterday.", "2016-03-14", date(2016, 3, 14), date(2016, 3, 14)),
        ("Prices rose this week.", "2016-W11", date(2016, 3, 14), date(2016, 3, 20)),
        ("Prices rose last week.", "2016-W10", date(2016, 3, 7), date(2016, 3, 13)),
        ("Talks resume next week.", "2016-W12", date(2016, 3, 21), date(2016, 3, 27)),
        ("It fell earlier this month.", "2016-03", date(2016, 3, 1), date(2016, 3, 31)),
        ("It fell last month.", "2016-02", date(2016, 2, 1), date(2016, 2, 29)),
        ("Growth slowed last year.", "2015", date(2015, 1, 1), date(2015, 12, 31)),
        ("Growth will pick up next year.", "2017", date(2017, 1, 1), date(2017, 12, 31)),
        ("It was founded in 2015.", "2015", date(2015, 1, 1), date(2015, 12, 31)),
        ("Output rose in March 2016.", "2016-03", date(2016, 3, 1), date(2016, 3, 31)),
        ("The deal closed on March 14, 2016.", "2016-03-14", date(2016, 3, 14), date(2016, 3, 14)),
        ("The file is dated 2016-03-14.", "2016-03-14", date(2016, 3, 14), date(2016, 3, 14)),
        ("Signed on 14/03/2016 in Rome.", "2016-03-14", date(2016, 3, 14), date(2016, 3, 14)),
        ("Results for the first quarter.", "2016-Q1", date(2016, 1, 1), date(2016, 3, 31)),
        ("A boom in the 1990s.", "199", date(1990, 1, 1), date(1999, 12, 31)),
    ],
)
def test_dates_resolve_against_the_publication_day(text, value, start, end):
    expression = only(text)
    assert expression.timex_type == "DATE"
    assert (expression.value, expression.date_start, expression.date_end) == (value, start, end)


def test_month_day_without_year_takes_the_nearest_year():
    assert only("The truce began on February 27.").date_start == date(2016, 2, 27)
    assert only("The truce began on 27 February.").date_start == date(2016, 2, 27)
    assert only("Elections are due Aug 8.").date_start == date(2016, 8, 8)
    assert only("Sales in December were weak.").value == "2015-12"


def test_month_day_without_any_year_keeps_x_placeholder():
    expression = only("The truce began on Feb 27.", None)
    assert (expression.value, expression.date_start, expression.anchor) == ("XXXX-02-27", None, None)


def test_absolute_dates_have_no_anchor_and_relative_ones_do():
    assert only("On March 14, 2016 he spoke.").anchor is None
    assert only("He spoke yesterday.").anchor == PUBLISHED


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("He is now in Moscow.", "PRESENT_REF"),
        ("It is currently closed.", "PRESENT_REF"),
        ("He recently resigned.", "PAST_REF"),
        ("Such moves failed in the past.", "PAST_REF"),
        ("Nobody knows the future.", "FUTURE_REF"),
    ],
)
def test_vague_references(text, value):
    assert only(text).value == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("The war lasted two years.", "P2Y"),
        ("A review takes three months.", "P3M"),
        ("Prices doubled over the past two years.", "P2Y"),
        ("It was quiet for a decade.", "P10Y"),  # TimeBank writes decades in years
        ("He was held for 48 hours.", "PT48H"),
        ("It took months.", "PXM"),
    ],
)
def test_durations_have_no_dates(text, value):
    expression = only(text)
    assert (expression.timex_type, expression.value) == ("DURATION", value)
    assert expression.date_start is None and expression.date_end is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("The market opens every Monday.", "XXXX-WXX-1"),
        ("Figures are published daily.", "P1D"),
        ("The report comes out weekly.", "P1W"),
        ("Dividends are paid annually.", "P1Y"),
    ],
)
def test_sets(text, value):
    expression = only(text)
    assert (expression.timex_type, expression.value) == ("SET", value)


@pytest.mark.parametrize(
    ("text", "value", "part_of_day"),
    [
        ("They met at 3 pm.", "2016-03-15T15:00", None),
        ("Trading halted at 15:00 GMT.", "2016-03-15T15:00", None),
        ("He spoke this morning.", "2016-03-15TMO", "morning"),
        ("The vote is tonight.", "2016-03-15TNI", "night"),
        ("The blast happened on Monday night.", "2016-03-14TNI", "night"),
    ],
)
def test_times(text, value, part_of_day):
    expression = only(text)
    assert (expression.timex_type, expression.value, expression.part_of_day) == ("TIME", value, part_of_day)


def test_weekday_tense_decides_past_or_future():
    assert only("Ministers met on Thursday.").date_start == date(2016, 3, 10)
    assert only("Ministers will meet on Thursday.").date_start == date(2016, 3, 17)
    assert only("Ministers meet next Tuesday.").date_start == date(2016, 3, 22)
    assert only("Ministers met last Tuesday.").date_start == date(2016, 3, 8)
    assert only("The ban applies from Friday.").date_start == date(2016, 3, 18)


@pytest.mark.parametrize(
    "text",
    [
        "We may march on.",
        "They sat down for the second time.",
        "The troops march to the border and may stop.",
        "It rose 1.5 pct to 2,000 dlrs.",
        "Troops may march in, we are told.",
    ],
)
def test_words_that_only_look_temporal_are_not_dates(text):
    found = extract_dates(text, PUBLISHED)
    assert not [e for e in found if e.text.lower() in ("we", "may", "march", "sat", "second")]
    assert not [e for e in found if e.text in ("1.5", "2,000")]


def test_march_after_a_preposition_is_a_month():
    assert only("Output fell in March.").value == "2016-03"


def test_ner_span_wrapping_an_expression_widens_it_and_unknown_ner_dates_are_kept():
    text = "Talks lasted about two years, the same season as the harvest."
    about, season = text.index("about two years"), text.index("season")
    ner_spans = [(about, about + 15, "DATE"), (season, season + 6, "DATE"), (0, 5, "ORG")]
    found = extract_dates(text, PUBLISHED, ner_spans)
    assert [(e.text, e.value) for e in found] == [("about two years", "P2Y"), ("season", None)]


def test_ner_span_that_is_not_temporal_is_dropped():
    assert extract_dates("We agreed.", PUBLISHED, [(0, 2, "DATE")]) == []


# --- datelines ------------------------------------------------------------------------------------


def test_reuters_dateline_takes_the_year_hint():
    text = "CLEVELAND, Feb 26 - Standard Oil Co and BP North America Inc said ..."
    assert reference_date_from_dateline(text, 1987) == date(1987, 2, 26)
    assert reference_date_from_dateline(text, None) is None


def test_reuters_dateline_after_the_title_line():
    text = "STANDARD OIL <SRD> TO FORM FINANCIAL UNIT\n\nCLEVELAND, Feb 26 - Standard Oil Co said"
    assert reference_date_from_dateline(text, 1987) == date(1987, 2, 26)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("LONDON, March 14, 2016 (Reuters) - Oil prices fell.", date(2016, 3, 14)),
        ("WASHINGTON, Feb. 26 (AP) -- The Senate voted.", date(2016, 2, 26)),
        ("MOSCOW (Reuters) - Putin ordered a withdrawal.", None),
        ("RICHMOND, Va. Feb 26 - Qtly div eight cts vs 7.5 cts prior.", date(2016, 2, 26)),
        ("NEW YORK, FEb 26 - Coca-Cola Co's unit said.", date(2016, 2, 26)),
        ("Russian President Vladimir Putin announced late on Monday that he will withdraw.", None),
    ],
)
def test_dateline_forms(text, expected):
    assert reference_date_from_dateline(text, 2016) == expected


def test_reference_date_is_the_manifest_date_else_the_dateline_else_the_drop_date():
    docs = pl.DataFrame(
        {
            "published_at": [datetime(2016, 3, 10, 9, 30), None, None],
            "text": ["LONDON, March 14 (Reuters) - Oil fell.", "LONDON, March 14 (Reuters) - Oil fell.", "Oil fell."],
        },
        schema={"published_at": pl.Datetime, "text": pl.String},
    )
    frame = reference_dates(docs, date(2016, 3, 15))
    assert frame["reference_date"].to_list() == [date(2016, 3, 10), date(2016, 3, 14), date(2016, 3, 15)]
    assert frame["reference_date_source"].to_list() == ["manifest", "dateline", "drop_date"]
    without_drop_date = reference_dates(docs, None)
    assert without_drop_date["reference_date"].to_list()[2] is None
    assert without_drop_date["reference_date_source"].to_list() == ["manifest", "none", "none"]


# --- properties -----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    text=st.lists(
        st.one_of(
            st.text(max_size=8),
            st.sampled_from(["Monday", " May 5", "March", "2016", " last ", "3 pm", "years", "/", "-", " "]),
        ),
        max_size=30,
    ).map("".join),
    reference=st.one_of(st.none(), st.dates()),
)
def test_never_raises_and_offsets_slice_to_text(text, reference):
    found = extract_dates(text, reference)
    assert all(text[e.start : e.end] == e.text for e in found)
    assert [e.start for e in found] == sorted(e.start for e in found)


# --- resolution fixes measured on TempEval-3 -------------------------------------------------------


def test_bare_weekday_after_an_irregular_past_verb_is_past():
    assert only("The king met Monday with the envoy.", date(1990, 8, 15)).date_start == date(1990, 8, 13)
    assert only("Until Thursday, they had not called him a suspect.").date_start == date(2016, 3, 10)


def test_bare_month_follows_the_tense_of_its_sentence():
    october = date(1989, 10, 30)
    assert only("He stepped down in March for health reasons.", october).value == "1989-03"
    assert only("He will be named commander for a mission in December.", date(1998, 3, 4)).value == "1998-12"
    assert only("Sales in March were weak.").value == "2016-03"  # said in March: this March


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Profit rose in the quarter.", "2015-Q4"),
        ("Profit rose 5 pct in the third quarter from the year-ago quarter.", "2014-Q3"),
        ("Profit rose in the third quarter. A year earlier it fell.", "2014-Q3"),
        ("Revenue fell in the latest quarter.", "2015-Q4"),
    ],
)
def test_quarters_refer_to_the_last_reported_quarter(text, value):
    assert extract_dates(text, PUBLISHED)[-1].value == value


def test_that_year_refers_to_the_last_year_mentioned():
    found = extract_dates("He arrived in 1998. That year he was elected.", PUBLISHED)
    assert [e.value for e in found] == ["1998", "1998"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Talks resume this summer.", "2016-SU"),
        ("It opened last fall.", "2015-FA"),
        ("It was built in the winter of 1998.", "1998-WI"),
        ("Fighting eased over the weekend, officials said.", "2016-W10-WE"),
    ],
)
def test_seasons_and_the_weekend(text, value):
    assert only(text).value == value


def test_fall_as_a_noun_is_not_a_season():
    assert extract_dates("The fall in prices hurt farmers.", PUBLISHED) == []


@pytest.mark.parametrize("text", ["A 6-year-old boy was found.", "He is 52 years old.", "It pays quarterly dividends."])
def test_ages_and_adjectives_are_not_dates(text):
    assert extract_dates(text, PUBLISHED) == []


def test_recent_years_is_a_past_reference():
    assert only("Prices rose in recent years.").value == "PAST_REF"


def test_ner_numbers_and_ages_are_dropped_and_two_expressions_are_not_merged():
    text = "Smith, 44, said profit for the year ended March 31 rose."
    age, year = text.index("44"), text.index("the year ended")
    ner = [(age, age + 2, "DATE"), (year, year + len("the year ended March 31"), "DATE")]
    found = extract_dates(text, PUBLISHED, ner)
    assert [e.text for e in found] == ["the year", "March 31"]


# --- TimeML conventions found on TempEval-3 ---------------------------------------------------------


def test_month_day_months_away_follows_the_tense():
    november = date(1989, 11, 1)
    # Nearest would be next March; "the year ended" is past, so the March before.
    found = extract_dates("It had revenue of $76 million for the year ended March 31.", november)
    assert [(e.text, e.value) for e in found] == [("the year", "P1Y"), ("March 31", "1989-03-31")]
    # "plan" is a noun here, not a future cue: the nearest (past) August 21 stays.
    assert only("The thrift announced the plan Aug. 21.", date(1989, 10, 27)).value == "1989-08-21"
    assert only("The new labor pact is effective June 1.", date(1989, 10, 26)).value == "1990-06-01"
    # A week away the tense does not move it: "said" reports, the date is the coming one.
    assert only("The talks will end on March 20, he said.").value == "2016-03-20"


def test_bare_month_near_the_reference_is_the_nearest_one_whatever_the_tense():
    october = date(1989, 10, 30)
    assert only("Guidelines to be published in early November decide it.", october).value == "1989-11"
    assert only("He said the deal would close in January.", october).value == "1990-01"
    assert only("The accession was agreed for early March, an official said.", date(1999, 2, 10)).value == "1999-03"


@pytest.mark.parametrize(
    ("text", "reference", "value"),
    [
        ("The group could leave as soon as Tuesday.", date(2016, 3, 14), "2016-03-15"),
        ("The peace process, set to resume Monday, is in danger.", date(2016, 3, 20), "2016-03-21"),
    ],
)
def test_weekday_after_as_soon_as_or_set_to_is_future(text, reference, value):
    assert only(text, reference).value == value


def test_year_ago_takes_the_latest_quarter_reported_not_the_last_mentioned():
    text = (
        "Net rose in the third quarter from the year-ago quarter. "
        + "Sales were flat. " * 10
        + "Revenue rose from $9 million a year earlier."
    )
    assert extract_dates(text, PUBLISHED)[-1].value == "2014-Q3"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("In the year-ago third quarter, it earned $2 million.", "2014-Q3"),
        ("Results for last year's fourth quarter were restated.", "2015-Q4"),
        ("Profit fell in the third quarter. In the 1988 quarter it rose.", "1988-Q3"),
    ],
)
def test_quarters_with_a_year_or_year_ago_in_front(text, value):
    assert extract_dates(text, PUBLISHED)[-1].value == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("A bomb blast shocked Atlanta in nineteen ninety-six.", "1996"),
        ("January nineteen ninety-seven. Atlanta again.", "1997-01"),
        ("Jobs were promised by the year two thousand.", "2000"),
        ("It happened in the winter of nineteen ninety-four.", "1994-WI"),
    ],
)
def test_spelled_out_years(text, value):
    assert only(text).value == value


def test_spelled_thousands_without_a_year_cue_are_not_years():
    assert extract_dates("Two thousand patients wait for organs.", PUBLISHED) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("He was kidnapped at 10 p.m. Wednesday, police said.", "1998-02-11T22:00"),
        ("Negotiations broke off at noon Thursday.", "1998-02-12T12:00"),
        ("The offer was extended until 5 p.m. EST, Nov. 9.", "1997-11-09T17:00"),
    ],
)
def test_clock_time_and_its_day_are_one_time(text, value):
    expression = only(text, date(1998, 2, 13))
    assert (expression.timex_type, expression.value) == ("TIME", value)


@pytest.mark.parametrize(
    ("text", "reference", "value"),
    [
        ("Elian was found Thanksgiving Day clinging to an inner tube.", date(2000, 1, 7), "1999-11-25"),
        ("He was found in the Atlantic last Thanksgiving.", date(2000, 2, 10), "1999-11-25"),
        ("Stores expect record sales before Christmas.", date(2016, 11, 20), "2016-12-25"),
        ("Churches were full on Easter Sunday.", date(2016, 4, 2), "2016-03-27"),
        ("The campaign runs until Election Day.", date(1998, 10, 26), "1998-11-03"),
    ],
)
def test_holidays_resolve_to_their_nearest_occurrence(text, reference, value):
    assert only(text, reference).value == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("The fund has lost money for 2 1/2 years.", "P2Y6M"),
        ("The rescue took 5 1/2 hours.", "PT5H30M"),
        ("The blast lasted a minute and a half.", "PT1M30S"),
        ("The index lagged for eight trading days.", "P8D"),
        ("Payrolls grew for two decades.", "P20Y"),
        ("Wages stagnated over the past decade.", "P10Y"),
    ],
)
def test_durations_with_halves_and_decades(text, value):
    assert only(text).value == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Art of the 20th century is on show.", "19"),
        ("An 11th century temple was restored.", "10"),
        ("Prices were low in the late 1970s.", "197"),
    ],
)
def test_centuries_and_decades_take_timex3_values(text, value):
    assert only(text).value == value


def test_each_month_is_a_set_and_these_days_is_the_present():
    assert (only("Crowds gather each July.").timex_type, only("Crowds gather each July.").value) == ("SET", "XXXX-07")
    assert only("Few people write letters these days.").value == "PRESENT_REF"


def test_ner_adjectives_and_unresolvable_days_are_not_kept():
    text = "It paid a quarterly dividend on the day it was due."
    ner = [
        (text.index("quarterly"), text.index("quarterly") + 9, "DATE"),
        (text.index("the day"), text.index("the day") + 7, "DATE"),
    ]
    assert extract_dates(text, PUBLISHED, ner) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("But in June last year, the leadership fell out.", "2015-06"),
        ("In January this year, police searched the camp.", "2016-01"),
        ("Prices have risen since mid-January last year.", "2015-01"),
    ],
)
def test_month_followed_by_its_year_is_one_month(text, value):
    assert only(text).value == value


def test_a_month_and_a_year_in_two_sentences_stay_apart():
    found = extract_dates("Sales rose in February. Last year they fell.", PUBLISHED)
    assert [e.value for e in found] == ["2016-02", "2015"]


def test_abbreviations_do_not_end_the_sentence_for_the_tense():
    text = "''The father will leave at 4 a.m. EDT Thursday,'' Castro said."
    assert only(text, date(2000, 4, 5)).value == "2000-04-06T04:00"


def test_a_plan_in_the_pluperfect_is_past():
    text = "The offer had been scheduled to expire at midnight Friday."
    assert only(text, date(1989, 10, 30)).value == "1989-10-27T24:00"


def test_a_month_with_its_year_is_not_merged_with_a_following_relative_year():
    # Reuters 16643: "in December 1985 this year" used to raise KeyError and stop the whole run
    text = "Production fell sharply in December 1985 this year, the ministry said."
    found = extract_dates(text, date(1987, 6, 1))
    assert any(x.text.startswith("December 1985") and x.value == "1985-12" for x in found)
    assert all(text[x.start : x.end] == x.text for x in found)


# --- TimeML conventions: durations, anaphora, deadlines, names ----------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("The plant will run for at least 20 more years.", "P20Y"),
        ("Growth should slow over the next couple of years.", "P2Y"),
        ("Losses narrowed in the past two quarters.", "P2Q"),
        ("It returned to profit after several quarters of losses.", "PXQ"),
    ],
)
def test_durations_with_more_couple_and_quarters(text, value):
    assert only(text).value == value


def test_three_quarters_of_something_is_a_fraction():
    assert extract_dates("Iraq imports about three-quarters of its food.", PUBLISHED) == []


def test_the_last_half_of_a_year_is_its_second_half():
    assert only("Sales slowed in the last half of 1989.").value == "1989-H2"


def test_the_year_period_is_the_quarter_under_discussion_in_that_year():
    found = extract_dates("Profit rose in the third quarter. In the 1988 period, it lost money.", date(1989, 10, 26))
    assert [(e.text, e.value) for e in found] == [("the third quarter", "1989-Q3"), ("the 1988 period", "1988-Q3")]


def test_that_year_and_that_day_refer_to_the_last_date_mentioned():
    found = extract_dates("She fled in June 1998 and returned to Cuba later that year.", date(2000, 1, 28))
    assert [e.value for e in found] == ["1998-06", "1998"]
    found = extract_dates("He was shot on Oct. 23, 1998. Earlier that day, police got a fax.", date(1999, 10, 24))
    assert [(e.text, e.value) for e in found] == [("Oct. 23, 1998", "1998-10-23"), ("Earlier that day", "1998-10-23")]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("The sale should close by year-end.", "2016"),
        ("The index has risen 4% since year-end.", "2015"),
    ],
)
def test_year_end_is_the_end_of_the_reference_year(text, value):
    expression = only(text)
    assert (expression.value, expression.part_of_day) == (value, "end")


@pytest.mark.parametrize(
    ("text", "reference", "value"),
    [
        # A deadline preposition points ahead even after a past verb.
        ("Lenders extended the credit line through January.", date(1989, 10, 30), "1990-01"),
        ("The sale is part of a program to pay down the loan by February.", date(1989, 10, 30), "1990-02"),
        # "since" points back.
        ("Police have searched for him since shortly after the Oct. 23 slaying.", date(1999, 5, 6), "1998-10-23"),
        # A participle after a determiner is an adjective, not the verb of the sentence.
        ("The split would be paid on a still unspecified date in January.", date(1989, 10, 26), "1990-01"),
        # The verb may lie more than 90 characters before the month.
        (
            "Nashua's stock has fluctuated sharply on takeover speculation, rising to a high for the year of "
            "$42.875 a share in June from $29.75 in March.",
            date(1989, 10, 30),
            "1989-03",
        ),
    ],
)
def test_month_tense_cues(text, reference, value):
    assert extract_dates(text, reference)[-1].value == value


def test_ahead_of_the_weekend_is_the_coming_one():
    assert only("Traders squared positions ahead of the weekend.", date(1989, 10, 30)).value == "1989-W44-WE"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("The company blamed current market conditions.", "PRESENT_REF"),
        ("Holders may buy shares at half the then current market price.", "PAST_REF"),
        ("Sales rose in the current quarter.", "2016-Q1"),
    ],
)
def test_current_before_a_noun_is_the_present(text, value):
    assert only(text).value == value


def test_title_case_relative_words_inside_a_sentence_are_names():
    text = 'Baker said on ABC\'s "This Week" that the talks failed. This is VOA Today.'
    show = text.index("This Week")
    assert extract_dates(text, PUBLISHED, [(show, show + len("This Week"), "DATE")]) == []
    assert only("This week the talks failed.").value == "2016-W11"


def test_sentence_initial_now_with_a_comma_is_a_discourse_marker():
    assert extract_dates('Now, he says, "the plan is dead."', PUBLISHED) == []
    assert only("Now officials are investigating.").value == "PRESENT_REF"


def test_possessive_before_a_quoted_title_still_marks_a_name():
    assert extract_dates('Baker, speaking on ABC News\' "This Week," said the request was legal.', PUBLISHED) == []


def test_a_year_earlier_loss_is_the_year_earlier_quarter_not_a_duration():
    text = "It lost $5.1 million in the third quarter, compared with a year-earlier net loss of $6.2 million."
    found = extract_dates(text, date(1989, 10, 26))
    assert [(e.text, e.value) for e in found] == [("the third quarter", "1989-Q3"), ("year-earlier", "1988-Q3")]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # The planned event lies ahead of the planning ...
        ("The team planned to leave Nairobi on Thursday for Dar es Salaam.", "1998-10-01"),
        ("Protesters planned a large demonstration on Saturday.", "1998-10-03"),
        # ... but a weekday before "planned" dates the planning itself.
        ("On Friday, the Kenyan government planned to pay the families.", "1998-09-25"),
    ],
)
def test_planned_points_ahead_only_after_the_verb(text, value):
    assert only(text, date(1998, 9, 30)).value == value


def test_from_before_a_month_day_opens_a_range_not_the_future():
    found = extract_dates("It bought 100,000 shares from Aug. 26 to Oct. 20.", date(1989, 10, 30))
    assert [e.value for e in found] == ["1989-08-26", "1989-10-20"]


@pytest.mark.parametrize(
    ("text", "timex_type", "value"),
    [
        ("Lenders have expressed concerns in recent months.", "DURATION", "PXM"),
        ("But in recent weeks, sources reported delays.", "DURATION", "PXW"),
        ("The market has moved toward cheaper gear in recent years.", "DATE", "PAST_REF"),
    ],
)
def test_recent_weeks_and_months_are_durations(text, timex_type, value):
    expression = only(text)
    assert (expression.timex_type, expression.value) == (timex_type, value)


@pytest.mark.parametrize(
    "text",
    [
        "This hasn't been Kellogg Co.'s year.",
        "Tax payments would be minimal in a quarter that produced such a big loss.",
        "Good evening from the central park.",
        "The two bombings happened only minutes apart.",
        "Gonzalez said on CBS's ''60 Minutes.''",  # AP's quotes
    ],
)
def test_ner_spans_of_a_bare_unit_without_a_value_are_dropped(text):
    span = re.search(r"year|a quarter|evening|only minutes|60 Minutes", text)
    assert extract_dates(text, PUBLISHED, [(span.start(), span.end(), "DATE")]) == []


def test_ner_span_of_a_unit_after_the_is_kept():
    text = "Volume was up from Thursday and the week's most active session."
    week = text.index("week")
    found = extract_dates(text, PUBLISHED, [(week, week + 4, "DATE")])
    assert [e.text for e in found] == ["Thursday", "week"]


def test_the_following_month_counts_from_the_month_mentioned_before():
    text = "Holders asked for a sale in March. The following month, the company put itself up for sale."
    found = extract_dates(text, date(1989, 10, 27))
    assert [(e.text, e.value) for e in found] == [("March", "1989-03"), ("The following month", "1989-04")]
    assert only("That month, sales fell.", date(1989, 10, 27)).value == "1989-10"


def test_midday_is_noon():
    assert only("He is to appear before a judge at midday.").value == "2016-03-15T12:00"


def test_years_before_1900_only_after_in_or_since():
    assert only("Marti fought for independence from Spain in 1898.").value == "1898"
    assert extract_dates("The index settled at 1678.5, after 1500 shares changed hands.", PUBLISHED) == []


# --- issue 18: mechanisms that generalise (tense, abbreviated years, ranges, sets, clock + day) ---------------


@pytest.mark.parametrize(
    ("text", "reference", "value"),
    [
        # The tense cue stands before the clock time, not just before the weekday.
        ("Manchester United will play at 15:00 GMT Saturday against Chelsea.", date(2013, 3, 21), "2013-03-23T15:00"),
        # A deadline with an hour ("until 9 a.m. Tuesday") lies ahead even after a past verb.
        ("INS extended its deadline until 9 a.m. EST Tuesday.", date(2000, 4, 3), "2000-04-04T09:00"),
        ("He was kidnapped at 10 p.m. Wednesday, police said.", date(2000, 4, 3), "2000-03-29T22:00"),
    ],
)
def test_a_weekday_after_a_clock_time_takes_the_tense_of_the_sentence(text, reference, value):
    assert only(text, reference).value == value


def test_a_clock_time_next_to_a_day_is_on_that_day():
    found = extract_dates("The team will play Saturday at 3 p.m. in Rome.", date(2013, 3, 21))
    assert [e.value for e in found] == ["2013-03-23", "2013-03-23T15:00"]
    found = extract_dates("They'll kick off at 3 p.m. on Saturday.", date(2013, 3, 21))
    assert [e.value for e in found] == ["2013-03-23T15:00", "2013-03-23"]
    text = "The blast occurred at about 10:35 a.m. (0735 GMT) Friday, toppling a building."
    assert [e.value for e in extract_dates(text, date(1998, 8, 8))] == [
        "1998-08-07T10:35",
        "1998-08-07T07:35",
        "1998-08-07",
    ]
    # Not next to a day: the reference date, as before.
    assert extract_dates("He left at 3 p.m. and returned Friday.", date(2013, 3, 21))[0].value == "2013-03-21T15:00"


@pytest.mark.parametrize(
    ("text", "reference", "value"),
    [
        ("The class of '58 met again.", date(2013, 3, 21), "1958"),
        ("He has lived there since ’09, neighbours said.", date(2013, 3, 21), "2009"),
        ("It opened in June '58 with two pumps.", date(2013, 3, 21), "1958-06"),
        ("He was born in the summer of '58 in Ohio.", date(2013, 3, 21), "1958-SU"),
        ("The '60s were wild.", date(2013, 3, 21), "196"),
        ("The company was founded in 2009 and has grown since.", date(2013, 3, 21), "2009"),
        ("He has been in office since 1957.", date(2013, 3, 21), "1957"),
    ],
)
def test_bare_and_abbreviated_years(text, reference, value):
    assert only(text, reference).value == value


def test_a_quoted_number_is_not_an_abbreviated_year():
    assert extract_dates("He said '58 percent' was the figure.", PUBLISHED) == []


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("The project will take 12 to 18 months to complete.", [("12", "P12M"), ("18 months", "P18M")]),
        ("It's between two to six days for every patient.", [("two", "P2D"), ("six days", "P6D")]),
        ("He faces between 5 and 10 years in prison.", [("5", "P5Y"), ("10 years", "P10Y")]),
        ("Sentences of 5-10 years are common.", [("5", "P5Y"), ("10 years", "P10Y")]),
        ("It costs $12 to 18 months' pay.", [("18 months", "P18M")]),  # a sum of money starts nothing
    ],
)
def test_each_end_of_a_range_of_durations_carries_its_own_duration(text, values):
    found = extract_dates(text, PUBLISHED)
    assert [(e.text, e.value) for e in found] == values
    assert all(e.timex_type == "DURATION" for e in found)


@pytest.mark.parametrize(
    ("text", "timex_type", "value"),
    [
        ("It took a month to build.", "DURATION", "P1M"),
        ("He left a month ago.", "DATE", "2016-02"),
        ("Growth will be slow over the next decade.", "DURATION", "P10Y"),
        ("It will happen next decade.", "DATE", "202"),
    ],
)
def test_durations_versus_points(text, timex_type, value):
    expression = only(text)
    assert (expression.timex_type, expression.value) == (timex_type, value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("He jogs every morning before work.", "XXXX-XX-XXTMO"),
        ("Polls are held every four years.", "P4Y"),
        ("They meet every other week.", "P2W"),
        ("The show airs Tuesday nights.", "XXXX-WXX-2TNI"),
        ("Mass is said every Sunday morning.", "XXXX-WXX-7TMO"),
        ("The agency reports hourly.", "PT1H"),
    ],
)
def test_frequencies_are_timeml_sets(text, value):
    expression = only(text)
    assert (expression.timex_type, expression.value) == ("SET", value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("The firm was founded in the fall.", "2012-FA"),
        ("The ship sank in the summer.", "2012-SU"),
        ("The talks will resume in the summer.", "2013-SU"),
        ("They met in the winter.", "2012-WI"),  # the winter of 2012-13, over by late March
        ("He plans to visit in the spring.", "2013-SP"),
        ("The sector is going to start getting beat up in the spring.", "2013-SP"),
    ],
)
def test_a_season_without_a_year_follows_the_tense_of_its_sentence(text, value):
    assert only(text, date(2013, 3, 21)).value == value


def test_the_fall_of_something_is_not_a_season():
    assert extract_dates("The fall of Rome was slow, and the fall in prices hurt.", PUBLISHED) == []


def test_a_court_case_abbreviation_does_not_end_the_sentence():
    text = "In January, a week after the anniversary of Roe vs. Wade, a clinic was bombed."
    assert extract_dates(text, date(1998, 10, 25))[0].value == "1998-01"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("The tournament starts on Saturday.", "2013-03-23"),
        ("Voters go to the polls on Sunday.", "2013-03-24"),
        ("Leaders meet Monday in Brussels.", "2013-03-25"),
        ("Cyprus has until Monday to raise the money.", "2013-03-25"),
        ("The film opens on Christmas Day.", "2013-12-25"),
        # ... but a past verb, or nothing at all, keeps the day before.
        ("They stayed until Monday.", "2013-03-18"),
        ("The bank said on Tuesday it would close branches.", "2013-03-19"),
        ("He died on Sunday at the age of 81.", "2013-03-17"),
    ],
)
def test_a_present_tense_verb_of_schedule_points_ahead(text, value):
    assert only(text, date(2013, 3, 21)).value == value


def test_a_present_tense_verb_used_of_a_holding_says_nothing_of_the_time():
    text = "The move follows Tuesday's declaration by Ford, which holds a 12.45% stake in Jaguar."
    assert only(text, date(1989, 10, 27)).value == "1989-10-24"


@pytest.mark.parametrize(
    ("text", "value", "part"),
    [
        ("He will step down at the end of the month.", "2013-03", "end"),
        ("The deal should close by the end of the year.", "2013", "end"),
        ("Rates rise at the beginning of next year.", "2014", "start"),
    ],
)
def test_the_end_or_beginning_of_a_period(text, value, part):
    expression = only(text, date(2013, 3, 21))
    assert (expression.value, expression.part_of_day) == (value, part)


def test_the_turn_of_the_century_is_left_without_a_value_rather_than_guessed():
    assert extract_dates("At the turn of the century, few had phones.", date(2013, 3, 21)) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Intel chips are in many of today's personal computers.", "PRESENT_REF"),
        ("Phones were dearer then than today.", "PRESENT_REF"),
        ("By today's standards it was slow.", "PRESENT_REF"),
        ("Today's session was quiet.", "2016-03-15"),
        ("The index of today's prices rose.", "2016-03-15"),
        ("He left today, officials said.", "2016-03-15"),
    ],
)
def test_today_used_generically_is_the_present_not_the_day(text, value):
    assert only(text).value == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # Told in the simple past: the December before, though next December is nearer.
        ("The operator changed from a fiscal year to a calendar year in December.", "1988-12"),
        ("Sales rose in November, the company said.", "1988-11"),
        # A modal, an infinitive, a passive participle or a deadline keep the nearest (coming) one.
        ("He said the deal would close in December.", "1989-12"),
        ("The company agreed to buy the line in December.", "1989-12"),
        ("Final guidelines to be published in early November will decide it.", "1989-11"),
        ("Regulators gave Merieux until mid-November to submit information.", "1989-11"),
    ],
)
def test_a_month_told_in_the_simple_past_is_the_one_before(text, value):
    assert only(text, date(1989, 10, 27)).value == value


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("Output fell in 2008-2009.", [("2008", "2008"), ("2009", "2009")]),
        ("The 2012-13 season ended badly.", [("2012", "2012"), ("13", "2013")]),
        ("In 1999-00 the club won.", [("1999", "1999"), ("00", "2000")]),
        ("Sugar output in the 1986/87 crop year fell.", [("1986", "1986"), ("87", "1987")]),
        ("Between 2000-3000 people came.", []),
    ],
)
def test_each_year_of_a_span_of_years_has_its_own_value(text, values):
    assert [(e.text, e.value) for e in extract_dates(text, PUBLISHED)] == values


@pytest.mark.parametrize(
    "text",
    [
        "His car was spotted in the neighborhood in the weeks before the shooting.",
        "She was seen crossing the border days after a sniper killed the doctor.",
    ],
)
def test_a_vague_stretch_anchored_on_an_event_is_a_date_without_a_value(text):
    found = only(text)
    assert (found.timex_type, found.value) == ("DATE", None)


@pytest.mark.parametrize(
    ("text", "value"),
    [("The talks dragged on for weeks.", "PXW"), ("It is a matter of days before he leaves.", "PXD")],
)
def test_a_vague_stretch_on_its_own_stays_a_duration(text, value):
    found = only(text)
    assert (found.timex_type, found.value) == ("DURATION", value)


@pytest.mark.parametrize(
    "text",
    [
        "Protesters started a series of ``Spring of Life'' demonstrations in 1992.",
        "The Arab Spring toppled four rulers.",
        "She won gold at the Summer Olympics.",
        "Diana Rigg was best actress for Suddenly Last Summer.",
        "A free kick from the left by Winter was met by Byrne.",
    ],
)
def test_a_season_in_title_case_inside_a_sentence_is_a_name(text):
    assert all(e.text.lower() not in ("spring", "summer") for e in extract_dates(text, PUBLISHED))


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Summer will come early.", "SU"),
        ("They expect to seal a final agreement by Spring 2005.", "SP"),
        ("The new show will launch in Spring next year.", "SP"),
        ("In the approach to Spring, the market becomes more sensitive.", "SP"),
    ],
)
def test_a_capitalised_season_at_the_start_after_a_preposition_or_before_a_year_is_still_a_season(text, code):
    seasons = [e for e in extract_dates(text, PUBLISHED) if e.text.rstrip(" 0123456789") in ("Summer", "Spring")]
    assert len(seasons) == 1 and seasons[0].value.endswith(code)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("In London at mid-afternoon yesterday, the shares were up 2 pence.", "2016-03-14TAF"),
        ("The vote is due late evening tomorrow.", "2016-03-16TEV"),
    ],
)
def test_a_part_of_day_before_yesterday_or_tomorrow_is_that_part_of_that_day(text, value):
    assert (only(text).timex_type, only(text).value) == ("TIME", value)


def test_a_scheduled_meeting_with_an_adverb_before_the_weekday_is_ahead():
    # Friday 1 May 1998: "meet separately Monday" is the Monday to come
    found = only("He and Arafat meet separately Monday with the Secretary of State.", date(1998, 5, 1))
    assert found.value == "1998-05-04"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("He was arrested on Monday and appeared in court the next morning.", "2016-03-15TMO"),
        ("On March 3 the plant closed; the following day workers protested.", "2016-03-04"),
        ("The vote was on Feb. 10; the previous day, talks broke down.", "2016-02-09"),
    ],
)
def test_the_next_morning_counts_from_the_day_the_story_is_at(text, value):
    assert extract_dates(text, PUBLISHED)[-1].value == value


def test_the_next_morning_with_no_day_before_it_has_no_value():
    found = only("He appeared in court the next morning.")
    assert (found.text, found.timex_type, found.value) == ("the next morning", "TIME", None)


@pytest.mark.parametrize(
    ("text", "reference", "value"),
    [
        # a copula between the modal and the participle: still the modal's future
        ("Banks will remain closed until Tuesday.", date(2013, 3, 22), "2013-03-26"),
        ("Banks will stay closed until Tuesday, the central bank said.", date(2013, 3, 22), "2013-03-26"),
        # a verb of deferral then "until"/"to": the new date lies after the deferring, whatever its tense
        ("Officials postponed until Tuesday any action on the case.", date(2013, 3, 22), "2013-03-26"),
        ("The vote was postponed to March 3 after talks broke down.", date(2013, 2, 20), "2013-03-03"),
        ("The ECB gave Cyprus until Monday to raise the money.", date(2013, 3, 22), "2013-03-25"),
        # what is (not was) on a day is still to come
        ("Kick-off is on Sunday.", date(2013, 3, 22), "2013-03-24"),
        # "from" a day in a sentence told in the past starts a past range
        ("The strike lasted from Monday to Wednesday.", date(2013, 3, 22), "2013-03-18"),
        # "vote" after a determiner is a noun, not a verb of schedule
        ("The bill passed on a 221-207 vote Thursday.", date(2013, 3, 22), "2013-03-21"),
    ],
)
def test_the_sentence_says_whether_a_date_lies_ahead(text, reference, value):
    assert extract_dates(text, reference)[0].value == value


def test_early_on_a_weekday_morning_keeps_the_part_of_the_day():
    found = only("The quake struck early Friday morning, officials said.", date(2013, 3, 22))
    assert (found.timex_type, found.value) == ("TIME", "2013-03-22TMO")


@pytest.mark.parametrize(
    ("text", "span", "value"),
    [
        ("Tickets are on sale for the week of March 6.", "the week of March 6", "2013-W10"),
        ("Sales rose in the week ending March 9.", "the week ending March 9", "2013-W10"),
        ("Shops were busy during Easter week.", "Easter week", "2013-W13"),
    ],
)
def test_the_week_of_a_day_is_that_week(text, span, value):
    found = only(text, date(2013, 3, 22))
    assert (found.text, found.timex_type, found.value) == (span, "DATE", value)


def test_a_clock_time_is_on_the_one_day_its_clause_names():
    found = extract_dates("Saturday's match kicks off at 17:00 GMT.", date(2013, 3, 22))
    assert [e.value for e in found] == ["2013-03-23", "2013-03-23T17:00"]


@pytest.mark.parametrize(
    ("text", "span", "value"),
    [
        ("Analysts expect the results in the second half of the year.", "the second half of the year", "2013-H2"),
        ("Growth should pick up in the second half of next year.", "the second half of next year", "2014-H2"),
        ("Sales rose in the first quarter of this year.", "the first quarter of this year", "2013-Q1"),
        ("Earnings in the first half of last year were weak.", "the first half of last year", "2012-H1"),
        # told in the past, a quarter still ahead this year is last year's
        ("The company lost money in the final quarter of the year.", "the final quarter of the year", "2012-Q4"),
    ],
)
def test_a_quarter_or_half_of_a_named_year_is_one_expression(text, span, value):
    found = only(text, date(2013, 3, 22))
    assert (found.text, found.value) == (span, value)


@pytest.mark.parametrize(
    "text",
    ["Unemployment is higher today than at any time in a decade.", "Phones are more powerful today than PCs were."],
)
def test_today_in_a_comparison_is_the_present(text):
    assert next(e for e in extract_dates(text, date(2013, 3, 22)) if e.text == "today").value == "PRESENT_REF"


def test_an_amount_a_year_is_a_rate():
    found = only("He earns $5 million a year.", date(2013, 3, 22))
    assert (found.timex_type, found.value) == ("SET", "P1Y")


@pytest.mark.parametrize(
    ("text", "span", "value"),
    [
        ("This past weekend, fans lined the streets.", "This past weekend", "2013-W11-WE"),
        ("Over the past weekend, fans lined the streets.", "the past weekend", "2013-W11-WE"),
        ("This past week was busy.", "This past week", "2013-W11"),
        ("The store will open in spring 2014.", "spring 2014", "2014-SP"),
    ],
)
def test_past_weekends_and_seasons_of_a_year(text, span, value):
    found = only(text, date(2013, 3, 22))
    assert (found.text, found.value) == (span, value)


def test_earlier_counts_back_from_the_date_just_said():
    text = "Turnout was 60 percent in 2008, up from 55 percent four years earlier."
    assert [e.value for e in extract_dates(text, date(2013, 3, 22))] == ["2008", "2004"]
    # "ago" always counts from the reference date
    assert [e.value for e in extract_dates("In 2008 he said it began four years ago.", date(2013, 3, 22))] == [
        "2008",
        "2009",
    ]


def test_in_the_past_before_a_range_of_durations_is_not_the_past():
    found = extract_dates("Police made 20 arrests in the past two to three days.", date(2013, 3, 22))
    assert [(e.text, e.value) for e in found] == [("two", "P2D"), ("three days", "P3D")]


def test_a_range_ends_after_it_starts():
    found = extract_dates("The hurricane season runs from June 1 to November 30.", date(2013, 3, 22))
    assert [(e.value, e.date_start) for e in found] == [
        ("2013-06-01", date(2013, 6, 1)),
        ("2013-11-30", date(2013, 11, 30)),
    ]


def test_a_weekday_before_a_day_and_month_is_part_of_that_date():
    found = only("Scotland host Italy on Saturday 23 March.", date(2013, 3, 20))
    assert (found.text, found.value) == ("Saturday 23 March", "2013-03-23")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # a deadline: this year's quarter, still ahead
        ("It expects to complete the deal by the end of the second quarter.", "2013-Q2"),
        # results are reported after the quarter: last year's
        ("The company will report fourth-quarter results next week.", "2012-Q4"),
    ],
)
def test_a_quarter_not_yet_begun_is_last_years_unless_it_is_a_deadline(text, value):
    assert extract_dates(text, date(2013, 3, 22))[0].value == value


def test_a_range_of_days_gives_each_day():
    found = extract_dates("The conference takes place from 3 to 5 April in Berlin.", date(2013, 3, 22))
    assert [(e.text, e.value) for e in found] == [("3", "2013-04-03"), ("5 April", "2013-04-05")]
