"""Evaluate the entity stage: accuracy on CoNLL-2003 eng.testa and NER throughput on Reuters-21578.

    .venv/bin/python -m benchmarks.eval_entities [--layout lines|paragraphs] [--reuters-files 3000] ...

Accuracy. Each eng.testa document (between `-DOCSTART-` lines) is rebuilt as text: tokens joined by one
space, sentences separated by "\\n" (`--layout lines`, the default: CoNLL sentences are headlines,
datelines and body sentences, and a line break is how a scraped article separates them) or by "\\n\\n"
(`--layout paragraphs`). Gold IOB1 tags (I-X continues an entity, B-X starts a new adjacent one of the
same type) become character spans. Predictions are scored by exact span and label, per CoNLL label and
micro over all, after mapping spaCy's OntoNotes labels to CoNLL ones (`ONTONOTES_TO_CONLL`); other
labels (DATE, CARDINAL, MONEY ...) are ignored. Systems:

- model alone: the full spaCy pipeline (`spacy.load(model)`), `nlp.pipe` on the document texts;
- pipeline: `tasks.entities.extract_entities` (NER component only, long documents split) as textdrops
  runs it, and again with a small `--split-chars` so that splitting happens on most documents;
- pipeline after cleanup: `clean_document` first, NER on the clean body, predictions mapped back to the
  original text by aligning the non-whitespace characters of both. It also reports how many gold
  entities survive cleanup verbatim (cleanup must not damage entities).

Throughput. The first `--reuters-files` Reuters-21578 articles, cleaned as the pipeline does, go through
`extract_entities` in one worker process of `textdrops.workers`, then as two halves submitted at once
to two workers; words/s (whitespace-separated words of the clean bodies) and the ratio are reported.
The workers load the model before timing starts. Run it on an otherwise idle machine: the 1-minute load
average is recorded with the numbers.

Tables are printed; everything is also written to benchmarks/results/entities.json. Data is read from
../shared (or $TEXTDROPS_SHARED); without it the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import os
import platform
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SHARED = Path(os.environ.get("TEXTDROPS_SHARED") or Path(__file__).resolve().parents[2] / "shared")
CONLL_TESTA = SHARED / "gold" / "conll2003" / "eng.testa"
REUTERS_ARTICLES = SHARED / "corpora" / "reuters21578" / "articles"
RESULTS = Path(__file__).resolve().parent / "results" / "entities.json"

CONLL_LABELS = ("PER", "ORG", "LOC", "MISC")
# OntoNotes (spaCy) -> CoNLL-2003. CoNLL's LOC covers countries and cities (GPE) as well as natural
# locations and facilities; MISC is nationalities, events, products, works, laws and languages.
ONTONOTES_TO_CONLL = {
    "PERSON": "PER",
    "ORG": "ORG",
    "GPE": "LOC",
    "LOC": "LOC",
    "FAC": "LOC",
    "NORP": "MISC",
    "EVENT": "MISC",
    "PRODUCT": "MISC",
    "WORK_OF_ART": "MISC",
    "LAW": "MISC",
    "LANGUAGE": "MISC",
}

Span = tuple[int, int, str]  # (start, end, label), character offsets


@dataclass(frozen=True)
class GoldDocument:
    """One eng.testa document rebuilt as text, with its gold entities as character spans."""

    text: str
    entities: tuple[Span, ...]


def read_conll(path: Path, sentence_separator: str = "\n") -> list[GoldDocument]:
    """The documents of a CoNLL-2003 file (IOB1 tags in the last column) as text with gold spans."""
    documents: list[list[list[tuple[str, str]]]] = []
    sentence: list[tuple[str, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if sentence:
                documents[-1].append(sentence)
                sentence = []
            if fields:
                documents.append([])
            continue
        if not documents:
            documents.append([])
        sentence.append((fields[0], fields[-1]))
    if sentence:
        documents[-1].append(sentence)
    return [_build_document(sentences, sentence_separator) for sentences in documents if sentences]


def _build_document(sentences: list[list[tuple[str, str]]], separator: str) -> GoldDocument:
    parts: list[str] = []
    entities: list[Span] = []
    pos = 0
    for n, sentence in enumerate(sentences):
        if n:
            parts.append(separator)
            pos += len(separator)
        current: list | None = None  # [start, end, label] of the entity being read
        for i, (word, tag) in enumerate(sentence):
            if i:
                parts.append(" ")
                pos += 1
            start, end = pos, pos + len(word)
            parts.append(word)
            pos = end
            if tag == "O":
                if current:
                    entities.append(tuple(current))
                current = None
                continue
            prefix, label = tag.split("-", 1)
            if current is None or prefix == "B" or current[2] != label:
                if current:
                    entities.append(tuple(current))
                current = [start, end, label]
            else:
                current[1] = end
        if current:
            entities.append(tuple(current))
    return GoldDocument("".join(parts), tuple(entities))


def to_conll(spans: Iterable[Span]) -> set[Span]:
    """Spans with OntoNotes labels mapped to CoNLL ones; labels outside the mapping are dropped."""
    return {(s, e, ONTONOTES_TO_CONLL[label]) for s, e, label in spans if label in ONTONOTES_TO_CONLL}


# --- scoring -------------------------------------------------------------------------------------------


def score(gold: Sequence[Iterable[Span]], predicted: Sequence[Iterable[Span]]) -> dict[str, dict]:
    """Exact-span precision, recall and F1 per CoNLL label and micro over all labels."""
    counts = {label: Counter() for label in (*CONLL_LABELS, "overall")}
    for gold_spans, pred_spans in zip(gold, predicted, strict=True):
        gold_set, pred_set = set(gold_spans), set(pred_spans)
        for s, e, label in gold_set | pred_set:
            kind = "tp" if (s, e, label) in gold_set and (s, e, label) in pred_set else "fn"
            if (s, e, label) not in gold_set:
                kind = "fp"
            counts[label][kind] += 1
            counts["overall"][kind] += 1
    return {label: _prf(c["tp"], c["fp"], c["fn"]) for label, c in counts.items()}


def _prf(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn, "gold": tp + fn}


def error_classes(docs: Sequence[GoldDocument], predicted: Sequence[Iterable[Span]], raw: Sequence[Iterable[Span]]):
    """Counts of error classes (label confusion, boundary errors, missed, spurious) and their top examples.

    `predicted` holds CoNLL-labelled spans, `raw` the model's spans with their OntoNotes labels (to tell
    a missed entity from one the model tagged with an ignored label such as DATE or CARDINAL).
    """
    classes: Counter = Counter()
    examples: dict[str, Counter] = {}

    def add(kind: str, example: str) -> None:
        classes[kind] += 1
        examples.setdefault(kind, Counter())[example] += 1

    for doc, pred_spans, raw_spans in zip(docs, predicted, raw, strict=True):
        text = doc.text
        gold_set, pred_set = set(doc.entities), set(pred_spans)
        for gs, ge, gl in gold_set - pred_set:
            same_span = sorted(p for p in pred_set if p[0] == gs and p[1] == ge)
            overlapping = sorted(p for p in pred_set if p[0] < ge and gs < p[1] and (p[0], p[1]) != (gs, ge))
            if same_span:
                add(f"label {gl} -> {same_span[0][2]}", repr(text[gs:ge]))
            elif overlapping:
                ps, pe, pl = overlapping[0]
                edge = _boundary_kind(gs, ge, ps, pe)
                add(f"boundary: {edge}" + ("" if pl == gl else " + label"), f"{text[gs:ge]!r} -> {text[ps:pe]!r}")
            else:
                ignored = [r[2] for r in raw_spans if r[0] < ge and gs < r[1] and r[2] not in ONTONOTES_TO_CONLL]
                if ignored:
                    add(f"missed {gl}: tagged {ignored[0]} (ignored label)", repr(text[gs:ge]))
                else:
                    add(f"missed {gl}", repr(text[gs:ge]))
        for ps, pe, pl in pred_set - gold_set:
            if any(g[0] < pe and ps < g[1] for g in gold_set):
                continue  # counted above from the gold side
            add(f"spurious {pl}", repr(text[ps:pe]))
    return classes, examples


def _boundary_kind(gs: int, ge: int, ps: int, pe: int) -> str:
    if ps <= gs and pe >= ge:
        return "predicted span too long"
    if ps >= gs and pe <= ge:
        return "predicted span too short"
    return "predicted span shifted"


# --- cleanup alignment ---------------------------------------------------------------------------------


def align_non_whitespace(source: str, target: str) -> tuple[list[int | None], list[int | None]]:
    """(target -> source, source -> target) character maps over the non-whitespace characters.

    Cleanup rejoins lines and collapses spaces, and may drop or repair text; the non-whitespace characters
    that both texts share, in order (difflib's matching blocks), are mapped to each other. Whitespace and
    characters present in only one text map to None.
    """
    src_index = [i for i, c in enumerate(source) if not c.isspace()]
    tgt_index = [i for i, c in enumerate(target) if not c.isspace()]
    src_chars = "".join(source[i] for i in src_index)
    tgt_chars = "".join(target[i] for i in tgt_index)
    to_source: list[int | None] = [None] * len(target)
    to_target: list[int | None] = [None] * len(source)
    if src_chars == tgt_chars:
        blocks = [(0, 0, len(src_chars))]
    else:
        matcher = difflib.SequenceMatcher(None, src_chars, tgt_chars, autojunk=False)
        blocks = [tuple(b) for b in matcher.get_matching_blocks()]
    for a, b, size in blocks:
        for k in range(size):
            to_source[tgt_index[b + k]] = src_index[a + k]
            to_target[src_index[a + k]] = tgt_index[b + k]
    return to_source, to_target


def map_span(start: int, end: int, index_map: Sequence[int | None]) -> tuple[int, int] | None:
    """The span (start, end) through a character map of `align_non_whitespace`, or None if unmappable."""
    first, last = index_map[start], index_map[end - 1]
    if first is None or last is None or last < first:
        return None
    return first, last + 1


def _squash(text: str) -> str:
    return " ".join(text.split())


# --- systems -------------------------------------------------------------------------------------------


def run_model_alone(texts: Sequence[str], model: str, batch_size: int) -> list[list[Span]]:
    """Spans of the full spaCy pipeline `model` (every component), as a user of spaCy would run it."""
    import spacy

    nlp = spacy.load(model)
    return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in nlp.pipe(texts, batch_size=batch_size)]


_ISO_DATE_END = re.compile(r"\b\d{4}-\d{2}-\d{2}$")


def _structure_lines(text: str) -> tuple[list[str], list[str]]:
    """(datelines, bylines) among the first lines of a CoNLL document ("LONDON 1996-08-30", "By Jane Doe")."""
    from tasks.clean import is_byline, is_structure_line

    lines = [line.strip() for line in text.split("\n")[:6] if line.strip()]
    bylines = [line for line in lines if is_byline(line) or (line.startswith("By ") and len(line.split()) <= 8)]
    # CoNLL's datelines end in an ISO date ("MILWAUKEE , Wisconsin 1996-08-29"): found here without the
    # cleaner's own rule, so that a dateline it fails to recognise is still counted.
    datelines = [
        line
        for line in lines
        if line not in bylines and ((len(line) <= 80 and _ISO_DATE_END.search(line)) or is_structure_line(line))
    ]
    return datelines, bylines


def run_after_cleanup(
    docs: Sequence[GoldDocument], model: str, batch_size: int, max_chars: int, learn_drop: bool = False
) -> dict:
    """NER on the cleaned bodies, spans mapped back to the original texts, and the survival of gold entities.

    With `learn_drop`, the documents are one drop: boilerplate is learned over all of them first, as the
    pipeline does (eng.testa is two days of Reuters: datelines recur across a day's stories).
    """
    from tasks.clean import clean_document, count_line_keys, document_line_keys, learn_boilerplate
    from tasks.entities import extract_entities

    boilerplate = frozenset()
    if learn_drop:
        keys = count_line_keys(document_line_keys(doc.text) for doc in docs)
        boilerplate = learn_boilerplate(keys, len(docs))
    cleaned = [clean_document(doc.text, boilerplate) for doc in docs]
    structure = Counter()
    for doc, c in zip(docs, cleaned, strict=True):
        kept_lines = {line.strip() for line in f"{c.title or ''}\n{c.text}".split("\n")}
        datelines, bylines = _structure_lines(doc.text)
        structure["datelines"] += len(datelines)
        structure["datelines_kept"] += sum(line in kept_lines for line in datelines)
        structure["bylines"] += len(bylines)
        structure["bylines_kept"] += sum(line in kept_lines for line in bylines)
    bodies = [c.text for c in cleaned]
    spans = extract_entities(bodies, model, batch_size=batch_size, max_chars=max_chars)
    mapped: list[list[Span]] = []
    unmappable: list[str] = []
    survival = Counter()
    damaged: list[str] = []
    for doc, body, doc_spans in zip(docs, bodies, spans, strict=True):
        to_source, to_target = align_non_whitespace(doc.text, body)
        out: list[Span] = []
        for s, e, label in doc_spans:
            span = map_span(s, e, to_source)
            if span is None or _squash(doc.text[span[0] : span[1]]) != _squash(body[s:e]):
                unmappable.append(repr(body[s:e]))
                continue
            out.append((*span, label))
        mapped.append(out)
        for gs, ge, _ in doc.entities:
            original = doc.text[gs:ge]
            span = map_span(gs, ge, to_target)
            if span is None:
                survival["dropped"] += 1
                damaged.append(f"dropped: {original!r}")
            elif body[span[0] : span[1]] == original:
                survival["verbatim"] += 1
            elif _squash(body[span[0] : span[1]]) == _squash(original):
                survival["whitespace_only"] += 1
            else:
                survival["changed"] += 1
                damaged.append(f"changed: {original!r} -> {body[span[0] : span[1]]!r}")
    return {
        "spans": mapped,
        "raw_spans": mapped,
        "unmappable_predictions": len(unmappable),
        "unmappable_examples": unmappable[:10],
        "survival": dict(survival),
        "damaged_examples": damaged[:20],
        "titles_taken": sum(c.title is not None for c in cleaned),
        "learned_keys": len(boilerplate),
        "learned_boilerplate_lines_removed": sum(c.removed_lines["learned_boilerplate"] for c in cleaned),
        "structure": dict(structure),
        "chars_removed": sum(sum(c.removed_chars.values()) - c.removed_chars["whitespace"] for c in cleaned),
    }


# --- throughput ----------------------------------------------------------------------------------------


def _warm_up(model: str) -> int:
    """Load the NER model in this (worker) process and run it once; returns the process id."""
    from tasks.entities import extract_entities

    extract_entities(["Vladimir Putin met Angela Merkel in Berlin on Monday."], model)
    time.sleep(1.0)  # keep this worker busy so that the other warm-up lands on the other worker
    return os.getpid()


def _in_threads(calls: Sequence[tuple]) -> list:
    """Run each (fn, *args) call in its own thread at once; their results in order."""
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def target(i: int, call: tuple) -> None:
        try:
            results[i] = call[0](*call[1:])
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def measure_throughput(texts: Sequence[str], model: str, batch_size: int, max_chars: int, repeats: int) -> dict:
    """Words/s of extract_entities in one worker process vs two workers on two halves (model load excluded)."""
    from tasks.entities import extract_entities
    from textdrops import workers

    processes = 2
    words = sum(len(t.split()) for t in texts)
    # Halves of about equal size: documents dealt out alternately, longest first.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    halves = [[texts[i] for i in order[0::2]], [texts[i] for i in order[1::2]]]

    def job(chunk: Sequence[str]):
        return workers.run(extract_entities, list(chunk), model, batch_size, max_chars, processes=processes)

    try:
        pids: set[int] = set()
        for _ in range(5):
            warm_up = functools.partial(workers.run, _warm_up, model, processes=processes)
            pids.update(_in_threads([(warm_up,) for _ in range(processes)]))
            # the pool's processes have been started; warm up until each one has loaded the model
            if len(pids) >= processes:
                break
        single, double = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            (spans_one,) = _in_threads([(job, texts)])
            single.append(time.perf_counter() - started)
            started = time.perf_counter()
            spans_two = _in_threads([(job, half) for half in halves])
            double.append(time.perf_counter() - started)
    finally:
        workers.shutdown()
    entities_one = sum(len(s) for s in spans_one)
    entities_two = sum(len(s) for half in spans_two for s in half)
    one, two = words / min(single), words / min(double)
    return {
        "documents": len(texts),
        "words": words,
        "chars": sum(len(t) for t in texts),
        "workers_warmed": len(pids),
        "seconds_1_process": single,
        "seconds_2_processes": double,
        "words_per_second_1_process": one,
        "words_per_second_2_processes": two,
        "speedup": two / one,
        "entities_1_process": entities_one,
        "entities_2_processes": entities_two,
    }


def read_reuters(folder: Path, n_files: int) -> list[str]:
    """The clean bodies (`clean_document`, as the prepare stage makes them) of the first n_files articles."""
    from tasks.clean import clean_document

    paths = sorted(folder.glob("*.txt"))[:n_files]
    return [clean_document(p.read_text(encoding="utf-8")).text for p in paths]


# --- report --------------------------------------------------------------------------------------------


def print_scores(systems: dict[str, dict]) -> None:
    names = list(systems)
    width = max(len(n) for n in names)
    print(f"\n{'exact-span F1 (P / R)':<{width}}  " + "  ".join(f"{label:>18}" for label in (*CONLL_LABELS, "overall")))
    for name in names:
        cells = []
        for label in (*CONLL_LABELS, "overall"):
            m = systems[name][label]
            cells.append(f"{100 * m['f1']:5.1f} ({100 * m['precision']:4.1f}/{100 * m['recall']:4.1f})")
        print(f"{name:<{width}}  " + "  ".join(f"{c:>18}" for c in cells))
    gold = systems[names[0]]
    print(
        f"{'gold entities':<{width}}  "
        + "  ".join(f"{gold[label]['gold']:>18}" for label in (*CONLL_LABELS, "overall"))
    )


def print_errors(title: str, classes: Counter, examples: dict[str, Counter], top: int) -> None:
    print(f"\n{title}: {sum(classes.values())} errors")
    grouped = Counter()
    for kind, n in classes.items():
        grouped[kind.split(":")[0].split(" ")[0]] += n
    print("  by class: " + ", ".join(f"{kind} {n}" for kind, n in grouped.most_common()))
    for kind, n in classes.most_common(top):
        shown = "; ".join(f"{ex} x{c}" if c > 1 else ex for ex, c in examples[kind].most_common(6))
        print(f"  {n:5d}  {kind:<48} {shown}")


def main(argv: Sequence[str] | None = None) -> int:
    from textdrops.config import DEFAULT_NER_MODEL

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=os.environ.get("TEXTDROPS_NER_MODEL", DEFAULT_NER_MODEL))
    parser.add_argument("--layout", choices=("lines", "paragraphs"), default="lines")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-chars", type=int, default=20_000, help="the pipeline's split size (its default)")
    parser.add_argument("--split-chars", type=int, default=1_000, help="a small split size that splits most documents")
    parser.add_argument("--reuters-files", type=int, default=3_000)
    parser.add_argument("--repeats", type=int, default=2, help="throughput runs; the fastest counts")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--top-errors", type=int, default=15)
    args = parser.parse_args(argv)

    if not CONLL_TESTA.is_file() or not REUTERS_ARTICLES.is_dir():
        print(
            f"eval_entities: shared data not found ({CONLL_TESTA} / {REUTERS_ARTICLES}); put the shared folder "
            "beside the repository or set TEXTDROPS_SHARED. Nothing evaluated."
        )
        return 0

    from tasks.entities import extract_entities, model_version

    report: dict = {
        "model": model_version(args.model),
        "settings": {k: v for k, v in vars(args).items() if not k.startswith("skip")},
        "label_mapping": ONTONOTES_TO_CONLL,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }

    if not args.skip_accuracy:
        docs = read_conll(CONLL_TESTA, "\n" if args.layout == "lines" else "\n\n")
        texts = [d.text for d in docs]
        gold = [d.entities for d in docs]
        print(
            f"CoNLL-2003 eng.testa: {len(docs)} documents, {sum(len(g) for g in gold)} gold entities, "
            f"layout {args.layout!r}, model {report['model']}"
        )
        raw: dict[str, list[list[Span]]] = {}
        started = time.perf_counter()
        raw["model alone"] = run_model_alone(texts, args.model, args.batch_size)
        raw["pipeline"] = extract_entities(texts, args.model, args.batch_size, args.max_chars)
        split_name = f"pipeline, split at {args.split_chars:,} chars"
        raw[split_name] = extract_entities(texts, args.model, args.batch_size, args.split_chars)
        cleanup = run_after_cleanup(docs, args.model, args.batch_size, args.max_chars)
        raw["pipeline after cleanup"] = cleanup["spans"]
        drop_cleanup = run_after_cleanup(docs, args.model, args.batch_size, args.max_chars, learn_drop=True)
        raw["after cleanup, as one drop (learned boilerplate)"] = drop_cleanup["spans"]
        predicted = {name: [to_conll(s) for s in spans] for name, spans in raw.items()}
        systems = {name: score(gold, pred) for name, pred in predicted.items()}
        print_scores(systems)
        # The entities table promises documents.text[start:end] == entities.text: a span that starts or
        # ends with whitespace is exact but not a clean mention.
        padded = {
            name: [
                text[s:e]
                for text, spans in zip(texts, raw[name], strict=True)
                for s, e, _ in spans
                if text[s:e] != text[s:e].strip()
            ]
            for name in ("model alone", "pipeline")
        }
        for name, found in padded.items():
            print(f"{name}: {len(found)} spans (any label) start or end with whitespace, e.g. {found[:3]}")
        n_docs_split = sum(len(t) > args.split_chars for t in texts)
        print(
            f"\n({n_docs_split} of {len(docs)} documents are longer than {args.split_chars:,} chars; "
            f"none is longer than {max(len(t) for t in texts):,})"
        )

        survival = cleanup["survival"]
        total = sum(survival.values())
        print(
            f"\ncleanup: {total} gold entities: {survival.get('verbatim', 0)} verbatim, "
            f"{survival.get('whitespace_only', 0)} whitespace changed, {survival.get('changed', 0)} changed, "
            f"{survival.get('dropped', 0)} dropped; {cleanup['titles_taken']} documents lost a first line to the "
            f"title; {cleanup['chars_removed']} non-whitespace chars removed; "
            f"{cleanup['unmappable_predictions']} predictions could not be mapped back"
        )
        for example in cleanup["damaged_examples"][:10] + cleanup["unmappable_examples"][:5]:
            print(f"  {example}")
        for label, result in (("alone", cleanup), ("as one drop", drop_cleanup)):
            st = result["structure"]
            print(
                f"cleanup {label}: datelines kept {st.get('datelines_kept', 0)}/{st.get('datelines', 0)}, "
                f"bylines kept {st.get('bylines_kept', 0)}/{st.get('bylines', 0)}; {result['learned_keys']} "
                f"learned keys, {result['learned_boilerplate_lines_removed']} learned lines removed"
            )
        after, alone = systems["after cleanup, as one drop (learned boilerplate)"], systems["model alone"]
        verdict = "ok" if after["overall"]["f1"] >= alone["overall"]["f1"] else "BELOW"
        print(
            f"NER after cleanup as one drop vs model alone: {after['overall']['f1']:.4f} vs "
            f"{alone['overall']['f1']:.4f} ({verdict})"
        )

        errors = {}
        for name in ("model alone", "pipeline"):
            classes, examples = error_classes(docs, predicted[name], raw[name])
            print_errors(f"errors of {name}", classes, examples, args.top_errors)
            errors[name] = {
                "classes": dict(classes.most_common()),
                "examples": {k: dict(v.most_common(10)) for k, v in examples.items()},
            }
        report["accuracy"] = {
            "data": str(CONLL_TESTA),
            "layout": args.layout,
            "documents": len(docs),
            "systems": systems,
            "spans_with_surrounding_whitespace": {name: len(found) for name, found in padded.items()},
            "cleanup": {k: v for k, v in cleanup.items() if k not in ("spans", "raw_spans")},
            "cleanup_as_one_drop": {k: v for k, v in drop_cleanup.items() if k not in ("spans", "raw_spans")},
            "errors": errors,
            "seconds": time.perf_counter() - started,
        }

    if not args.skip_throughput:
        texts = read_reuters(REUTERS_ARTICLES, args.reuters_files)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        print(
            f"\nthroughput: {len(texts)} Reuters-21578 articles (cleaned), {sum(len(t.split()) for t in texts):,} "
            f"words, {os.cpu_count()} CPUs, load average {load}"
        )
        result = measure_throughput(texts, args.model, args.batch_size, args.max_chars, args.repeats)
        result["load_average_before"] = load
        result["load_average_after"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        print(
            f"  1 process:   {result['words_per_second_1_process']:9,.0f} words/s  "
            f"(runs {', '.join(f'{s:.1f}' for s in result['seconds_1_process'])} s)"
        )
        print(
            f"  2 processes: {result['words_per_second_2_processes']:9,.0f} words/s  "
            f"(runs {', '.join(f'{s:.1f}' for s in result['seconds_2_processes'])} s)"
        )
        print(
            f"  speedup:     {result['speedup']:.2f}x (target >= 1.7x); "
            f"load average after {result['load_average_after']:.2f}"
        )
        if result["entities_1_process"] != result["entities_2_processes"]:
            print(
                f"  warning: {result['entities_1_process']} entities in 1 process vs "
                f"{result['entities_2_processes']} in 2"
            )
        report["throughput"] = result

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwritten {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
