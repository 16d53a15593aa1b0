"""Property tests: entity offsets stay exact when long texts are split for NER and mapped back."""

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tasks.entities import extract_entities, load_ner, split_for_ner
from textdrops.config import DEFAULT_NER_MODEL

# Sentences of the seed articles (tests/fixtures/seeds), each naming people, places or organisations.
SEED_SENTENCES = (
    "Russian President Vladimir Putin has confirmed that Moscow will begin withdrawal of Russian forces from Syria.",
    "According to Kremlin spokesman Dmitry Peskov has informed Syrian President Bashar al-Assad of the decision.",
    "Peace talks restarted in Geneva on Monday following the success of a Russian-US brokered ceasefire.",
    "However western diplomatic sources quoted by The Guardian are skeptical.",
)
SEPARATORS = (" ", "\n", "\n\n", "\n\n\n", " \n \n ", "\t", "\r\n")

# Any code point but lone surrogates, which no decoded document can hold.
_noise = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
_part = st.one_of(st.sampled_from(SEED_SENTENCES), st.sampled_from(SEED_SENTENCES), _noise)
texts = st.lists(st.tuples(_part, st.sampled_from(SEPARATORS)), min_size=1, max_size=10).map(
    lambda parts: "".join(part + sep for part, sep in parts)
)
# Smaller than most texts, so that nearly every example is split (at paragraph breaks or at spaces).
max_chars = st.integers(min_value=40, max_value=400)


@settings(max_examples=30, deadline=None)
@given(texts, max_chars)
def test_spans_lie_inside_the_text_and_match_the_pieces_spacy_saw(text, max_chars):
    (spans,) = extract_entities([text], DEFAULT_NER_MODEL, batch_size=4, max_chars=max_chars)
    nlp = load_ner(DEFAULT_NER_MODEL)
    expected = []
    for offset, piece in split_for_ner(text, max_chars):
        for ent in nlp(piece).ents:
            assert text[offset + ent.start_char : offset + ent.end_char] == ent.text
            # extract_entities trims whitespace the model included at a mention's ends
            start, end = ent.start_char, ent.end_char
            while start < end and piece[start].isspace():
                start += 1
            while end > start and piece[end - 1].isspace():
                end -= 1
            if start < end:
                expected.append((offset + start, offset + end, ent.label_))
    assert spans == expected
    for start, end, label in spans:
        assert 0 <= start < end <= len(text)
        assert text[start:end].strip(), (text[start:end], label)
    # in order and never overlapping, as one pass of NER over the whole text would give them
    for (_, end, _), (start, _, _) in zip(spans, spans[1:], strict=False):
        assert end <= start


# spaCy's NER can end an entity on a whitespace token ("X0\n", "AMERICAN LEAGUE\n" in CoNLL tables):
# extract_entities trims it, so mentions are clean.
@settings(max_examples=30, deadline=None)
@given(texts, max_chars)
@example("Vladimir Putin spoke.\nX0\n", 40)  # the case hypothesis found
def test_mentions_have_no_surrounding_whitespace(text, max_chars):
    (spans,) = extract_entities([text], DEFAULT_NER_MODEL, batch_size=4, max_chars=max_chars)
    for start, end, label in spans:
        mention = text[start:end]
        assert mention == mention.strip(), (mention, label)


def test_seed_names_survive_splitting_at_paragraph_breaks():
    text = "\n\n".join(SEED_SENTENCES * 3)
    (spans,) = extract_entities([text], DEFAULT_NER_MODEL, max_chars=max(map(len, SEED_SENTENCES)) + 2)
    people = [text[s:e] for s, e, label in spans if label == "PERSON"]
    assert people.count("Vladimir Putin") == 3
    assert people.count("Dmitry Peskov") == 3
