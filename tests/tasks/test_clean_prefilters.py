"""The fast pre-checks of tasks.clean agree with the full checks they stand in front of (hypothesis)."""

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tasks.clean.junk import (
    AGENCIES,
    CAPTION_CREDIT_CHARS,
    CAPTION_CREDIT_END,
    COMMENT_HEADER,
    COMMENT_HEADER_RE,
    CONTACT_APPEAL,
    CREDIT_MARKER,
    CREDIT_MARKER_RE,
    JUNK_FAMILIES,
    JUNK_LINE,
    MAX_JUNK_CHARS,
    NAME_PATTERN,
    is_contact_appeal,
    may_be_junk,
    may_end_in_credit,
)
from tasks.clean.removals import CLEAN_RULES
from tasks.clean.structure import (
    BYLINE,
    DATELINE,
    DATELINE_ALONE,
    DATELINE_LEAD,
    MAX_BYLINE_CHARS,
    MAX_DATELINE_CHARS,
    is_structure_line,
)

# --- fast pre-checks agree with the full checks they stand in front of -----------------------------------
# Each gate may only say "cannot match" when the full check indeed does not match (speed without change).

_GATE_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(" -*•·▪►‣◦()[]/:|@.\r\n\t\x0b\x0c\x85\u2028\u2029\x00\x1f\x7f\u200b5٣abAB")),
        st.characters(),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=500, deadline=None)
@given(_GATE_TEXT)
def test_table_row_gate_agrees_with_the_gap_pattern(text):
    from tasks.clean.shapes import DIGIT, TABLE_GAP, is_table_row

    gap = TABLE_GAP.search(text)
    full = gap is not None and (DIGIT.search(text) is not None or TABLE_GAP.search(text, gap.end()) is not None)

    assert is_table_row(text) == full


@settings(max_examples=500, deadline=None)
@given(_GATE_TEXT)
def test_list_item_gate_never_hides_a_list_item(text):
    from tasks.clean.shapes import LIST_ITEM, may_be_list_item

    assert may_be_list_item(text) or LIST_ITEM.match(text) is None


@settings(max_examples=500, deadline=None)
@given(_GATE_TEXT)
def test_line_break_gate_agrees_with_the_line_break_pattern(text):
    from tasks.clean.encoding import LINE_BREAKS, has_line_break

    assert has_line_break(text) == (LINE_BREAKS.search(text) is not None)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=60))
def test_ascii_invisible_removal_agrees_with_the_pattern(text):
    from collections import Counter

    from tasks.clean.encoding import INVISIBLE, LINE_BREAKS, normalize_unicode

    counts = Counter()
    expected, n_invisible = INVISIBLE.subn("", LINE_BREAKS.sub("\n", text))

    assert normalize_unicode(text, counts) == expected.replace("\t", " ")
    assert counts["control_chars"] == n_invisible


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("ab- .,A")), min_size=1, max_size=8), min_size=1, max_size=5))
def test_join_fast_path_agrees_with_the_hyphen_join(parts):
    from tasks.clean.shapes import PLAIN, Line
    from tasks.clean.unwrap import join_hyphen_wrapped, join_wrapped

    lines = [Line(part, PLAIN, 0) for part in parts]

    assert join_wrapped(parts, lines, [None]) == join_hyphen_wrapped(parts, lines, [None])


_DATELINE_LIKE = st.builds(
    lambda place, region, date, agency, tail: f"{place}{region}{date}{agency}{tail}",
    st.sampled_from(["LONDON", "NEW YORK", "AL-AIN", "ST. LOUIS", "WINSTON-SALEM", "x"]),
    st.sampled_from(["", ", Calif.", " , United Arab Emirates", ", Fla"]),
    st.sampled_from(
        [" 1996-12-06", ", March 14", " Sept. 30, 2016", " 30 September.", " 30 September. 2016", " OCt 19", " Mar 3"]
    ),
    st.sampled_from(["", " (Reuters)", " (AP)", " (Agence France Presse)"]),
    st.one_of(st.just(""), _GATE_TEXT),
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(_DATELINE_LIKE, _GATE_TEXT))
def test_dateline_gate_never_hides_a_dateline(text):
    from tasks.clean.structure import DATELINE, may_be_dateline

    assert may_be_dateline(text) or DATELINE.fullmatch(text) is None


# --- junk families: every line a family's patterns match passes the gates in front of them -----------------


def _collapsed(text: str) -> str:
    return " ".join(text.split())


def _family_lines(family):
    """Lines one of `family`'s patterns matches whole, as cleanup sees them (whitespace collapsed)."""
    pattern = re.compile(family.alternation, re.IGNORECASE)
    return st.from_regex(pattern, fullmatch=True).map(_collapsed).filter(lambda s: s and pattern.fullmatch(s))


_FAMILIES = (*JUNK_FAMILIES, CREDIT_MARKER, COMMENT_HEADER)


@pytest.mark.parametrize("family", _FAMILIES, ids=lambda family: family.name)
def test_every_line_a_junk_family_matches_passes_its_gate_and_the_shared_gate(family):
    @settings(max_examples=300, deadline=None)
    @given(_family_lines(family))
    def check(line):
        assert family.may_match(line)
        assert len(line) > MAX_JUNK_CHARS or may_be_junk(line)

    check()


@pytest.mark.parametrize("line", ["copyright-", "Copyright-protected material", "copyright'x", "copyright+"])
def test_a_word_that_begins_with_copyright_is_no_copyright_line_to_the_pattern_or_the_gate(line):
    (family,) = (f for f in JUNK_FAMILIES if f.name == "copyright")  # hypothesis found "copyright-" once
    assert not re.fullmatch(family.alternation, line, re.IGNORECASE)
    assert not family.may_match(line)


