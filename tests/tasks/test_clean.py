"""Tests for tasks.clean: real articles (seeds, Reuters, WikiRef, BBC) and hypothesis properties."""

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.clean import (
    CLEAN_RULES,
    CleanedDocument,
    article_structure,
    clean_document,
    document_line_keys,
    learn_boilerplate,
    line_key,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SEED_RUDAW = FIXTURES / "seeds" / "000_f69c75c0d5ceb9f3.txt"
SEED_SPUTNIK = FIXTURES / "seeds" / "001_7829b123e079136c.txt"
CLEAN = FIXTURES / "clean"


def _read_utf8(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def _paragraphs(doc: CleanedDocument) -> list[str]:
    return doc.text.split("\n\n")


def _first_copy_lines(raw: str, last_line: str) -> list[str]:
    """The original lines of the first copy of a seed body, up to and including `last_line`."""
    lines = [line for line in raw.splitlines() if line.strip()]
    return lines[: lines.index(last_line) + 1]


# --- seeds ------------------------------------------------------------------------------------------------


def test_rudaw_seed_drops_comment_section_and_second_copy():
    raw = _read_utf8(SEED_RUDAW)
    doc = clean_document(raw)

    assert "Rudaw moderates" not in doc.text
    assert "Post a comment" not in doc.text
    assert "community guidelines" not in doc.text
    assert not doc.text.endswith("Comments")
    assert doc.text.count("Peace talks restarted in Geneva") == 1
    assert doc.removed_chars["comment_section"] > 0
    assert doc.removed_lines["comment_section"] == 6
    assert doc.removed_chars["repeated_paragraph"] > 0
    assert doc.title is None


def test_rudaw_seed_keeps_every_sentence_of_the_first_copy():
    raw = _read_utf8(SEED_RUDAW)
    doc = clean_document(raw)
    last = (
        "Peace talks restarted in Geneva on Monday following the success of a Russian-US brokered "
        "ceasefire which went into effect last February 27 and has largely held to date."
    )

    first_copy = _first_copy_lines(raw, last)

    assert len(first_copy) == 9
    assert _paragraphs(doc) == first_copy


def test_sputnik_seed_drops_photo_credit_comment_prompts_and_second_copy():
    doc = clean_document(_read_utf8(SEED_SPUTNIK))

    assert "©" not in doc.text
    assert "Sputnik/ Alexei Druzhinin" not in doc.text
    assert "No comments:" not in doc.text
    assert "Post a Comment" not in doc.text
    assert doc.text.count("The withdrawal will begin on Tuesday.") == 1
    assert doc.removed_lines["photo_credit"] == 2
    assert doc.removed_chars["comment_section"] > 0
    assert doc.text.startswith("Russian President Vladimir Putin has confirmed")
    assert doc.title is None


def test_sputnik_seed_rejoins_the_hard_wrapped_sentence():
    raw = _read_utf8(SEED_SPUTNIK)
    doc = clean_document(raw)
    joined = (
        "On Monday, President Putin indicated that the Kremlin will start withdrawing its main forces "
        "in Syria, saying that the military has largely achieved its objectives."
    )

    assert joined in _paragraphs(doc)
    assert "\nMonday" not in doc.text
    # Every sentence of the first copy survives, with the wrapped one rejoined.
    last = (
        "Earlier on Monday, Russian Foreign Minister Sergei Lavrov said that Moscow's anti-terrorist air "
        "campaign created the conditions for political process on Syrian reconciliation."
    )
    first_copy = _first_copy_lines(raw, last)[2:]  # after the "©" / credit lines
    sentences = [line for line in first_copy if line.endswith((".", '"'))]
    for sentence in sentences:
        assert doc.text.count(sentence) == 1, sentence


# --- Reuters: headline, dateline, wrapped lines, indented paragraphs, tables -----------------------------


def test_reuters_article_title_dateline_and_paragraphs():
    doc = clean_document(_read_utf8(CLEAN / "reuters_00002.txt"))

    assert doc.title == "STANDARD OIL <SRD> TO FORM FINANCIAL UNIT"
    assert "STANDARD OIL <SRD>" not in doc.text
    assert doc.text.startswith("CLEVELAND, Feb 26 - Standard Oil Co and BP North America Inc said")
    assert _paragraphs(doc) == [
        "CLEVELAND, Feb 26 - Standard Oil Co and BP North America Inc said they plan to form a venture "
        "to manage the money market borrowing and investment activities of both companies.",
        "BP North America is a subsidiary of British Petroleum Co Plc <BP>, which also owns a 55 pct "
        "interest in Standard Oil.",
        "The venture will be called BP/Standard Financial Trading and will be operated by Standard Oil "
        "under the oversight of a joint management committee.",
    ]


def test_reuters_table_rows_stay_rows_and_prose_is_joined():
    doc = clean_document(_read_utf8(CLEAN / "reuters_00005_table.txt"))
    blocks = _paragraphs(doc)

    assert doc.title == "NATIONAL AVERAGE PRICES FOR FARMER-OWNED RESERVE"
    assert blocks[0].startswith("WASHINGTON, Feb 26 - The U.S. Agriculture Department reported")
    assert blocks[0].endswith("as follows (Dlrs/Bu-Sorghum Cwt) -")
    table = blocks[1].split("\n")
    assert len(table) == 7
    assert table[2] == " Wheat   2.55   2.40       IV     4.65     --"
    # Repeated short rows ("V 4.65 --" style) are content, never dropped as repeats.
    assert doc.text.count("Natl   Loan") == 2
    assert doc.removed_chars["repeated_paragraph"] == 0
    assert blocks[-1].startswith("Reserves I, II and III have matured. Level IV reflects grain entered")
    assert blocks[-1].endswith("n.a.-not available.")


# --- WikiRef (cp1252, CRLF) and BBC ----------------------------------------------------------------------


def test_wikiref_cp1252_crlf_article():
    raw = (CLEAN / "wikiref_U2.149_cp1252_crlf.txt").read_bytes().decode("cp1252", errors="replace")
    doc = clean_document(raw)

    assert "\r" not in doc.text
    assert doc.title == "Mandela: Long Walk to Freedom’ Trailer Features New U2 Song ‘Ordinary Love’"
    assert doc.text.startswith("A just-released trailer for the movie “Mandela: Long Walk to Freedom”")
    assert "heroes–the band’s song “Pride (In the Name of Love)”" in doc.text
    assert len(_paragraphs(doc)) == 5


def test_wikiref_article_read_as_latin1_is_repaired():
    """A loader that guessed latin-1 leaves C1 controls; ftfy reads them as the cp1252 they were."""
    raw = (CLEAN / "wikiref_U2.149_cp1252_crlf.txt").read_bytes().decode("latin-1")
    expected = (CLEAN / "wikiref_U2.149_cp1252_crlf.txt").read_bytes().decode("cp1252", errors="replace")

    assert clean_document(raw) == clean_document(expected)


def test_bbc_article_headline_and_paragraphs():
    raw = _read_utf8(CLEAN / "bbc_business_001.txt")
    doc = clean_document(raw)

    assert doc.title == "Ad sales boost Time Warner profit"
    assert doc.text.startswith("Quarterly profits at US media giant TimeWarner jumped 76% to $1.13bn (£600m)")
    assert _paragraphs(doc) == [p.strip() for p in raw.split("\n\n")[1:] if p.strip()]


def test_bbc_article_mojibake_from_latin1_decoding_is_repaired():
    raw = (CLEAN / "bbc_business_001.txt").read_bytes().decode("latin-1")
    doc = clean_document(raw)

    assert "(£600m)" in doc.text
    assert "Â" not in doc.text
    assert doc.removed_chars["unicode_fix"] > 0


# --- Unicode ----------------------------------------------------------------------------------------------


def test_typographic_quotes_and_dashes_survive():
    text = "He said “no” — and she said ‘yes’ – twice."

    assert clean_document(text).text == text


def test_mojibake_is_repaired_and_invisible_characters_removed():
    raw = "\ufeffI donâ€™t know\u00a0what\u200b happened\u2009here.\r\nNext\x00 line.\r\n"
    doc = clean_document(raw)

    assert doc.text == "I don’t know what happened here.\n\nNext line."
    assert doc.removed_chars["unicode_fix"] == 2
    assert doc.removed_chars["control_chars"] == 3


def test_whitespace_runs_collapse_and_tabs_become_spaces():
    doc = clean_document("A  line\twith   odd  spacing.  \n\n\n\nSecond\u2003 paragraph here.")

    assert doc.text == "A line with odd spacing.\n\nSecond paragraph here."
    assert doc.removed_chars["whitespace"] > 0


def test_nfc_normalisation():
    assert clean_document("Cafe\u0301 open.").text == "Café open."


# --- Hard wraps and structure -----------------------------------------------------------------------------


def test_lines_ending_in_sentences_stay_paragraphs_and_broken_lines_join():
    raw = "The first line ends here.\nThe second line goes\non without a stop.\nthen lower case continues."

    assert _paragraphs(clean_document(raw)) == [
        "The first line ends here.",
        "The second line goes on without a stop. then lower case continues.",
    ]


def test_list_items_stay_separate_and_absorb_their_wrapped_lines():
    raw = "Key points:\n- first item that wraps\n  across two lines\n- second item\n* third item\n1. numbered"

    assert _paragraphs(clean_document(raw)) == [
        "Key points:",
        "- first item that wraps across two lines",
        "- second item",
        "* third item",
        "1. numbered",
    ]


def test_title_needs_a_blank_line_and_headline_shape():
    assert clean_document("Headline here\n\nBody text.").title == "Headline here"
    assert clean_document("A full sentence.\n\nBody text.").title is None
    assert clean_document("Headline here\nBody text.").title is None
    assert clean_document("Headline only").title is None
    long_line = " ".join(["word"] * 25)
    assert clean_document(f"{long_line}\n\nBody text.").title is None


# --- Boilerplate ------------------------------------------------------------------------------------------

ARTICLE = "The minister said the talks would resume next week in the capital."

JUNK_EXAMPLES = [
    ("contact_appeal", "Got a story? Email us at news@example.com or call 0207 782 4368"),
    ("contact_appeal", "Email: reporter@example.com; Follow the paper on Twitter"),
    ("navigation", "Read or Share this story: https://usat.ly/2Cc6gQo"),
    ("photo_credit", "Photo: Alexei Druzhinin/Sputnik"),
    ("photo_credit", "Image copyright Getty Images"),
    ("photo_credit", "AFP/Getty Images"),
    ("photo_credit", "Reuters/Kevin Lamarque"),
    ("photo_credit", "(c) Reuters"),
    ("photo_credit", "Gallery | 45 Photos"),
    ("copyright", "Copyright 2016 Rudaw"),
    ("copyright", "© 2016 Rudaw. All rights reserved."),
    ("social_prompt", "Share this article"),
    ("social_prompt", "Follow us on Twitter"),
    ("social_prompt", "Subscribe to our newsletter"),
    ("social_prompt", "Facebook Twitter Email"),
    ("advertisement", "Advertisement"),
    ("advertisement", "Story continues below advertisement"),
    ("cookie_notice", "This site uses cookies. By continuing to browse you agree to our use of cookies."),
    ("cookie_notice", "Accept all cookies"),
    ("navigation", "Read more: Putin orders withdrawal from Syria"),
    ("navigation", "Related: Kremlin says talks continue"),
    ("navigation", "Continue reading the main story"),
    ("navigation", "Click here to follow our Greece elections live blog"),
]


@pytest.mark.parametrize(("rule", "junk"), JUNK_EXAMPLES)
def test_junk_line_is_removed_and_counted(rule, junk):
    doc = clean_document(f"{ARTICLE}\n{junk}\n{ARTICLE.replace('minister', 'envoy')}")

    assert junk not in doc.text
    assert doc.removed_lines[rule] == 1
    assert doc.removed_chars[rule] == len(junk)
    assert ARTICLE in doc.text


def test_junk_split_over_two_lines_is_removed_after_rejoining():
    doc = clean_document(f"{ARTICLE}\n\nFollow us\non Twitter\n\n{ARTICLE}!")

    assert "Twitter" not in doc.text
    assert doc.removed_lines["social_prompt"] == 2


def test_related_link_list_is_removed():
    raw = f"{ARTICLE}\nRelated stories:\nKremlin hails Syria pullout\nTalks resume in Geneva\n\nLast one."
    doc = clean_document(raw)

    assert doc.text == f"{ARTICLE}\n\nLast one."
    assert doc.removed_lines["navigation"] == 3


def test_junk_words_inside_prose_are_kept():
    prose = [
        "Photo agencies said the picture was taken by a Reuters photographer on Monday.",
        "Follow us on Twitter, the minister told supporters, before the rally began.",
        "The company said all rights reserved under the contract would pass to the buyer.",
        "He declined to comment on the report, saying the matter was closed.",
        "Comments made by the minister on Monday angered the opposition parties.",
    ]
    doc = clean_document("\n".join(prose))

    assert _paragraphs(doc) == prose
    assert sum(doc.removed_chars.values()) == 0


def test_wrapped_prose_lines_that_look_like_junk_are_kept():
    """Reuters-21578 lines (articles 14917 and 07733) that alone would match a junk pattern."""
    raw = (
        "    The fund, called <Malaysian Fund Inc>, will be jointly\n"
        "sponsored by the merchant bank and the International Fund\n"
        "Corporation of the World Bank, said AMBB in a statement.\n"
        "    The committee also set conditions for the allocation of\n"
        "credits by banks to companies or individuals holding stakes in\n"
        "them, and stipulates conditions.\n"
    )
    doc = clean_document(raw)

    assert _paragraphs(doc) == [
        "The fund, called <Malaysian Fund Inc>, will be jointly sponsored by the merchant bank and the "
        "International Fund Corporation of the World Bank, said AMBB in a statement.",
        "The committee also set conditions for the allocation of credits by banks to companies or "
        "individuals holding stakes in them, and stipulates conditions.",
    ]
    assert all(count == 0 for rule, count in doc.removed_chars.items() if rule != "whitespace")


def test_repeated_data_lines_are_kept():
    """Reuters-21578 article 20414 (shortened): the quarter's net equals the nine months' net."""
    raw = (
        "JWP INC <JWP> 3RD QTR NET\n\n"
        "LAKE SUCCESS, N.Y., Oct 20 - Shr 50 cts vs 37 cts\n"
        "    Net 16.1 mln vs 9,390,000\n"
        "    Revs 168.1 mln vs 111.3 mln\n"
        "    Nine mths\n"
        "    Shr 1.31 dlrs vs 86 cts\n"
        "    Net 16.1 mln vs 9,390,000\n"
    )
    doc = clean_document(raw)

    assert doc.title == "JWP INC <JWP> 3RD QTR NET"
    assert doc.text.count("Net 16.1 mln vs 9,390,000") == 2
    assert doc.removed_chars["repeated_paragraph"] == 0


def test_comment_header_followed_by_article_text_is_not_a_tail():
    raw = f"Comments\n{ARTICLE}\nThe talks are expected to last three days and include both delegations."
    doc = clean_document(raw)

    assert doc.text.startswith(ARTICLE)
    assert doc.removed_lines["comment_section"] == 1


def test_short_repeats_are_kept_and_long_repeats_dropped():
    doc = clean_document(f"Yes.\n{ARTICLE}\nYes.\n{ARTICLE.upper()}")

    assert _paragraphs(doc) == ["Yes.", ARTICLE, "Yes."]
    assert doc.removed_lines["repeated_paragraph"] == 1


# --- Accounting and robustness ----------------------------------------------------------------------------


def test_every_rule_is_counted_even_when_nothing_is_removed():
    doc = clean_document(ARTICLE)

    assert set(doc.removed_chars) == set(CLEAN_RULES)
    assert set(doc.removed_lines) == set(CLEAN_RULES)
    assert all(value == 0 for value in doc.removed_chars.values())
    assert all(re.fullmatch(r"[a-z]+(?:_[a-z]+)*", rule) for rule in CLEAN_RULES)


@pytest.mark.parametrize(
    "raw",
    ["", "   \n\t\n", "\u200b\ufeff\x00", "©\n", "Comments\nPost a comment", "x" * 200_000, "\r\r\r"],
)
def test_degenerate_input_gives_empty_or_plain_text(raw):
    doc = clean_document(raw)

    assert "\r" not in doc.text
    assert doc.text == doc.text.strip()
    assert doc.text in ("", "x" * 200_000)


def _recleaned(text: str) -> str:
    """The body of `text` cleaned again, with a headline found on the second pass put back."""
    again = clean_document(text)
    return again.text if again.title is None else f"{again.title}\n\n{again.text}"


_NEWSY_TEXT = st.lists(
    st.one_of(
        st.text(max_size=80),
        st.sampled_from(
            [
                "",
                "  ",
                "©",
                "Comments",
                "Post a comment",
                "Advertisement",
                "    Indented paragraph starts here and",
                "wrapped continuation line.",
                " Wheat   2.55   2.40",
                "- list item",
                "A full sentence that is long enough to be deduplicated.",
                "donâ€™t",
                "e\u0301\u200b",
            ]
        ),
    ),
    max_size=12,
).map("\n".join)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), _NEWSY_TEXT))
def test_cleaning_never_raises_and_is_idempotent(raw):
    doc = clean_document(raw)

    assert set(doc.removed_chars) == set(CLEAN_RULES)
    assert all(value >= 0 for value in doc.removed_chars.values())
    assert "\r" not in doc.text
    assert "\n\n\n" not in doc.text
    assert _recleaned(doc.text) == doc.text
    if clean_document(doc.text).title is None:
        assert clean_document(doc.text).text == doc.text


