import re

from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.entities import (
    TEMPORAL_LABELS,
    canonical_names,
    extract_entities,
    normalise_mention,
    split_for_ner,
)
from textdrops.config import DEFAULT_NER_MODEL

SEED_TEXT = (
    "Russian President Vladimir Putin announced late on Monday that he will begin withdrawing the main part of "
    "the Russian military ground forces in Syria beginning on Tuesday.\n\n"
    "According to Kremlin spokesman Dmitry Peskov has informed Syrian President Bashar al-Assad of the "
    "decision.\n\n"
    "President Putin said the talks in Geneva would go on. Assad welcomed the decision."
)


def test_ner_finds_the_seed_people_and_places_with_exact_offsets():
    (spans,) = extract_entities([SEED_TEXT], DEFAULT_NER_MODEL)
    found = {(SEED_TEXT[s:e], label) for s, e, label in spans}
    assert ("Vladimir Putin", "PERSON") in found
    assert ("Syria", "GPE") in found
    assert ("Dmitry Peskov", "PERSON") in found
    assert any(label in TEMPORAL_LABELS for _, _, label in spans)  # "late on Monday", "Tuesday"
    assert all(0 <= s < e <= len(SEED_TEXT) for s, e, _ in spans)


def test_long_documents_are_split_and_offsets_mapped_back():
    long_text = "\n\n".join([SEED_TEXT] * 40)
    (whole,) = extract_entities([long_text], DEFAULT_NER_MODEL, max_chars=1_000)
    people = [long_text[s:e] for s, e, label in whole if label == "PERSON"]
    assert people.count("Vladimir Putin") == 40
    assert people.count("Dmitry Peskov") == 40


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab \n."), max_size=400), st.integers(min_value=1, max_value=50))
def test_split_for_ner_pieces_reassemble_the_text(text, max_chars):
    pieces = split_for_ner(text, max_chars)
    assert "".join(p for _, p in pieces) == text
    for offset, piece in pieces:
        assert text[offset : offset + len(piece)] == piece
        assert len(piece) <= max_chars


def test_canonical_names_link_short_mentions_to_the_full_name():
    mentions = [
        ("Vladimir Putin", "PERSON"),
        ("President Putin", "PERSON"),
        ("Putin", "PERSON"),
        ("Bashar al-Assad", "PERSON"),
        ("Assad", "GPE"),
        ("the Kremlin", "ORG"),
        ("Russian", "NORP"),
        ("Russian-US", "NORP"),
        ("Putin’s", "PERSON"),
    ]
    assert canonical_names(mentions) == [
        "Vladimir Putin",
        "Vladimir Putin",
        "Vladimir Putin",
        "Bashar al-Assad",
        "Bashar al-Assad",
        "Kremlin",
        "Russian",
        "Russian-US",
        "Vladimir Putin",
    ]


def test_normalise_mention_strips_titles_only_for_people():
    assert normalise_mention("Prime Minister  Theresa May", "PERSON") == "Theresa May"
    assert normalise_mention("“Reuters”", "ORG") == "Reuters"
    assert normalise_mention("President Hotel", "FAC") == "President Hotel"


# names made of a few words, any case, joined by spaces, hyphens and the odd control or non-ASCII character
_NAME_CHARS = st.sampled_from(list("abAB") + [" ", "-", "\t", "\x1c", "é", "É", "İ", "ß", "K"])


@settings(max_examples=2000, deadline=None)
@given(st.text(_NAME_CHARS, max_size=6), st.text(_NAME_CHARS, max_size=12))
def test_a_short_name_is_part_of_a_long_one_exactly_as_the_word_aligned_pattern_says(short, long):
    from tasks.entities import _is_part_of

    pattern = r"(?:^|[\s-])" + re.escape(short) + r"(?:$|[\s-])"  # the definition the fast path follows
    expected = len(short) < len(long) and re.search(pattern, long, flags=re.IGNORECASE) is not None
    assert _is_part_of(short, long) == expected