@settings(max_examples=500, deadline=None)
@given(st.one_of(_GATE_TEXT, *(_family_lines(family) for family in _FAMILIES)))
def test_junk_gate_agrees_with_the_full_patterns(text):
    line = _collapsed(text)
    assume(line)
    matches = (
        any(pattern.fullmatch(line) for pattern in (JUNK_LINE, CREDIT_MARKER_RE, COMMENT_HEADER_RE))
        and len(line) <= MAX_JUNK_CHARS
    )

    assert may_be_junk(line) or not matches


def test_every_junk_family_counts_under_a_cleanup_rule():
    assert {family.rule for family in _FAMILIES} <= set(CLEAN_RULES)
    assert len({family.name for family in _FAMILIES}) == len(_FAMILIES)


_CREDIT_TAIL = st.builds(
    lambda head, credit: f"{head} {credit}",
    st.sampled_from(["The minister arrived on Monday.", "Crowds gathered", "x"]),
    st.one_of(
        st.from_regex(re.compile(rf"{NAME_PATTERN}\s*/\s*{AGENCIES}", re.IGNORECASE), fullmatch=True),
        st.from_regex(re.compile(r"(?:photo(?:graph)?|picture|image)s?\s*:\s*[^.!?:]{1,80}", re.I), fullmatch=True),
        st.from_regex(
            re.compile(r"[(\[](?:photo|picture|image)s?(?:\s*:|\s+by)\s*[^()\[\]]{1,80}[)\]]", re.I), fullmatch=True
        ),
    ),
).map(_collapsed)


@settings(max_examples=500, deadline=None)
@given(st.one_of(_GATE_TEXT, _CREDIT_TAIL))
def test_caption_credit_gate_never_hides_a_credit(text):
    line = _collapsed(text)
    assume(line)
    tail = line[-CAPTION_CREDIT_CHARS:]

    assert may_end_in_credit(line) or CAPTION_CREDIT_END.search(tail) is None


_APPEAL = st.builds(
    lambda appeal, address: f"{appeal} {address}",
    st.from_regex(
        re.compile(
            r"(?:e-?mail|call|contact|text|message|write to|tell|whatsapp) us|get in touch|do you have a (?:story|tip)"
            r"|got a (?:story|tip|news tip)|have a (?:story|news )?tip|send (?:us )?(?:your )?(?:tips?|stories|photos)",
            re.IGNORECASE,
        ),
        fullmatch=True,
    ),
    st.sampled_from(
        ["tips@example.com", "0207 782 4368", "https://example.com/tips", "www.example.com", "on 555-0100"]
    ),
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(_GATE_TEXT, _APPEAL, _APPEAL.map(str.upper)))
def test_contact_appeal_gates_agree_with_the_pattern(text):
    line = _collapsed(text)
    assume(line)
    full = len(line) <= MAX_JUNK_CHARS and CONTACT_APPEAL.fullmatch(line) is not None

    assert is_contact_appeal(line) == full


# --- datelines and bylines ----------------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        _DATELINE_LIKE, _DATELINE_LIKE.map(lambda s: s + " -"), _DATELINE_LIKE.map(lambda s: s + " —"), _GATE_TEXT
    )
)
def test_structure_line_gates_agree_with_the_patterns(text):
    line = _collapsed(text)
    assume(line)
    alone = DATELINE_ALONE.fullmatch(line)
    full = len(line) <= MAX_BYLINE_CHARS and (
        BYLINE.fullmatch(line) is not None
        and len(line) <= MAX_BYLINE_CHARS
        or (len(line) <= MAX_DATELINE_CHARS and (m := DATELINE.fullmatch(line)) is not None and m["place"].isupper())
        or (
            alone is not None
            and alone["place"].isupper()
            and (alone["agency"] is not None or alone["date"] is not None or alone["dash"] is not None)
        )
    )

    assert is_structure_line(line) == full


@settings(max_examples=500, deadline=None)
@given(st.one_of(_DATELINE_LIKE.map(lambda s: s + " - Text"), _GATE_TEXT))
def test_dateline_lead_capitals_gate_never_hides_a_lead(text):
    match = DATELINE_LEAD.match(text)

    assert text[:2].isupper() or match is None or not match["place"].isupper()


# --- the rest -----------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_ligature_and_width_gate_never_hides_a_fix(text):
    import ftfy.fixes

    from tasks.clean.encoding import LIGATURE_OR_WIDE

    if LIGATURE_OR_WIDE.search(text) is None:
        assert ftfy.fixes.fix_character_width(ftfy.fixes.fix_latin_ligatures(text)) == text


_ROWS = st.lists(
    st.one_of(st.sampled_from(["Shr 1.31 dlrs vs 86 cts", "Nine mths", "Net 16.1 mln vs 9,390,000", ""]), _GATE_TEXT),
    min_size=1,
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(_ROWS)
def test_data_rows_need_a_digit(texts):
    from tasks.clean.shapes import BLANK, DIGIT, PLAIN, Line
    from tasks.clean.unwrap import data_run_lines

    lines = [Line(_collapsed(text), PLAIN, 0) if _collapsed(text) else Line("", BLANK, 0) for text in texts]
    if not any(DIGIT.search(line.text) for line in lines):
        assert data_run_lines(lines, None) == set()


def test_the_spelled_out_junk_gate_checks_the_signs_the_families_declare():
    from tasks.clean.junk import JUNK_SIGN_CHARS, JUNK_SIGN_PHRASES

    # `may_be_junk` spells these out for speed: a family with a new sign must be added there too
    assert JUNK_SIGN_CHARS == ("/", "|")
    assert JUNK_SIGN_PHRASES == ("rights reserved",)