# --- Learned boilerplate ----------------------------------------------------------------------------------

SITE_FOOTER = "Get the Courier briefing in your inbox every weekday"
PROSE = [
    "The minister said the talks would resume next week in the capital.",
    "Oil prices rose on Wednesday after cold weather hit the North Atlantic.",
    "The central bank left its key interest rate unchanged at 2% on Thursday.",
    "Shares in the carmaker fell sharply after it announced a product recall.",
    "Union leaders said the strike at the port would continue until Friday.",
]


def _drop(footer_in: int) -> list[str]:
    return [f"{text}\n\n{SITE_FOOTER}" if i < footer_in else text for i, text in enumerate(PROSE)]


def test_line_key_ignores_case_spacing_and_edge_punctuation():
    assert line_key("Share  this:") == line_key("share this")
    assert line_key("Net 16.1 mln") != line_key("Net 17.1 mln")


def test_line_in_many_documents_is_learned_and_removed():
    docs = _drop(footer_in=4)
    boilerplate = learn_boilerplate([document_line_keys(doc) for doc in docs], len(docs))
    doc = clean_document(docs[0], boilerplate)

    assert line_key(SITE_FOOTER) in boilerplate
    assert doc.text == PROSE[0]
    assert doc.removed_lines["learned_boilerplate"] == 1
    assert doc.removed_chars["learned_boilerplate"] == len(SITE_FOOTER)


