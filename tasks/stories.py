"""Stories stage: links the documents that report one real-world event, across outlets and across drops.

Classic topic detection and tracking: every kept document becomes a TF-IDF vector over its headline and
clean text plus a vector of its named entities (from the entities stage); documents are taken one at a time
in a fixed order (reference date, then doc_id), and each joins the most similar story whose dates lie
within `window_days` of its own, or starts a new one. A story's id is the doc_id of the document that
started it, so a re-run of a drop gives the same ids whatever the file order or the batching.

Between runs only bounded summaries are kept: per story and drop, the sum of its documents' vectors
truncated to the top terms, its entity counts, date range, sources and a headline (`_story_index`), and
per drop the document frequencies of its terms (`_story_vocabulary`). A run links its documents against
the stories of other drops still active (dates within the window), never against every document seen.

Interface (no Prefect here; `tasks.steps.stories_drop` runs it over a run's staged tables):
    reads     documents: doc_id, status, cluster_id, title, text, reference_date, source
              entities: doc_id, canonical, label
    adds      documents.story_id
    writes    stories, _story_index, _story_vocabulary (one partition per drop, like every table)
    settings  StorySettings          stats  StoryStats
"""

from __future__ import annotations

import bisect
import functools
import importlib.util
import itertools
import math
import operator
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import repeat
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from tasks import story_index
from textdrops.config import StorySettings
from textdrops.schema import STORIES, STORY_INDEX

READS = {
    "documents": ("doc_id", "status", "cluster_id", "title", "text", "reference_date", "source"),
    "entities": ("doc_id", "canonical", "label"),
}
ADDS = {"documents": ("story_id",)}
WRITES = ("stories", "_story_index", "_story_vocabulary")