def test_line_in_one_document_is_never_learned_however_often_it_repeats_there():
    docs = [f"{SITE_FOOTER}\n{SITE_FOOTER}\n{PROSE[0]}", *PROSE[1:]]
    key_sets = [document_line_keys(doc) for doc in docs]

    assert line_key(SITE_FOOTER) not in learn_boilerplate(key_sets, len(docs), min_docs=1, min_share=0.0)


def test_learned_line_inside_prose_is_kept():
    boilerplate = frozenset({line_key("the company said in a statement"), line_key(SITE_FOOTER)})
    raw = f"Profits rose 5%,\nthe company said in a statement\nissued on Monday.\n{SITE_FOOTER}\nand more."

    doc = clean_document(raw, boilerplate)

    assert "the company said in a statement issued on Monday." in doc.text
    assert SITE_FOOTER in doc.text
    assert doc.removed_chars["learned_boilerplate"] == 0


def test_learned_list_header_takes_its_link_titles_but_data_labels_stay():
    header = "You might also like"
    raw = f"{PROSE[0]}\n\n{header}\nBank shares rally\nWill rates rise?\n\n{PROSE[1]}"
    boilerplate = frozenset({line_key(header), line_key("Nine mths")})

    assert _paragraphs(clean_document(raw, boilerplate)) == PROSE[:2]
    earnings = "    Net 16.1 mln vs 9,390,000\n    Nine mths\n    Net 20.1 mln vs 9,390,000\n"
    assert "Nine mths" in clean_document(earnings, boilerplate).text


def test_hard_wrap_at_sentence_end_and_hyphen_is_rejoined():
    paragraph = (
        "The Fed's Open Market Committee - which sets interest rate policy in the US - voted unanimously "
        "in favour of a quarter point rise. The Fed has been gradually easing rates up since the summer, "
        "with anti-inflation rises in June, August and September, and analysts expect more of them."
    )
    raw = (
        "The Fed's Open Market Committee - which sets interest rate policy\n"
        "in the US - voted unanimously in favour of a quarter point rise.\n"
        "The Fed has been gradually easing rates up since the summer, with anti-\n"
        "inflation rises in June, August and September, and analysts expect\n"
        "more of them.\n"
    )

    assert _paragraphs(clean_document(raw)) == [paragraph]


def test_hard_wrap_at_a_hyphen_rejoins_capitalised_compounds():
    """Wrappers break "Anheuser-Busch" after its hyphen; such compounds outnumber a spaced "MacLeod- Henderson"
    about 20 to 1 among the hyphen wraps of the BBC evaluation, so the hyphen always joins without a space."""
    raw = (
        "The brewer Anheuser-Busch said the deal with the Wal-Mart chain was\n"
        "worth more than the whole of its previous contract with the Anglo-\n"
        "American group, and analysts said it would lift anti-\n"
        "inflation hopes for the sector as a whole in the coming months.\n"
    )

    joined = " ".join(raw.split()).replace("Anglo- ", "Anglo-").replace("anti- ", "anti-")

    assert _paragraphs(clean_document(raw)) == [joined]