# Entity labels that name who and where (quantities, dates and ordinals say little about which event).
STORY_ENTITY_LABELS = frozenset(
    {"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "PRODUCT", "WORK_OF_ART", "LAW"}
)
_WORD = re.compile(r"[^\W_]+(?:['’.][^\W_]+)*")
_NUMBER = re.compile(r"^[\d.,'’]+$")
_ENTITY_PREFIX = "@"  # entity keys share the vocabulary table with words


@dataclass
class StoryStats:
    """What the stage did in one drop (mergeable: add the fields)."""

    documents: int = 0  # kept documents linked
    joined_history: int = 0  # of which joined a story of another drop
    new_stories: int = 0
    stories_touched: int = 0
    history_stories: int = 0  # active stories of other drops loaded
    seconds: float = 0.0

    def merge(self, other: StoryStats) -> StoryStats:
        return StoryStats(**{name: getattr(self, name) + getattr(other, name) for name in self.__dataclass_fields__})


@dataclass
class _Story:
    story_id: str
    terms: dict[str, float] = field(default_factory=dict)  # sum of member documents' unit vectors
    entities: dict[str, float] = field(default_factory=dict)  # documents mentioning each entity
    first: date | None = None
    last: date | None = None
    # this drop's contribution (what its _story_index row stores)
    drop_terms: dict[str, float] = field(default_factory=dict)
    drop_entities: dict[str, float] = field(default_factory=dict)
    drop_docs: list[int] = field(default_factory=list)  # rows of the drop's kept documents
    from_history: bool = False

    def extend_dates(self, day: date | None) -> None:
        if day is None:
            return
        self.first = day if self.first is None else min(self.first, day)
        self.last = day if self.last is None else max(self.last, day)

    def gap_days(self, day: date | None) -> int:
        """Days between `day` and the story's date range (0 inside it or when either is unknown)."""
        if day is None or self.first is None:
            return 0
        if day < self.first:
            return (self.first - day).days
        if day > self.last:
            return (day - self.last).days
        return 0


class FrameStories:
    """Story summaries held in memory (`_story_index` rows of other drops), looked up as the stored ones are
    (`tasks.story_index.StoredStories`): for tests and evaluations."""

    def __init__(self, index: pl.DataFrame) -> None:
        self.index = index.select(list(INDEX_SCHEMA))

    def story_ids_holding(self, keys: Iterable[str]) -> set[str]:
        """Stories with a row holding one of `keys` (words, @entities)."""
        keys = sorted(set(keys))
        if not keys or not self.index.height:
            return set()
        terms = self.index.select("story_id", key=pl.col("terms")).explode("key")
        entities = self.index.select("story_id", key=pl.col("entities")).explode("key")
        pairs = pl.concat(
            [
                terms.select("story_id", key=pl.col("key").struct.field("term")),
                entities.select("story_id", key=_ENTITY_PREFIX + pl.col("key").struct.field("name").str.to_lowercase()),
            ]
        )
        return set(pairs.filter(pl.col("key").is_in(keys))["story_id"].to_list())

    def rows_of(self, story_ids: Iterable[str]) -> pl.DataFrame:
        """Every row of the given stories."""
        return self.index.filter(pl.col("story_id").is_in(sorted(set(story_ids))))

    def rows_holding(
        self, keys: Iterable[str], story_ids: Iterable[str], window: tuple[date, date] | None = None
    ) -> pl.DataFrame:
        """Every row of the stories holding one of `keys` or named in `story_ids` (the window is applied by
        `StoryHistory.active_rows`)."""
        return self.rows_of(self.story_ids_holding(keys) | set(story_ids))


@dataclass(frozen=True)
class StoryHistory:
    """What a run knows of other drops: their stories' summaries, looked up by key, and recent document
    frequencies.

    A run never loads every story: `active_rows` gives the active stories (a date within window_days of
    the drop's dates) that hold one of the keys its documents pick candidates by, and only those could be
    candidates (`link_stories`), so the stories are those of loading every active story.
    """

    source: FrameStories | Any  # or tasks.story_index.StoredStories: rows_holding(keys, ids), rows_of(ids)
    vocabulary: dict[str, int]  # documents per term over the recent drops
    documents: int  # documents those frequencies count
    first_day: date | None = None  # the drop's dates (none: no story is active)
    last_day: date | None = None
    window_days: int = 365

    def active_rows(self, keys: Iterable[str], story_ids: Iterable[str]) -> pl.DataFrame:
        """All rows of the active stories that hold one of `keys` or whose id is in `story_ids`."""
        if self.first_day is None:  # a drop without any date cannot say which stories are active
            return pl.DataFrame(schema=INDEX_SCHEMA)
        window = timedelta(days=self.window_days)
        first, last = self.first_day - window, (self.last_day or self.first_day) + window
        rows = self.source.rows_holding(keys, story_ids, (first, last))  # a stored source reads active rows only
        active = rows.filter((pl.col("last_date") >= first) & (pl.col("first_date") <= last))["story_id"].unique()
        return rows.filter(pl.col("story_id").is_in(active.implode()))


@dataclass(frozen=True)
class StoryResult:
    """The stage's output for one drop."""

    assignments: pl.DataFrame  # doc_id, story_id for every document row given
    stories: pl.DataFrame  # rows of the `stories` table (without drop_id, run_id)
    index: pl.DataFrame  # rows of `_story_index` (without drop_id, run_id)
    vocabulary: pl.DataFrame  # rows of `_story_vocabulary` (without drop_id, run_id)
    stats: StoryStats


def empty_history() -> StoryHistory:
    return StoryHistory(FrameStories(pl.DataFrame(schema=INDEX_SCHEMA)), {}, 0)


INDEX_SCHEMA = STORY_INDEX.polars_schema(exclude=("run_id",))
STORIES_SCHEMA = STORIES.polars_schema(exclude=("drop_id", "run_id", "commit_seq"))


@functools.cache
def stop_words() -> frozenset[str]:
    """spaCy's English stop words, read from its source file: importing spaCy costs the flow process ~2 s."""
    spec = importlib.util.find_spec("spacy")
    path = Path(spec.origin).parent / "lang" / "en" / "stop_words.py"
    namespace: dict = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    return frozenset(namespace["STOP_WORDS"])


def words(text: str) -> list[str]:
    """Lower-cased words of `text` that are not stop words."""
    stop = stop_words()
    return [w for w in _WORD.findall(text.lower()) if w not in stop and (len(w) > 1 or w.isdigit())]


def document_terms(title: str | None, text: str, settings: StorySettings) -> Counter[str]:
    """Term counts of one document: the headline's words (weighted) and the text's first lead_words."""
    body = words(text)
    if settings.lead_words:
        body = body[: settings.lead_words]
    # interned: a drop's documents share their words, and each vector and centroid keys by them
    counts = Counter(map(sys.intern, body))
    if title:
        for word in words(title):
            counts[sys.intern(word)] += settings.title_weight
    return counts


class _LogTf(dict):
    """count -> 1 + ln(count), each computed once: looked up in C for every term of every document."""

    def __missing__(self, count: int) -> float:
        value = self[count] = 1.0 + math.log(count)
        return value


_LOG_TF = _LogTf()


FEATURES_SCHEMA = {
    "doc_id": pl.String,
    "terms": pl.List(pl.String),  # in first-seen order (it fixes the order of sums, hence the exact weights)
    "counts": pl.List(pl.Int32),
    "entity_keys": pl.List(pl.String),
}


def story_features(docs: pl.DataFrame, entities: pl.DataFrame, settings: StorySettings | None = None) -> pl.DataFrame:
    """Per kept document of `docs`: its term counts and story entity keys (FEATURES_SCHEMA).

    This is the stage's work that needs no other document, so it can run per batch in the worker
    processes (docs: doc_id, status, title, text; entities: the batch's doc_id, canonical, label rows);
    `link_stories(features=...)` then only weighs and links.
    """
    settings = settings or StorySettings()
    kept = docs.filter(pl.col("status") == "kept")
    counts = [document_terms(title, text, settings) for title, text in zip(kept["title"], kept["text"], strict=True)]
    keys_of = _story_entity_keys(_entity_mentions(entities))
    return pl.DataFrame(
        {
            "doc_id": kept["doc_id"],
            "terms": [list(c) for c in counts],
            "counts": [list(c.values()) for c in counts],
            "entity_keys": [sorted(keys_of.get(d, ())) for d in kept["doc_id"].to_list()],
        },
        schema=FEATURES_SCHEMA,
    )


def _story_entity_keys(mentions: pl.DataFrame) -> dict[str, list[str]]:
    """doc_id -> the keys of its entities that count for stories (from `_entity_mentions`)."""
    by_doc = mentions.filter(pl.col("story_entity")).group_by("doc_id").agg(pl.col("key").unique())
    return dict(by_doc.iter_rows())


def _kept_features(
    kept: pl.DataFrame, mentions: pl.DataFrame, settings: StorySettings, features: pl.DataFrame | None
) -> tuple[list[dict[str, int]], list[set[str]]]:
    """Term counts and story entity keys of every kept document, from `features` where it has them."""
    given: dict[str, tuple[list[str], list[int], list[str]]] = {}
    if features is not None:
        for doc_id, terms, counts, keys in features.select(list(FEATURES_SCHEMA)).iter_rows():
            given[doc_id] = (terms, counts, keys)
    keys_of: dict[str, list[str]] | None = None
    term_counts: list[dict[str, int]] = []
    entity_keys: list[set[str]] = []
    for doc_id, title, text in zip(kept["doc_id"], kept["title"], kept["text"], strict=True):
        found = given.get(doc_id)
        if found is None:
            if keys_of is None:
                keys_of = _story_entity_keys(mentions)
            term_counts.append(document_terms(title, text, settings))
            entity_keys.append(set(keys_of.get(doc_id, ())))
        else:
            terms, counts, keys = found
            # interned like document_terms' words: the centroids key by them
            term_counts.append(dict(zip(map(sys.intern, terms), counts, strict=True)))
            entity_keys.append(set(map(sys.intern, keys)))
    return term_counts, entity_keys


def _entity_mentions(entities: pl.DataFrame) -> pl.DataFrame:
    """The entity rows (doc_id, canonical) with their key and whether the key counts for stories."""
    names = entities["canonical"].unique().to_list()
    key_of = {name: sys.intern(_ENTITY_PREFIX + name.lower()) for name in names}
    blank = [name for name in names if not name.strip()]
    return entities.select(
        "doc_id",
        "canonical",
        key=pl.col("canonical").replace_strict(key_of, return_dtype=pl.String),
        story_entity=pl.col("label").is_in(sorted(STORY_ENTITY_LABELS)) & ~pl.col("canonical").is_in(blank),
    )


def _unit_vector(keys: Iterable[str], weights: Iterable[float]) -> dict[str, float]:
    """{key: weight / norm}: the same products and sums as a comprehension, with the loops in C."""
    weights = list(weights)
    norm = math.sqrt(sum(map(operator.mul, weights, weights)))
    return dict(zip(keys, map(operator.truediv, weights, repeat(norm)), strict=True)) if norm else {}


def _top_items(weights: dict[str, float], k: int) -> list[tuple[str, float]]:
    """The k heaviest (key, weight) items, heaviest first, ties by key.

    Only items at or above the k-th largest weight are ranked as (-weight, key) pairs (the threshold
    comes from a sort of the bare floats): a story's centroid is truncated often and a document's top
    keys are picked for every document, so this stays in C.
    """
    if k <= 0:
        return []
    values = weights.values()
    ranked = zip(map(operator.neg, values), weights.keys(), strict=True)
    if len(weights) > k:
        kth = sorted(values, reverse=True)[k - 1]
        ranked = itertools.compress(ranked, map(kth.__le__, values))
    return [(key, -neg) for neg, key in sorted(ranked)[:k]]


def _top(weights: dict[str, float], k: int) -> dict[str, float]:
    if len(weights) <= k:
        return weights
    return dict(_top_items(weights, k))


def _cosine(unit_doc: dict[str, float], centroid: dict[str, float], norm: float) -> float:
    if not norm:
        return 0.0
    small, large = (centroid, unit_doc) if len(unit_doc) > len(centroid) else (unit_doc, centroid)
    # map/operator keep the loop in C: this dot product is most of the stage's time
    return sum(map(operator.mul, small.values(), map(large.get, small.keys(), repeat(0.0)))) / norm


class _Linker:
    """Single-pass assignment of documents to story centroids, with an inverted index for candidates."""

    def __init__(self, settings: StorySettings, idf: dict[str, float], default_idf: float, df: dict[str, int]):
        self.settings = settings
        self.df = df
        self.sizes: dict[str, int] = {}  # documents per story (history and this drop)
        self.idf = idf
        self.default_idf = default_idf
        self.stories: dict[str, _Story] = {}
        self.postings: dict[str, set[str]] = {}
        self.norms: dict[str, tuple[float, float]] = {}
        self.entity_centroids: dict[str, dict[str, float]] = {}
        self.squares: dict[str, tuple[float, float]] = {}
        self.distinctive: set[str] = set()  # see index_distinctive

    def weight(self, key: str) -> float:
        return self.idf.get(key, self.default_idf)

    def term_vector(self, counts: Counter[str]) -> dict[str, float]:
        tf = map(_LOG_TF.__getitem__, counts.values())
        return _unit_vector(counts.keys(), map(operator.mul, tf, map(self.idf.get, counts, repeat(self.default_idf))))

    def entity_vector(self, keys: set[str]) -> dict[str, float]:
        return _unit_vector(keys, map(self.idf.get, keys, repeat(self.default_idf)))

    def _refresh(self, story: _Story) -> None:
        """Truncate the story's centroid when it has grown, and cache its entity centroid and norms."""
        s = self.settings
        if len(story.terms) > 2 * s.centroid_terms:
            story.terms = _top(story.terms, s.centroid_terms)
        if len(story.entities) > 2 * s.centroid_entities:
            story.entities = _top(story.entities, s.centroid_entities)
        ents = {k: n * self.weight(k) for k, n in story.entities.items()}
        self.entity_centroids[story.story_id] = ents
        squares = (sum(w * w for w in story.terms.values()), sum(w * w for w in ents.values()))
        self.squares[story.story_id] = squares
        self.norms[story.story_id] = (math.sqrt(squares[0]), math.sqrt(squares[1]))

    def _post(self, story_id: str, keys: Iterable[str]) -> None:
        for key in keys:
            self.postings.setdefault(key, set()).add(story_id)

    def _top_keys(self, vector: dict[str, float]) -> list[str]:
        return [k for k, _ in _top_items(vector, self.settings.candidate_terms)]

    def add_history(self, story: _Story) -> None:
        story.from_history = True
        self.stories[story.story_id] = story
        self._refresh(story)
        self._post(story.story_id, self._top_keys(story.terms))
        self._post(story.story_id, self._top_keys(self.entity_centroids[story.story_id]))

    def similarity(self, story: _Story, terms: dict[str, float], ents: dict[str, float]) -> float:
        t_norm, e_norm = self.norms[story.story_id]
        beta = self.settings.entity_weight
        sim_terms = _cosine(terms, story.terms, t_norm)
        sim_ents = _cosine(ents, self.entity_centroids[story.story_id], e_norm) if ents and e_norm else 0.0
        return (1.0 - beta) * sim_terms + beta * sim_ents

    def rare_keys(self, terms: dict[str, float], ents: dict[str, float]) -> tuple[list[int], list[str]]:
        """The document's words and names that could be distinctive for some story, fewest documents first:
        (documents holding each, the keys)."""
        found = self.distinctive.intersection(terms)
        found.update(self.distinctive.intersection(ents))
        ranked = sorted(zip(map(self.df.__getitem__, found), found, strict=True))
        return [n for n, _ in ranked], [k for _, k in ranked]

    def index_distinctive(self, keys: Iterable[str]) -> None:
        """Note which of `keys` (the drop's words and entity keys) are few enough to be distinctive."""
        s = self.settings
        most = s.distinctive_factor * (s.distinctive_cap + 1)
        # numbers coincide between unrelated wires ("12.5 pct"): only words and names count
        self.distinctive = {
            k for k in keys if self.df.get(k, 0) <= most and (k.startswith(_ENTITY_PREFIX) or not _NUMBER.match(k))
        }

    def shares_distinctive(self, story: _Story, rare: tuple[list[int], list[str]]) -> bool:
        """Whether the story holds one of the document's keys (`rare_keys`) that few enough documents hold."""
        factor = self.settings.distinctive_factor
        if not factor:
            return True
        limit = factor * (min(self.sizes.get(story.story_id, 0), self.settings.distinctive_cap) + 1)
        counts, keys = rare
        few = keys[: bisect.bisect_right(counts, limit)]
        return any(map(story.terms.__contains__, few)) or any(
            map(self.entity_centroids[story.story_id].__contains__, few)
        )

    def candidates(self, top: list[str], terms: dict[str, float], ents: dict[str, float]) -> list[str]:
        """Stories sharing one of the document's top keys, the `max_candidates` sharing the most weight.

        Keys posted to more than `max_postings` stories (the wire's "shr", "cts" in Reuters) are too common
        to pick candidates by; they still count in the similarity.
        """
        overlap: dict[str, float] = {}
        common: list[str] = []
        for key in top:
            posted = self.postings.get(key)
            if not posted:
                continue
            if len(posted) > self.settings.max_postings:
                common.append(key)
                continue
            w = terms.get(key) or ents.get(key, 0.0)
            # overlap[sid] += w for every story posted (in C; a set iterates in one order while unchanged)
            overlap.update(
                zip(posted, map(operator.add, map(overlap.get, posted, repeat(0.0)), repeat(w)), strict=True)
            )
        if not overlap and common:  # only common keys: the rarest of them still narrows the field
            rarest = min(common, key=lambda k: (len(self.postings[k]), k))
            overlap = dict.fromkeys(self.postings[rarest], 0.0)
        return sorted(sid for sid, _ in _top_items(overlap, self.settings.max_candidates))

    def top(self, terms: dict[str, float], ents: dict[str, float]) -> list[str]:
        """A document's top keys: it is posted under them, and they pick its candidate stories."""
        return self._top_keys(terms) + self._top_keys(ents)

    def link(
        self, row: int, doc_id: str, day: date | None, terms: dict[str, float], ents: dict[str, float], top: list[str]
    ) -> str:
        """The story the document joins (or starts), given its top keys (`_Linker.top`); updates that story."""
        best, best_score = None, self.settings.threshold
        rare = self.rare_keys(terms, ents)
        for sid in self.candidates(top, terms, ents):
            story = self.stories[sid]
            gap = story.gap_days(day)
            if gap > self.settings.window_days or not self.shares_distinctive(story, rare):
                continue
            score = self.similarity(story, terms, ents)
            if gap:
                score -= self.settings.date_penalty * math.log2(1.0 + gap / 7.0)
            if score >= best_score and (best is None or score > best_score):
                best, best_score = story, score
        if best is None:
            # a document whose id already names a story (a re-run after later drops joined it) rejoins it
            best = self.stories.get(doc_id) or _Story(doc_id)
            self.stories[doc_id] = best
        sid = best.story_id
        # squared norms updated as the centroids grow (recomputing them for every document cost seconds)
        t2, e2 = self.squares.get(sid, (0.0, 0.0))
        centroid_ents = self.entity_centroids.setdefault(sid, {})
        # the centroids grow by the document's weights, in C: t2 gains new^2 - old^2 term by term, as a loop would
        keys, weights = terms.keys(), terms.values()
        olds = list(map(best.terms.get, keys, repeat(0.0)))
        news = list(map(operator.add, olds, weights))
        best.terms.update(zip(keys, news, strict=True))
        t2 = functools.reduce(
            operator.add, map(operator.sub, map(operator.mul, news, news), map(operator.mul, olds, olds)), t2
        )
        drop_terms = best.drop_terms
        drop_terms.update(zip(keys, map(operator.add, map(drop_terms.get, keys, repeat(0.0)), weights), strict=True))
        for counts in (best.entities, best.drop_entities):
            counts.update(zip(ents, map(operator.add, map(counts.get, ents, repeat(0.0)), repeat(1.0)), strict=True))
        olds = list(map(centroid_ents.get, ents, repeat(0.0)))
        news = list(map(operator.add, olds, map(self.idf.get, ents, repeat(self.default_idf))))
        centroid_ents.update(zip(ents, news, strict=True))
        e2 = functools.reduce(
            operator.add, map(operator.sub, map(operator.mul, news, news), map(operator.mul, olds, olds)), e2
        )
        best.extend_dates(day)
        best.drop_docs.append(row)
        self.sizes[sid] = self.sizes.get(sid, 0) + 1
        s = self.settings
        if len(best.terms) > 2 * s.centroid_terms or len(best.entities) > 2 * s.centroid_entities:
            self._refresh(best)
        else:
            self.squares[sid] = (t2, e2)
            self.norms[sid] = (math.sqrt(max(t2, 0.0)), math.sqrt(max(e2, 0.0)))
        self._post(sid, top)
        return sid


def _history_stories(rows: pl.DataFrame) -> list[tuple[_Story, int]]:
    """Stories of other drops (all their `_story_index` rows), their contributions summed, with their documents."""
    stories: dict[str, _Story] = {}
    sizes: Counter[str] = Counter()
    for row in rows.sort("story_id", "drop_id").iter_rows(named=True):
        story = stories.setdefault(row["story_id"], _Story(row["story_id"]))
        sizes[row["story_id"]] += row["documents"]
        for item in row["terms"] or []:
            story.terms[item["term"]] = story.terms.get(item["term"], 0.0) + item["weight"]
        for item in row["entities"] or []:
            key = _ENTITY_PREFIX + item["name"].lower()
            story.entities[key] = story.entities.get(key, 0.0) + item["documents"]
        for day in (row["first_date"], row["last_date"]):
            if day is not None:
                story.first = day if story.first is None else min(story.first, day)
                story.last = day if story.last is None else max(story.last, day)
    return [(stories[k], sizes[k]) for k in sorted(stories)]


def link_stories(
    drop_id: str,
    docs: pl.DataFrame,
    entities: pl.DataFrame,
    history: StoryHistory | None = None,
    settings: StorySettings | None = None,
    duplicate_stories: dict[str, str] | None = None,
    features: pl.DataFrame | None = None,
    assigned: Callable[[pl.DataFrame], None] | None = None,
) -> StoryResult:
    """Story of every document row of one drop, and the drop's rows of `stories`, `_story_index` and
    `_story_vocabulary`.

    `docs` holds the columns READS["documents"] (kept documents and duplicates); `entities` the entity
    rows of its kept documents; `history` the active stories of other drops; `duplicate_stories` the
    stories of kept documents in other drops that some of these rows duplicate (doc_id -> story_id);
    `features` the `story_features` rows of the kept documents, computed per batch beforehand (documents
    without a row get theirs computed here: the result is the same either way). `assigned`, when given, is
    called with the assignments (`StoryResult.assignments`) as soon as they are known, before the summaries.
    """
    started = time.perf_counter()
    settings = settings or StorySettings()
    history = history or empty_history()
    docs = docs.select(READS["documents"])
    kept = docs.filter(pl.col("status") == "kept").sort("reference_date", "doc_id", nulls_last=True)
    mentions = _entity_mentions(entities)
    display = dict(  # entity key -> the first spelling in (doc_id, canonical) order
        mentions.sort("doc_id", "canonical")
        .unique("key", keep="first", maintain_order=True)
        .select("key", "canonical")
        .iter_rows()
    )

    doc_ids = kept["doc_id"].to_list()
    term_counts, entity_keys = _kept_features(kept, mentions, settings, features)
    drop_df: Counter[str] = Counter()
    for counts, keys in zip(term_counts, entity_keys, strict=True):
        drop_df.update(counts.keys())
        drop_df.update(keys)
    n = history.documents + len(doc_ids)
    df = Counter(history.vocabulary)
    df.update(drop_df)
    idf = {t: math.log((n + 1) / (c + 1)) + 1.0 for t, c in df.items()}
    linker = _Linker(settings, idf, math.log(n + 1) + 1.0, df)
    linker.index_distinctive(drop_df)
    term_vectors = [linker.term_vector(c) for c in term_counts]
    del term_counts  # the counts of every document are not needed once their vectors exist
    entity_vectors = [linker.entity_vector(keys) for keys in entity_keys]
    # a story of another drop can only be a candidate of a document posted under one of the document's top
    # keys, so it must hold one; and a document whose id names a story rejoins it (see _Linker.link)
    tops = [linker.top(terms, ents) for terms, ents in zip(term_vectors, entity_vectors, strict=True)]
    loaded = history.active_rows(set(itertools.chain.from_iterable(tops)), doc_ids)
    for story, size in _history_stories(loaded):
        linker.add_history(story)
        linker.sizes[story.story_id] = size

    days = kept["reference_date"].to_list()
    story_of: dict[str, str] = {}
    for row, (doc_id, day) in enumerate(zip(doc_ids, days, strict=True)):
        story_of[doc_id] = linker.link(row, doc_id, day, term_vectors[row], entity_vectors[row], tops[row])

    # duplicates take their kept copy's story: in this drop, or (cross-drop) as looked up by the caller
    duplicate_stories = duplicate_stories or {}
    assignments = docs.select(
        "doc_id",
        story_id=pl.col("doc_id")
        .replace_strict(story_of, default=None, return_dtype=pl.String)
        .fill_null(pl.col("cluster_id").replace_strict(story_of, default=None, return_dtype=pl.String))
        .fill_null(pl.col("cluster_id").replace_strict(duplicate_stories, default=None, return_dtype=pl.String))
        # a duplicate whose kept copy has no known story (its drop predates stories) starts its own
        .fill_null(pl.col("cluster_id")),
    )
    if assigned is not None:
        assigned(assignments)
    touched = [s for s in linker.stories.values() if s.drop_docs]
    stats = StoryStats(
        documents=len(doc_ids),
        joined_history=sum(len(s.drop_docs) for s in touched if s.from_history),
        new_stories=sum(1 for s in touched if not s.from_history),
        history_stories=sum(1 for s in linker.stories.values() if s.from_history),
    )
    # a story's row adds its whole history: the stories of duplicates whose kept copy is in another drop
    # may lie outside the window, so their rows are looked up by id
    unloaded = set(assignments["story_id"].drop_nulls().to_list()) - set(loaded["story_id"].to_list())
    earlier = pl.concat([loaded, history.source.rows_of(unloaded)], how="vertical_relaxed") if unloaded else loaded
    index, stories = _summaries(
        drop_id, docs, kept, assignments, linker, term_vectors, mentions, display, earlier, settings
    )
    stats.stories_touched = stories.height
    # most documents first, ties by term (polars orders strings by their UTF-8 bytes: code point order, as Python)
    vocabulary = (
        pl.DataFrame(
            {"term": list(drop_df.keys()), "documents": list(drop_df.values())},
            schema={"term": pl.String, "documents": pl.Int64},
        )
        .sort(["documents", "term"], descending=[True, False])
        .head(settings.vocabulary_terms)
        .with_columns(drop_documents=pl.lit(len(doc_ids), dtype=pl.Int64))
    )
    stats.seconds = time.perf_counter() - started
    return StoryResult(assignments, stories, index, vocabulary, stats)


def _headline(title: str | None, text: str) -> str:
    if title and title.strip():
        return title.strip()
    first = text.strip().split("\n", 1)[0]
    return first if len(first) <= 120 else first[:117].rsplit(" ", 1)[0] + "..."


def _summaries(
    drop_id: str,
    docs: pl.DataFrame,
    kept: pl.DataFrame,
    assignments: pl.DataFrame,
    linker: _Linker,
    term_vectors: list[dict[str, float]],
    mentions: pl.DataFrame,
    display: dict[str, str],
    history_rows: pl.DataFrame,
    settings: StorySettings,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """This drop's `_story_index` rows (its contribution per story) and `stories` rows (as of this run)."""
    titles, texts = kept["title"].to_list(), kept["text"].to_list()
    own = assignments.filter(pl.col("doc_id").is_in(kept["doc_id"].implode()))
    said_in = {  # (story, entity key) -> its mentions in the story's documents of this drop
        (story_id, key): n
        for story_id, key, n in mentions.join(own, on="doc_id").group_by("story_id", "key").len().iter_rows()
    }
    per_story = (
        docs.join(assignments, on="doc_id")
        .group_by("story_id")
        .agg(
            documents=pl.len().cast(pl.Int64),
            sources=pl.col("source").drop_nulls().unique().sort(),
            first_date=pl.col("reference_date").min(),
            last_date=pl.col("reference_date").max(),
        )
        .sort("story_id")
    )
    # the nested columns are built as Arrow arrays from flat lists: per-row dicts of 300 terms cost seconds
    terms_flat: tuple[list[str], list[float], list[int]] = ([], [], [0])
    ents_flat: tuple[list[str], list[int], list[int], list[int]] = ([], [], [], [0])
    headlines: list[str | None] = []
    scores: list[float] = []
    for story_id in per_story["story_id"].to_list():
        story = linker.stories.get(story_id)
        headline, score, terms, ents = None, 0.0, {}, {}
        if story is not None and story.drop_docs:
            norm = linker.norms[story.story_id][0]
            scored = [(_cosine(term_vectors[r], story.terms, norm), -r) for r in story.drop_docs]
            score, best = max(scored)
            headline = _headline(titles[-best], texts[-best])
            terms = _top(story.drop_terms, settings.centroid_terms)
            ents = _top(story.drop_entities, settings.centroid_entities)
        headlines.append(headline)
        scores.append(score)
        ranked = sorted(terms.items())
        terms_flat[0].extend(k for k, _ in ranked)
        terms_flat[1].extend(w for _, w in ranked)
        terms_flat[2].append(len(terms_flat[0]))
        for k, n in sorted(ents.items()):
            ents_flat[0].append(display.get(k, k))
            ents_flat[1].append(int(n))
            ents_flat[2].append(said_in.get((story_id, k), 0))
        ents_flat[3].append(len(ents_flat[0]))
    index_schema = {k: v for k, v in INDEX_SCHEMA.items() if k != "drop_id"}
    terms_column = pa.ListArray.from_arrays(
        pa.array(terms_flat[2], pa.int32()),
        pa.StructArray.from_arrays(
            [pa.array(terms_flat[0], pa.string()), pa.array(terms_flat[1], pa.float32())], names=["term", "weight"]
        ),
    )
    entities_column = pa.ListArray.from_arrays(
        pa.array(ents_flat[3], pa.int32()),
        pa.StructArray.from_arrays(
            [
                pa.array(ents_flat[0], pa.string()),
                pa.array(ents_flat[1], pa.int32()),
                pa.array(ents_flat[2], pa.int32()),
            ],
            names=["name", "documents", "mentions"],
        ),
    )
    index = (
        per_story.with_columns(
            terms=pl.Series(terms_column),
            entities=pl.Series(entities_column),
            headline=pl.Series(headlines, dtype=pl.String),
            headline_score=pl.Series(scores, dtype=pl.Float64),
        )
        .select(list(index_schema))
        .cast(index_schema)
    )
    # a story as of this run: this drop's contribution plus the other drops' contributions to it
    without_terms = [c for c in INDEX_SCHEMA if c != "terms"]
    earlier: dict[str, list[dict]] = {}
    for row in (
        history_rows.filter(pl.col("story_id").is_in(index["story_id"].implode()))
        .select(without_terms)
        .iter_rows(named=True)
    ):
        earlier.setdefault(row["story_id"], []).append(row)
    own_ids = set(kept["doc_id"].to_list())
    story_rows = []
    for row in index.select([c for c in without_terms if c != "drop_id"]).iter_rows(named=True):
        parts = [*earlier.get(row["story_id"], []), {**row, "drop_id": drop_id}]
        firsts = [p["first_date"] for p in parts if p["first_date"] is not None]
        lasts = [p["last_date"] for p in parts if p["last_date"] is not None]
        headline = max(
            ((p["headline_score"], p["headline"]) for p in parts if p["headline"] is not None), default=(0, None)
        )[1]
        story_rows.append(
            {
                "story_id": row["story_id"],
                "headline": headline,
                "first_date": min(firsts, default=None),
                "last_date": max(lasts, default=None),
                "documents": sum(p["documents"] for p in parts),
                "drop_documents": row["documents"],
                "sources": sorted({s for p in parts for s in p["sources"] or ()}),
                "drops": sorted({p["drop_id"] for p in parts}),
                "top_entities": top_entity_names([e for p in parts for e in p["entities"] or ()]),
                "is_new": row["story_id"] in own_ids,  # started by one of this drop's documents
            }
        )
    stories = pl.DataFrame(story_rows, schema=STORIES_SCHEMA)
    return index, stories


def top_entity_names(entities: list[dict], k: int = 5) -> list[str]:
    """The k entities mentioned in most of a story's documents, then most often (from its summary rows)."""
    documents: Counter[str] = Counter()
    said: Counter[str] = Counter()
    for item in entities:
        documents[item["name"]] += item["documents"]
        said[item["name"]] += item.get("mentions") or 0
    return sorted(documents, key=lambda name: (-documents[name], -said[name], name))[:k]


def history_from_frames(
    index: pl.DataFrame | list[pl.DataFrame],
    vocabulary: pl.DataFrame | list[pl.DataFrame],
    first_day: date | None,
    settings: StorySettings,
    last_day: date | None = None,
) -> StoryHistory:
    """The history a drop is linked against, from other drops' `_story_index` and `_story_vocabulary` rows.

    Active stories only: those with a date within window_days of the drop's dates (first_day..last_day;
    none when the drop has no dates); document frequencies from the latest `vocabulary_drops` drops.
    """
    if isinstance(index, list):
        index = pl.concat(index, how="vertical_relaxed") if index else pl.DataFrame(schema=INDEX_SCHEMA)
    if isinstance(vocabulary, list):
        vocabulary = pl.concat(vocabulary, how="vertical_relaxed") if vocabulary else None
    terms, documents = _document_frequencies(vocabulary, settings)
    return StoryHistory(FrameStories(index), terms, documents, first_day, last_day, settings.window_days)


def _document_frequencies(vocabulary: pl.DataFrame | None, settings: StorySettings) -> tuple[dict[str, int], int]:
    """Documents per term over the latest `vocabulary_drops` drops of `_story_vocabulary` rows, and how many
    documents those drops hold."""
    if vocabulary is None or not vocabulary.height:
        return {}, 0
    recent = sorted(set(vocabulary["drop_id"].to_list()))[-settings.vocabulary_drops :]
    recent_rows = vocabulary.filter(pl.col("drop_id").is_in(recent))
    documents = int(recent_rows.group_by("drop_id").agg(pl.col("drop_documents").first())["drop_documents"].sum())
    summed = recent_rows.group_by("term").agg(pl.col("documents").sum())
    return dict(zip(summed["term"].to_list(), summed["documents"].to_list(), strict=True)), documents


def load_story_history(
    out_dir: Path, drop_id: str, first_day: date | None, last_day: date | None, settings: StorySettings
) -> StoryHistory:
    """The stories of every other drop already processed, to be looked up by key, and the recent document
    frequencies (`tasks.story_index`)."""
    stored = story_index.StoredStories(out_dir, drop_id)
    if not stored:
        return empty_history()
    terms, documents = _document_frequencies(story_index.recent_vocabulary(out_dir, drop_id, settings), settings)
    return StoryHistory(stored, terms, documents, first_day, last_day, settings.window_days)