def test_hard_wrapped_paragraph_too_short_to_measure_still_joins():
    """Reuters-21578 article 00795: three lines, so no document wrap width, broken before "26"."""
    raw = (
        "DALLAS, MARCH 2 - Diamond Shamrock Corp said it set March\n"
        "26 as the record date for stockholders entitled to vote at its\n"
        "April 30 annual meeting.\n"
    )

    assert _paragraphs(clean_document(raw)) == [" ".join(raw.split())]


def test_one_sentence_per_line_text_is_not_joined():
    """CoNLL-2003 style lines: result lines and a byline end without a stop but are not wrapped."""
    lines = [
        "Hove : Sussex 363 ( W. Athey 111 , V. Drakes 52 ; I. Austin 4-37 ) , Lancashire 197-8 ( W. Hegg 54 ) "
        "and Kent 250",
        "Portsmouth : Middlesex 199 and 426 ( J. Pooley 111 , M. Ramprakash 108 , M. Gatting 83 ) , Hampshire 232",
        "Vera Haller",
        'Dublin-born director Neil Jordan says he never lost more sleep over a film than over " Michael Collins " '
        ", his controversial epic about the IRA .",
    ]

    assert _paragraphs(clean_document("\n".join(lines))) == lines


def test_line_broken_after_a_word_that_cannot_end_it_joins():
    raw = (
        "Russian President Vladimir Putin has confirmed that Moscow will begin withdrawal of Russian forces "
        "from Syria.\nOn\nMonday, President Putin indicated that the Kremlin will start withdrawing its forces.\n"
    )

    assert _paragraphs(clean_document(raw))[1].startswith("On Monday, President Putin")


def test_hard_wrap_at_a_hyphen_follows_the_spelling_of_the_document():
    wrapped = "Hickey, Sanderson and Collier came in, and the last change was MacLeod-\nHenderson at lock."
    spaced = "The replacements were named as Fortey, Murphy and MacLeod- Henderson on Friday."
    unspaced = "The replacements were named as Fortey, Murphy and MacLeod-Henderson on Friday."

    assert "MacLeod- Henderson at lock." in clean_document(f"{spaced}\n\n{wrapped}").text
    assert "MacLeod-Henderson at lock." in clean_document(f"{unspaced}\n\n{wrapped}").text
    # No evidence either way: compounds broken by the wrapper are far more common, so the hyphen joins.
    assert "MacLeod-Henderson at lock." in clean_document(wrapped).text
    # A suspended hyphen keeps its space.
    assert clean_document("Loans to small-\nand medium-sized firms rose.").text == (
        "Loans to small- and medium-sized firms rose."
    )


# --- Datelines and data rows (CoNLL-2003 one sentence per line, Reuters earnings) ------------------------


def test_dateline_line_is_its_own_paragraph():
    raw = (
        "SOCCER - ROMANIA BEAT LITHUANIA IN UNDER-21 MATCH\n"
        "BUCHAREST 1996-08-30\n"
        "Romania beat Lithuania 2-1 ( halftime 1-1 ) in their European under-21 soccer match on Friday .\n"
    )

    assert _paragraphs(clean_document(raw)) == raw.strip().split("\n")
    for dateline in ("LONDON, March 14, 2016 (Reuters)", "SAN FRANCISCO, Calif. Aug 30", "HONG KONG 30 Aug 1996"):
        assert _paragraphs(clean_document(f"{dateline}\nThe body sentence starts here.")) == [
            dateline,
            "The body sentence starts here.",
        ]
    # A place and date that open a sentence are not a dateline line.
    lead = clean_document("LONDON, March 14 - Shares rose\non Friday.")
    assert lead.text == "LONDON, March 14 - Shares rose on Friday."


def test_score_table_run_is_kept_line_by_line():
    standings = ["AMERICAN LEAGUE", "NEW YORK 74 58 .561 -", "BALTIMORE 70 63 .526 4 1/2", "TORONTO 63 71 .470 12"]
    intro = ["Standings after games played on Thursday :", "W L PCT GB"]
    raw = "\n".join([*intro, *standings, "The Yankees lead the division ."])

    assert _paragraphs(clean_document(raw)) == [
        "Standings after games played on Thursday :",
        "W L PCT GB",
        "\n".join(standings),
        "The Yankees lead the division .",
    ]


def test_earnings_rows_and_their_labels_are_kept_line_by_line():
    raw = (
        "LAWRENCEVILLE, N.J., March 20 - Shr loss 13 cts vs loss six cts\n"
        "    Net loss 1.4 mln vs loss 635,000\n"
        "    Year\n"
        "    Shr profit 40 cts vs profit 26 cts\n"
        "    NOTE: 1986 net reflects dividend\n"
        "requirements of 1.5 mln dlrs.\n"
    )

    assert _paragraphs(clean_document(raw)) == [
        "LAWRENCEVILLE, N.J., March 20 - Shr loss 13 cts vs loss six cts",
        "Net loss 1.4 mln vs loss 635,000\nYear\nShr profit 40 cts vs profit 26 cts",
        "NOTE: 1986 net reflects dividend requirements of 1.5 mln dlrs.",
    ]


def test_wrapped_reuters_prose_with_numbers_still_joins():
    doc = clean_document(_read_utf8(CLEAN / "reuters_00005_table.txt"))

    # "... 1986-crop" style wrapped lines hold digits but are long: they are prose, not rows.
    assert all("\n" not in block for block in _paragraphs(doc) if block.startswith(("WASHINGTON", "Reserves")))
    assert _paragraphs(clean_document("The bank said net income rose to 16.1 mln dlrs in\n1986 from 9.4 mln")) == [
        "The bank said net income rose to 16.1 mln dlrs in 1986 from 9.4 mln"
    ]


# --- adversarial sizes: every step is linear in the document's length (speed is measured by
# benchmarks/adversarial.py; these check that such documents clean, and clean right) ----------------------

_TWO_MB = 2_000_000


def test_two_megabytes_of_lines_ending_in_a_hyphen_join_into_one_word():
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = [f"w{letters[i % 26]}{letters[i // 26 % 26]}-" for i in range(_TWO_MB // 5)]
    doc = clean_document("\n".join(words) + "\n")

    assert doc.title is None
    assert doc.text == "".join(words)


def test_two_megabytes_of_short_lines_join_into_one_paragraph():
    lines = ["a b"] * (_TWO_MB // 4)
    doc = clean_document("\n".join(lines))

    assert doc.text == " ".join(lines)


def test_one_two_megabyte_line_is_kept_whole():
    line = "The minister said the talks would go on. " * (_TWO_MB // 42)
    doc = clean_document(line)

    assert doc.text == line.strip()


def test_a_paragraph_repeated_through_two_megabytes_is_kept_once():
    paragraph = "Peace talks restarted in Geneva on Monday after a ceasefire held."
    doc = clean_document("\n\n".join([paragraph] * (_TWO_MB // len(paragraph))))

    assert doc.text == paragraph
    assert doc.removed_chars["repeated_paragraph"] > _TWO_MB * 0.9


# --- article structure, headers, per-paragraph wraps, template sentences (issue 17) -----------------------

_STORY = (
    "The central bank raised interest rates by a quarter of a point on Thursday, the first rise in more "
    "than a year, and said further increases were likely if prices kept climbing through the summer."
)
_SECOND = (
    "Economists had expected the move. Markets barely reacted, and the currency was little changed against "
    "the dollar by the close of trading in the afternoon."
)


@pytest.mark.parametrize(
    "structure",
    ["LONDON 1996-12-06", "LONDON, March 14 (Reuters) -", "WASHINGTON (AP) —", "By Jane Doe", "By JANE DOE"],
)
def test_dateline_or_byline_in_every_document_of_the_drop_is_kept(structure):
    docs = [f"Headline number {i}\n\n{structure}\n\n{_STORY} Item {i}." for i in range(10)]
    boilerplate = learn_boilerplate([document_line_keys(doc) for doc in docs], len(docs))
    doc = clean_document(docs[0], boilerplate)

    assert line_key(structure) in boilerplate  # it recurs in every document ...
    assert _paragraphs(doc)[0] == structure  # ... and still stays: it is article structure
    assert doc.removed_lines["learned_boilerplate"] == 0


def test_article_structure_gives_the_dateline_place_and_the_byline():
    assert article_structure("Rates rise", f"By Jane Doe and John Roe\n\nLONDON, March 14 (Reuters) - {_STORY}") == (
        "LONDON",
        "Jane Doe and John Roe",
    )
    assert article_structure(None, f"WASHINGTON (AP) — {_STORY}") == ("WASHINGTON", None)
    assert article_structure(None, f"SAN FRANCISCO 1996-08-30\n{_STORY}") == ("SAN FRANCISCO", None)
    assert article_structure(None, "SOCCER - ENGLISH LEAGUE RESULTS\n\nBy then, the season was over.") == (None, None)


def test_headline_survives_a_header_line_between_it_and_the_body():
    doc = clean_document(f"Central bank raises rates again\nListen to this article\n\n{_STORY}\n\n{_SECOND}\n")

    assert doc.title == "Central bank raises rates again"
    assert _paragraphs(doc)[1:] == [_STORY, _SECOND]


def test_paragraphs_wrapped_at_different_widths_keep_their_breaks():
    import textwrap

    # the first paragraph's wrap falls right after a full stop; its width, not the other one's, tells
    first = "Prices rose again in May. " * 6 + "Shops said trade was slow."
    raw = textwrap.fill(first, 52) + "\n\n" + textwrap.fill(_STORY + " " + _SECOND, 90) + "\n"
    doc = clean_document(raw)

    assert _paragraphs(doc) == [first, _STORY + " " + _SECOND]


def test_template_sentence_wrapped_with_the_body_is_learned_whole():
    import textwrap

    footer = "This story was produced with support from a foundation, which has no say over what we cover."
    docs = [
        textwrap.fill(f"{_STORY} Item {i}.", width) + "\n\n" + textwrap.fill(footer, width) + "\n"
        for i, width in enumerate((60, 64, 68, 72, 76, 80))
    ]
    boilerplate = learn_boilerplate([document_line_keys(doc) for doc in docs], len(docs))

    for i, raw in enumerate(docs):
        assert clean_document(raw, boilerplate).text == f"{_STORY} Item {i}."


def test_second_copy_of_a_body_loses_its_short_list_lines_too():
    body = f"{_STORY}\n\n- Rates up\n\n- Pound flat\n\n{_SECOND}"
    doc = clean_document(f"{body}\n\n{body}\n")

    assert _paragraphs(doc) == [_STORY, "- Rates up", "- Pound flat", _SECOND]


def test_caption_that_ends_in_its_credit_is_removed_and_prose_with_a_slash_is_kept():
    caption = "The app was removed from the store after the company found “inappropriate content” Dado Ruvic/Reuters"
    prose = "A Reuters/Ipsos poll found that 40 percent of Americans approve of the plan, up from 35 percent."
    doc = clean_document(f"{caption}\n{_STORY}\n{prose}\n")

    assert caption not in doc.text
    assert doc.removed_lines["photo_credit"] == 1
    assert _STORY in doc.text and prose in doc.text


def test_clean_batch_adds_dateline_place_and_byline_columns():
    import polars as pl

    from tasks.clean import clean_batch

    raw = pl.DataFrame({"raw_text": [f"Rates rise\n\nBy Jane Doe\n\nLONDON (Reuters) - {_STORY}\n", _SECOND]})
    cleaned = clean_batch(raw)

    assert cleaned["dateline_place"].to_list() == ["LONDON", None]
    assert cleaned["byline"].to_list() == ["Jane Doe", None]
    assert cleaned["title"].to_list() == ["Rates rise", None]


def test_text_without_blank_lines_has_no_headline():
    raw = "SOCCER - JAPAN GET LUCKY WIN .\nAL-AIN , United Arab Emirates 1996-12-06\nJapan began the defence .\n"

    doc = clean_document(raw)

    assert doc.title is None
    assert doc.text.startswith("SOCCER - JAPAN GET LUCKY WIN .")


def test_long_template_sentence_is_learned_at_the_end_but_kept_inside_the_article():
    footer = (
        "This article was produced by our newsroom with the support of a charitable foundation, which had "
        "no say over the subjects we chose, the people we interviewed or the conclusions we reached here."
    )
    docs = [f"{_STORY} Item {i}.\n\n{footer}\n" for i in range(6)]
    inside = f"{_STORY} Item 9.\n\n{footer}\n\n{_SECOND}\n"
    boilerplate = learn_boilerplate([document_line_keys(doc) for doc in [*docs, inside]], 7)

    assert clean_document(docs[0], boilerplate).text == f"{_STORY} Item 0."
    assert _paragraphs(clean_document(inside, boilerplate)) == [f"{_STORY} Item 9.", footer, _SECOND]


# --- drop-level learning, batch cleanup and the one dateline finder --------------------------------------


def test_boilerplate_threshold_is_three_documents_or_two_percent_of_the_drop():
    from tasks.clean import boilerplate_threshold

    assert [boilerplate_threshold(n) for n in (1, 100, 150, 151, 1000)] == [3, 3, 3, 4, 20]


def test_drop_learner_over_batch_files_learns_what_the_in_memory_learner_learns(tmp_path):
    from tasks.clean import learn_drop_boilerplate, line_key_counts

    docs = _drop(footer_in=4) + [f"{text} Again." for text in PROSE]
    paths = []
    for index, batch in enumerate((docs[:4], docs[4:])):
        path = tmp_path / f"line-keys-{index:05d}.parquet"
        line_key_counts(batch).write_parquet(path)
        paths.append(path)
    learned = learn_drop_boilerplate(paths, len(docs))

    assert learned == learn_boilerplate([document_line_keys(doc) for doc in docs], len(docs))
    assert line_key(SITE_FOOTER) in learned
    assert learn_drop_boilerplate([], 0) == frozenset()


def test_clean_documents_keeps_a_headline_only_item_and_quarantines_an_empty_one():
    import polars as pl

    from tasks.clean import clean_documents

    raw = pl.DataFrame(
        {
            "source_path": ["flash.txt", "junk.txt", "story.txt"],
            "size_bytes": [40, 30, 300],
            "raw_text": ["OIL PRICES JUMP 5 PCT\n\nShare this article\n", "Advertisement\n©\n", f"{_STORY}\n"],
        }
    )
    batch = clean_documents(raw)

    assert batch.documents["source_path"].to_list() == ["flash.txt", "story.txt"]
    assert batch.documents["text"].to_list() == ["OIL PRICES JUMP 5 PCT", _STORY]
    assert batch.quarantined.rows() == [
        ("junk.txt", "empty_after_cleanup", "no text left once cleanup removed 14 characters of junk", 30)
    ]
    # what was removed from the documents kept, per rule
    assert batch.chars_removed["social_prompt"] == len("Share this article")
    assert batch.lines_removed["social_prompt"] == 1
    assert batch.chars_removed["advertisement"] == 0


@pytest.mark.parametrize(
    ("text", "place", "date_text", "agency"),
    [
        ("LONDON 1996-12-06\n\nShares fell.", "LONDON", "1996-12-06", None),
        ("AL-AIN , United Arab Emirates 1996-12-06\nJapan began.", "AL-AIN", "1996-12-06", None),
        ("LONDON, March 14 (Reuters) - Shares fell.", "LONDON", "March 14", "Reuters"),
        ("WASHINGTON (AP) — Shares fell.", "WASHINGTON", None, "AP"),
        ("NEW YORK -- Shares fell.", "NEW YORK", None, None),
        ("SAN FRANCISCO, Calif. Aug 30\n\nShares fell.", "SAN FRANCISCO", "Aug 30", None),
        ("By Jane Doe\n\nPARIS, Feb. 21 (AFP) - Shares fell.", "PARIS", "Feb. 21", "AFP"),
        # the wire form reference dates read: any case, a weekday, a year, a dash right after the date
        ("Cleveland, Ohio, Monday, Feb 26, 1987 (AP) - Shares fell.", "Cleveland", "Feb 26, 1987", "AP"),
        ("CLEVELAND, Feb 26- Standard Oil said.", "CLEVELAND", "Feb 26", None),
        ("Shares fell in London on Monday.", None, None, None),
        ("SOCCER - ENGLISH LEAGUE RESULTS\n\nBy then, the season was over.", None, None, None),
    ],
)
def test_find_dateline_reads_every_form_cleanup_and_reference_dates_accept(text, place, date_text, agency):
    from tasks.clean import find_dateline

    dateline = find_dateline(text)

    if place is None:
        assert dateline is None
    else:
        assert (dateline.place, dateline.date_text, dateline.agency) == (place, date_text, agency)
        assert text[dateline.start : dateline.end].startswith(place)


def test_dateline_date_parts_give_year_month_and_day():
    from tasks.clean import find_dateline

    parts = [
        find_dateline(text).date_parts()
        for text in ("LONDON 1996-12-06", "NEW YORK, OCt 19 - Shr 30 cts", "PARIS, Sept. 21, 2016 (AFP) - x")
    ]

    assert parts == [(1996, 12, 6), (None, 10, 19), (2016, 9, 21)]
    assert find_dateline("WASHINGTON (AP) — The talks").date_parts() is None


# --- per-block wrap widths and wrapped template sentences (#17) ------------------------------------------


def test_paragraph_wrapped_narrower_than_the_others_is_rejoined_whole():
    # the fourth paragraph is wrapped at 44 columns, the others at 80-93; two of its lines end at a full stop
    original = _read_utf8(CLEAN / "bbc_business_001.txt").split("\n\n")
    doc = clean_document(_read_utf8(CLEAN / "bbc_business_001_wrapped_93_80_93_44_93.txt"))

    assert doc.title == original[0]
    assert _paragraphs(doc) == [paragraph.strip() for paragraph in original[1:]]


def test_wrapped_template_sentence_goes_whole_when_one_of_its_lines_is_learned_too():
    import textwrap

    story = _read_utf8(CLEAN / "bbc_business_001.txt").split("\n\n")[1].strip()
    footer = (
        "This report was made possible by a grant from the Midland Journalism Fund, which had no editorial "
        "input and did not see it before publication."
    )
    # pages wrapped at 57-59 columns break the footer alike: its first line recurs as a line of its own
    widths = (57, 58, 59, 66, 72, 80)
    docs = [f"{textwrap.fill(f'{story} Item {i}.', w)}\n\n{textwrap.fill(footer, w)}\n" for i, w in enumerate(widths)]
    boilerplate = learn_boilerplate([document_line_keys(doc) for doc in docs], len(docs))

    assert line_key("This report was made possible by a grant from the Midland") in boilerplate
    for i, raw in enumerate(docs):
        doc = clean_document(raw, boilerplate)
        assert doc.text == f"{story} Item {i}."
        assert doc.removed_chars["learned_boilerplate"] == len(footer)


def test_indented_paragraphs_at_narrow_widths_are_not_taken_for_data_rows():
    # short wrapped lines with numbers ("TimeWarner jumped 76% to $1.13bn") look like data rows unless each
    # indented paragraph is measured at its own width: the next word would not have fitted on them
    original = _read_utf8(CLEAN / "bbc_business_001.txt").split("\n\n")
    doc = clean_document(_read_utf8(CLEAN / "bbc_business_001_indented_39_61_42_40_44.txt"))

    assert _paragraphs(doc) == [paragraph.strip() for paragraph in original[1:]]
