"""Evaluate the dedupe stage on real drops: exact groups, cross-drop recrawls, edited copies, MSRP, index size.

Run: `.venv/bin/python -m benchmarks.eval_dedupe` (reads ../shared, or $TEXTDROPS_SHARED).

Every drop goes through the pipeline's own functions in this process, without Prefect: `discover`,
`load_batch_to_file`, `learn_drop_boilerplate` and `prepare_batch` of `tasks.steps` (cleanup, the
manifest join, content hashes and MinHash signatures exactly as a run makes them), then
`statuses_against_history` against the kept documents of the drops processed before it, as
`tasks.steps.dedupe_drop` does (`dedupe_drops`).

1. BBC (one drop), then the BBC recrawl (a second drop): the within-drop exact groups of
   exact_dup_groups.csv, and the recrawled files of map_to_bbc.csv flagged as copies of their BBC file.
2. Reuters-21578 as one drop: its exact groups, and the duplicates found beyond them.
3. Near-duplicates: seeded edited copies of real BBC articles (words changed, a paragraph dropped or
   added, a different footer, a mix) whose exact word-5-shingle Jaccard with the original is >= 0.8 are
   the positives; every pair of different BBC articles of the same topic folder with exact Jaccard < 0.8
   is a negative. `band_keys` -> `candidate_pairs` -> `verified_pairs` as the pipeline runs them.
4. MSRP sentence pairs: estimated Jaccard of the pipeline's signatures (5- and 3-word shingles). A
   sanity check at sentence level: paraphrases are not near-duplicates, so low recall is expected.
5. Bytes per stored document of the `_dedupe_index` Parquet part.
6. Re-processing BBC against a history that holds only the other drop marks nothing as its own copy,
   in memory and through the pipeline's `dedupe_drop` / `load_history` on a temporary output folder.

Results are printed and written to benchmarks/results/dedupe.json.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from tasks import dedupe, dedupe_index, minhash, steps, write
from tasks.discover import discover_drop, drop_id_of
from textdrops import staging
from textdrops.config import MinHashConfig, Settings

SEED = 20160314
CFG = MinHashConfig()
MAX_FILE_BYTES = Settings().max_file_bytes
RESULTS = Path(__file__).resolve().parent / "results" / "dedupe.json"
INDEX_COLUMNS = dedupe.INDEX_COLUMNS
N_EDITED = 1000
MIN_WORDS = 150
BUCKETS = ((0.8, 0.85), (0.85, 0.9), (0.9, 1.0001))
_WORD = re.compile(r"\w+")

# Made-up site footers (written here, not taken from any corpus): "a different footer".
FOOTERS = (
    "Copyright 2005 The Harbour Courier Ltd. All rights reserved. This material may not be published, "
    "broadcast, rewritten or redistributed without permission.",
    "Follow our newsroom on social media for breaking stories, live blogs and the morning briefing, "
    "delivered free to your inbox every weekday before seven o'clock.",
    "Got a story for us? Contact the news desk by phone or email; readers' letters are published on "
    "Saturdays and may be edited for length and clarity.",
    "This article was amended on the day of publication to correct a spelling. Our corrections policy "
    "and the complaints procedure are explained on the about us page.",
    "Printed and published by Northern Valley Media plc, registered office Mill Lane, number 2291034. "
    "Subscriptions, archives and reprints are available from the shop.",
)


def shared_folder() -> Path:
    override = os.environ.get("TEXTDROPS_SHARED")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "shared"


# --- the pipeline, in process ---------------------------------------------------------------------------


def prepare_drop(drop: Path) -> pl.DataFrame:
    """Cleaned, hashed and fingerprinted documents of one drop, made by the pipeline's own discover, load,
    learn-boilerplate and prepare steps (in this process, staged in a temporary folder)."""
    with tempfile.TemporaryDirectory() as work:
        ctx = steps.RunContext("eval-dedupe", str(drop.resolve()), drop_id_of(drop), Settings(out_dir=Path(work)))
        found = discover_drop(ctx, lambda warning: None)
        loaded = [steps.load_batch_to_file(ctx, i, batch) for i, batch in enumerate(found.batches)]
        boilerplate = steps.learn_drop_boilerplate(ctx, loaded)
        prepared = [steps.prepare_batch(ctx, i, batch, boilerplate) for i, batch in enumerate(loaded)]
        docs = pl.concat([steps.read_ipc(p.path) for p in prepared], how="vertical_relaxed")
    return docs.select("source_path", "title", "text", "doc_id", "drop_id", "published_at", "content_hash", "signature")


def dedupe_against(current: pl.DataFrame, history: pl.DataFrame | None) -> pl.DataFrame:
    """`current` with its statuses against `history` (index rows of earlier drops), ranked as the index
    query ranks them (drop, then published_at and path within the drop) and as `dedupe_drop` assigns."""
    if history is None:
        history = dedupe.drop_documents([], CFG)
    ranked_history = history.select(INDEX_COLUMNS).sort(["drop_id", "published_at", "source_path"], nulls_last=True)
    statuses = dedupe.statuses_against_history(current.select(INDEX_COLUMNS), ranked_history, CFG)
    return current.join(statuses, on="doc_id", how="left")


def dedupe_drops(drops: list[Path], prepared: dict[Path, pl.DataFrame] | None = None) -> list[pl.DataFrame]:
    """Each drop's documents with statuses, processed in order against the kept documents of those before."""
    prepared = prepared if prepared is not None else {}
    history: pl.DataFrame | None = None
    out = []
    for drop in drops:
        if drop not in prepared:
            prepared[drop] = prepare_drop(drop)
        result = dedupe_against(prepared[drop], history)
        kept = result.filter(pl.col("status") == "kept").select(INDEX_COLUMNS)
        history = kept if history is None else pl.concat([history, kept], how="vertical_relaxed")
        out.append(result)
    return out


# --- exact groups ----------------------------------------------------------------------------------------


def read_groups(path: Path, prefix: str = "") -> dict[int, list[str]]:
    groups: dict[int, list[str]] = defaultdict(list)
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            groups[int(row["group_id"])].append(prefix + row["file"])
    return dict(groups)


def snippet(text: str, n: int = 70) -> str:
    flat = " ".join(text.split())
    return flat[:n] + ("..." if len(flat) > n else "")


def evaluate_groups(docs: pl.DataFrame, groups: dict[int, list[str]]) -> dict:
    """Group recall (all members in one cluster) and the duplicates found outside any listed group."""
    by_path = {r["source_path"]: r for r in docs.iter_rows(named=True)}
    by_id = {r["doc_id"]: r for r in docs.iter_rows(named=True)}
    found, member_ok, members, statuses, missed, kept_outside = 0, 0, 0, Counter(), [], 0
    in_group = {}
    for gid, files in groups.items():
        rows = [by_path.get(f) for f in files]
        for f in files:
            in_group[f] = gid
        if any(r is None for r in rows):
            missed.append({"group": gid, "why": "file not a document", "files": files})
            continue
        clusters = {r["cluster_id"] for r in rows}
        kept = [r for r in rows if r["status"] == "kept"]
        ok = len(clusters) == 1  # one cluster; its kept copy may be outside the group (an earlier near copy)
        found += ok
        kept_outside += ok and not kept
        for r in rows:
            if r["status"] != "kept":
                members += 1
                statuses[r["status"]] += 1
                dup_of = by_id.get(r["duplicate_of"])
                member_ok += dup_of is not None and in_group.get(dup_of["source_path"], -1) == gid
        if not ok or not kept:
            missed.append(
                {
                    "group": gid,
                    "one_cluster": ok,
                    "members": [
                        (
                            r["source_path"],
                            r["status"],
                            by_id[r["duplicate_of"]]["source_path"] if r["duplicate_of"] else None,
                        )
                        for r in rows
                    ],
                }
            )
    extra = docs.filter(pl.col("status") != "kept")
    extra_rows = []
    for r in extra.iter_rows(named=True):
        target = by_id[r["duplicate_of"]]["source_path"]
        if r["source_path"] in in_group and in_group.get(target) == in_group[r["source_path"]]:
            continue
        extra_rows.append(r | {"target": target})
    extra_counts = Counter(r["status"] for r in extra_rows)
    examples = []
    for status in ("exact_duplicate", "near_duplicate"):
        for r in [x for x in extra_rows if x["status"] == status][:4]:
            t = by_id[r["duplicate_of"]]
            examples.append(
                {
                    "status": status,
                    "file": r["source_path"],
                    "duplicate_of": r["target"],
                    "similarity": round(float(r["similarity"]), 3),
                    "true_jaccard": round(true_jaccard(dedupe_text(r), dedupe_text(t)), 3),
                    "text": snippet(dedupe_text(r)),
                    "other": snippet(dedupe_text(t)),
                }
            )
    return {
        "groups": len(groups),
        "groups_found": found,
        "group_recall": found / len(groups) if groups else None,
        "non_first_members": members,
        "members_flagged_into_own_group": member_ok,
        "groups_kept_outside": kept_outside,
        "member_statuses": dict(statuses),
        "groups_not_in_one_cluster_or_kept_outside": missed[:10],
        "extra_duplicates": dict(extra_counts),
        "extra_examples": examples,
        "status_counts": dict(docs["status"].value_counts().rows()),
        "documents": docs.height,
    }


def dedupe_text(row: dict) -> str:
    return f"{row['title'] or ''}\n\n{row['text']}"


# --- exact Jaccard ---------------------------------------------------------------------------------------


def shingles(text: str, k: int = CFG.shingle_size) -> frozenset[str]:
    """Word k-shingles as the pipeline tokenises (lowercase \\w+); shorter texts give their words."""
    words = _WORD.findall(text.lower())
    if len(words) < k:
        return frozenset(words)
    return frozenset(" ".join(words[i : i + k]) for i in range(len(words) - k + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a and not b:
        return 1.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def true_jaccard(x: str, y: str, k: int = CFG.shingle_size) -> float:
    return jaccard(shingles(x, k), shingles(y, k))


# --- 1. BBC then the recrawl -----------------------------------------------------------------------------


def evaluate_recrawl(bbc: pl.DataFrame, recrawl: pl.DataFrame, map_csv: Path) -> dict:
    bbc_rows = {r["source_path"]: r for r in bbc.iter_rows(named=True)}
    rec_rows = {r["source_path"]: r for r in recrawl.iter_rows(named=True)}
    bbc_ids = {r["doc_id"]: r for r in bbc.iter_rows(named=True)}
    # a recrawl file whose BBC file is itself a near copy of another BBC article is flagged near of that root
    near_roots = 0
    with open(map_csv, newline="") as handle:
        mapping = list(csv.DictReader(handle))
    mapped = [m for m in mapping if m["exact_matches_in_other"]]
    counts, misses = Counter(), []
    for m in mapped:
        rec = rec_rows.get(m["file"])
        targets = [bbc_rows[f] for f in m["exact_matches_in_other"].split("|") if f in bbc_rows]
        if rec is None or not targets:
            counts["not_a_document"] += 1
            misses.append({"file": m["file"], "why": "not a document"})
            continue
        # the mapped file's cluster root (itself when kept) is what a correct flag points to
        roots = {t["cluster_id"] for t in targets}
        if rec["status"] != "kept" and rec["duplicate_of_drop"] == "bbc" and rec["duplicate_of"] in roots:
            counts[rec["status"]] += 1
            near_roots += rec["status"] == "near_duplicate" and any(t["status"] == "near_duplicate" for t in targets)
            continue
        counts["missed_" + rec["status"]] += 1
        t = targets[0]
        est = float((np.asarray(rec["signature"]) == np.asarray(t["signature"])).mean())
        misses.append(
            {
                "file": m["file"],
                "bbc_file": t["source_path"],
                "status": rec["status"],
                "duplicate_of_drop": rec["duplicate_of_drop"],
                "same_content_hash": rec["content_hash"] == t["content_hash"],
                "estimated_jaccard": round(est, 3),
                "true_jaccard": round(true_jaccard(dedupe_text(rec), dedupe_text(t)), 3),
                "recrawl_title": rec["title"],
                "bbc_title": t["title"],
            }
        )
    unmapped = []
    for m in mapping:
        if not m["exact_matches_in_other"] and m["file"] in rec_rows:
            r = rec_rows[m["file"]]
            t = bbc_ids.get(r["duplicate_of"])
            unmapped.append(
                {
                    "file": m["file"],
                    "status": r["status"],
                    "duplicate_of": t["source_path"] if t else r["duplicate_of"],
                    "similarity": r["similarity"],
                    "true_jaccard": round(true_jaccard(dedupe_text(r), dedupe_text(t)), 3) if t else None,
                }
            )
    flagged = counts["exact_duplicate"] + counts["near_duplicate"]
    return {
        "map_rows": len(mapping),
        "mapped_files": len(mapped),
        "flagged_correctly": flagged,
        "share": flagged / len(mapped) if mapped else None,
        "by_status": dict(counts),
        "near_because_mapped_bbc_file_is_a_near_copy": near_roots,
        "misses": misses[:15],
        "n_misses": len(misses),
        "unmapped_files": unmapped,
        "recrawl_status_counts": dict(recrawl["status"].value_counts().rows()),
    }


# --- 3. edited copies ------------------------------------------------------------------------------------


def edit_copy(kind: str, title: str, text: str, rng: random.Random, vocab: list[str], donors: list[str]) -> tuple:
    """(original text, copy text) for one edit kind; the original gets a footer too for `footer`."""
    paras = text.split("\n\n")

    def change_words(body: str, n: int) -> str:
        words = body.split(" ")
        for i in rng.sample(range(len(words)), min(n, len(words))):
            new = rng.choice(vocab)
            while new == words[i].lower():
                new = rng.choice(vocab)
            words[i] = new
        return " ".join(words)

    if kind == "words":
        return text, change_words(text, rng.randint(2, 8))
    if kind == "drop_paragraph":
        i = rng.randrange(1, len(paras))
        return text, "\n\n".join(paras[:i] + paras[i + 1 :])
    if kind == "add_paragraph":
        i = rng.randrange(1, len(paras) + 1)
        return text, "\n\n".join(paras[:i] + [rng.choice(donors)] + paras[i:])
    if kind == "footer":
        a, b = rng.sample(FOOTERS, 2)
        return f"{text}\n\n{a}", f"{text}\n\n{b}"
    if kind == "mixed":  # a few words, a dropped paragraph and a footer
        i = rng.randrange(1, len(paras))
        body = "\n\n".join(paras[:i] + paras[i + 1 :])
        return text, f"{change_words(body, rng.randint(1, 3))}\n\n{rng.choice(FOOTERS)}"
    raise ValueError(kind)


EDIT_KINDS = ("words", "drop_paragraph", "add_paragraph", "footer", "mixed")


def bucket_of(j: float) -> str | None:
    for lo, hi in BUCKETS:
        if lo <= j < hi:
            return f"{lo:.2f}-{min(hi, 1.0):.2f}"
    return None


def evaluate_edited(bbc: pl.DataFrame) -> dict:
    """Recall and precision of MinHash + LSH + verification on edited copies vs same-topic articles."""
    rng = random.Random(SEED)
    unique = bbc.unique("content_hash", keep="first", maintain_order=True).filter(
        ~pl.col("source_path").str.starts_with("ORIGINAL")
    )
    rows = list(unique.iter_rows(named=True))
    topics = [r["source_path"].split("/")[0] for r in rows]
    texts = [dedupe_text(r) for r in rows]
    sets = [shingles(t) for t in texts]
    # negatives: every pair of different articles of the same topic, by exact Jaccard
    by_topic: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(topics):
        by_topic[t].append(i)
    started = time.perf_counter()
    neg_pairs, same_story = [], []
    for members in by_topic.values():
        for x, i in enumerate(members):
            si = sets[i]
            for j in members[x + 1 :]:
                jj = jaccard(si, sets[j])
                (same_story if jj >= CFG.threshold else neg_pairs).append((i, j, jj))
    neg_seconds = time.perf_counter() - started
    neg_j = np.array([p[2] for p in neg_pairs])
    hardest = sorted(neg_pairs, key=lambda p: -p[2])[:5]
    vocab = sorted({w for t in texts[:300] for w in _WORD.findall(t.lower()) if w.isalpha() and len(w) > 3})
    eligible = [i for i, r in enumerate(rows) if len(r["text"].split()) >= MIN_WORDS and r["text"].count("\n\n") >= 2]
    originals = rng.sample(eligible, min(N_EDITED, len(eligible)))
    donors = {
        t: [p for i in m for p in rows[i]["text"].split("\n\n") if 20 <= len(p.split()) <= 80]
        for t, m in by_topic.items()
    }
    neg_set = {(i, j) for i, j, _ in neg_pairs}
    per_kind, buckets = {}, defaultdict(lambda: [0, 0])
    below = defaultdict(lambda: [0, 0])
    fp_examples, fn_examples = [], []
    totals = Counter()
    for kind in EDIT_KINDS:
        pool_texts = list(texts)
        copies = {}  # pool index of the copy -> (original index, true Jaccard)
        for i in originals:
            orig, copy = edit_copy(kind, rows[i]["title"], rows[i]["text"], rng, vocab, donors[topics[i]])
            orig_text = f"{rows[i]['title'] or ''}\n\n{orig}"
            copy_text = f"{rows[i]['title'] or ''}\n\n{copy}"
            pool_texts[i] = orig_text
            copies[len(pool_texts)] = (i, true_jaccard(orig_text, copy_text))
            pool_texts.append(copy_text)
        series = pl.Series(pool_texts)
        sig = minhash.minhash_signatures(series, CFG)
        candidates = dedupe.candidate_pairs(minhash.band_keys(sig, CFG))
        found = dedupe.verified_pairs(sig, candidates, CFG.threshold)
        candidate_set = set(candidates.iter_rows())
        ranked = pl.DataFrame(
            {
                "doc_id": [str(i) for i in range(len(pool_texts))],
                "drop_id": "edited",
                "content_hash": dedupe.content_hashes(series),
            }
        )
        cluster = dedupe.assign_clusters(ranked, sig, CFG)["cluster_id"].to_list()
        found_pairs = {(int(a), int(b)): float(s) for a, b, s in found.iter_rows()}
        discarded = {c for c, (_, j) in copies.items() if j < CFG.threshold}
        positives = {(i, c): j for c, (i, j) in copies.items() if c not in discarded}
        tp = sum(1 for p in positives if p in found_pairs)
        not_candidates = sum(1 for p in positives if p not in candidate_set)
        tp_cluster = sum(1 for i, c in positives if cluster[i] == cluster[c])
        # precision over found pairs not touching a discarded (< 0.8) copy, judged by exact Jaccard
        judged = [(a, b, s) for (a, b), s in found_pairs.items() if a not in discarded and b not in discarded]
        true_pos, false_pos = 0, []
        for a, b, s in judged:
            j = positives[(a, b)] if (a, b) in positives else true_jaccard(pool_texts[a], pool_texts[b])
            if j >= CFG.threshold:
                true_pos += 1
            else:
                false_pos.append((a, b, s, j))
        neg_flagged = sum(1 for p in found_pairs if p in neg_set)
        neg_cluster = sum(1 for i, j, _ in neg_pairs if cluster[i] == cluster[j])
        for (i, c), j in positives.items():
            b = bucket_of(j)
            buckets[b][0] += 1
            buckets[b][1] += (i, c) in found_pairs
            if (i, c) not in found_pairs and len(fn_examples) < 8:
                est = float((sig[i] == sig[c]).mean())
                fn_examples.append(
                    {"kind": kind, "file": rows[i]["source_path"], "true_jaccard": round(j, 3), "estimated": est}
                )
        for c in discarded:
            i, j = copies[c]
            key = "0.70-0.75" if j >= 0.7 and j < 0.75 else "0.75-0.80" if j >= 0.75 else "<0.70"
            below[key][0] += 1
            below[key][1] += (i, c) in found_pairs
        for a, b, s, j in false_pos[: max(0, 6 - len(fp_examples))]:
            fp_examples.append(
                {
                    "kind": kind,
                    "a": rows[a]["source_path"] if a < len(rows) else f"copy of {rows[copies[a][0]]['source_path']}",
                    "b": rows[b]["source_path"] if b < len(rows) else f"copy of {rows[copies[b][0]]['source_path']}",
                    "estimated": round(s, 3),
                    "true_jaccard": round(j, 3),
                }
            )
        est_err = [float((sig[i] == sig[c]).mean()) - j for (i, c), j in positives.items()]
        per_kind[kind] = {
            "generated": len(copies),
            "positives": len(positives),
            "found": tp,
            "recall": tp / len(positives) if positives else None,
            "recall_same_cluster": tp_cluster / len(positives) if positives else None,
            "missed_not_candidate": not_candidates,
            "missed_below_threshold": len(positives) - tp - not_candidates,
            "found_pairs_judged": len(judged),
            "precision": true_pos / len(judged) if judged else None,
            "false_positives": len(false_pos),
            "negatives_flagged": neg_flagged,
            "negatives_same_cluster": neg_cluster,
            "mean_estimate_minus_true": float(np.mean(est_err)) if est_err else None,
            "median_true_jaccard": float(np.median(list(positives.values()))) if positives else None,
        }
        totals.update(
            {
                "positives": len(positives),
                "found": tp,
                "judged": len(judged),
                "true_pos": true_pos,
                "fp": len(false_pos),
            }
        )
        totals.update({"neg_flagged": neg_flagged, "neg_cluster": neg_cluster, "cluster_found": tp_cluster})
    return {
        "originals": len(originals),
        "pool_articles": len(rows),
        "negatives": len(neg_pairs),
        "negatives_seconds": round(neg_seconds, 1),
        "negative_jaccard": {
            "max": float(neg_j.max()),
            ">=0.5": int((neg_j >= 0.5).sum()),
            "0.3-0.5": int(((neg_j >= 0.3) & (neg_j < 0.5)).sum()),
            "0.1-0.3": int(((neg_j >= 0.1) & (neg_j < 0.3)).sum()),
        },
        "hardest_negatives": [
            {"a": rows[i]["source_path"], "b": rows[j]["source_path"], "true_jaccard": round(v, 3)}
            for i, j, v in hardest
        ],
        "same_story_pairs_excluded": [
            {"a": rows[i]["source_path"], "b": rows[j]["source_path"], "true_jaccard": round(v, 3)}
            for i, j, v in same_story
        ],
        "per_kind": per_kind,
        "recall": totals["found"] / totals["positives"],
        "recall_same_cluster": totals["cluster_found"] / totals["positives"],
        "precision": totals["true_pos"] / totals["judged"] if totals["judged"] else None,
        "false_positives": totals["fp"],
        "negatives_flagged_total": totals["neg_flagged"],
        "negatives_same_cluster_total": totals["neg_cluster"],
        "by_bucket": {k: {"positives": n, "found": f, "recall": f / n} for k, (n, f) in sorted(buckets.items())},
        "discarded_copies_found": {k: {"copies": n, "found": f} for k, (n, f) in sorted(below.items())},
        "false_positive_examples": fp_examples,
        "missed_examples": fn_examples,
    }


# --- 4. MSRP ---------------------------------------------------------------------------------------------


def evaluate_msrp(path: Path) -> dict:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        pairs = [(int(r[0]), r[3], r[4]) for r in reader if len(r) >= 5]
    labels = np.array([p[0] for p in pairs])
    out = {"file": path.name, "columns": header, "pairs": len(pairs), "paraphrases": int(labels.sum())}
    for k in (5, 3):
        cfg = dataclasses.replace(CFG, shingle_size=k)
        n = len(pairs)
        sig = minhash.minhash_signatures(pl.Series([p[1] for p in pairs] + [p[2] for p in pairs]), cfg)
        est = dedupe.estimated_jaccard(sig, np.arange(n), np.arange(n, 2 * n))
        true = np.array([true_jaccard(p[1], p[2], k) for p in pairs])
        row = {}
        for name, mask in (("paraphrase", labels == 1), ("non_paraphrase", labels == 0)):
            row[name] = {
                "pairs": int(mask.sum()),
                "estimated_ge_threshold": int((est[mask] >= cfg.threshold).sum()),
                "true_ge_threshold": int((true[mask] >= cfg.threshold).sum()),
                "mean_estimated": round(float(est[mask].mean()), 3),
                "mean_true": round(float(true[mask].mean()), 3),
            }
        row["recall_on_paraphrases"] = row["paraphrase"]["estimated_ge_threshold"] / row["paraphrase"]["pairs"]
        out[f"shingle_{k}"] = row
    return out


# --- 5. index size ---------------------------------------------------------------------------------------


def index_size(kept: pl.DataFrame) -> dict:
    """Bytes per stored document of an `_dedupe_index` part written as the pipeline writes it."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / dedupe_index.INDEX_DIR / "drop_id=bbc"
        rows = write.write_part(kept.select(INDEX_COLUMNS), dedupe_index.INDEX_DIR, folder, 0, keep_empty=True)
        path = folder / "part-00000.parquet"
        size = path.stat().st_size
        meta = pq.ParquetFile(path).metadata
        per_column = Counter()
        for g in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                col = meta.row_group(g).column(c)
                per_column[col.path_in_schema.split(".")[0]] += col.total_compressed_size
        # the same rows with dictionary encoding off for the signature (random values: a dictionary only adds)
        arrow = pq.read_table(path)
        no_dict = Path(tmp) / "no-dictionary.parquet"
        pq.write_table(
            arrow, no_dict, compression="zstd", use_dictionary=[c for c in arrow.column_names if c != "signature"]
        )
        plain = no_dict.stat().st_size
    return {
        "rows": rows,
        "file_bytes": size,
        "bytes_per_document": size / rows if rows else None,
        "compressed_bytes_per_document_by_column": {k: round(v / rows, 1) for k, v in per_column.items()},
        "raw_signature_bytes": CFG.num_perm * 4,
        "bytes_per_document_signature_without_dictionary": plain / rows if rows else None,
    }


# --- 6. re-processing ------------------------------------------------------------------------------------


def through_pipeline(drop: Path, docs: pl.DataFrame, out_dir: Path) -> pl.DataFrame:
    """Statuses from the pipeline's own `dedupe_drop` (history read by `load_history` from out_dir)."""
    ctx = steps.RunContext(
        run_id=f"eval-{drop.name}", drop=str(drop), drop_id=drop_id_of(drop), settings=Settings(out_dir=out_dir)
    )
    batch = ctx.batch_path(0)
    batch.parent.mkdir(parents=True, exist_ok=True)
    docs.select(INDEX_COLUMNS).write_ipc(batch)
    result = steps.dedupe_drop(ctx, [str(batch)])
    return pl.read_ipc(result.statuses_path)


def evaluate_reprocessing(
    bbc_drop: Path, others: dict[str, pl.DataFrame], bbc: pl.DataFrame, prepared: dict[Path, pl.DataFrame]
) -> dict:
    """Run BBC again against the kept documents of the other drops (its own partition excluded, as
    `load_history` does) and compare with its first run; also through `dedupe_drop` on a temp folder."""
    cols = ["doc_id", "status", "duplicate_of", "duplicate_of_drop", "cluster_id"]
    history = pl.concat(
        [f.filter(pl.col("status") == "kept").select(INDEX_COLUMNS) for f in others.values()], how="vertical_relaxed"
    )
    first = bbc.select(cols).sort("doc_id")
    again = dedupe_against(prepared[bbc_drop], history).select(cols).sort("doc_id")
    changed = again.join(first, on="doc_id", suffix="_first").filter(
        (pl.col("status") != pl.col("status_first")) | (pl.col("duplicate_of") != pl.col("duplicate_of_first"))
    )
    # what excluding the own partition prevents: BBC's kept rows in its own history
    own = bbc.filter(pl.col("status") == "kept").select(INDEX_COLUMNS)
    with_own = dedupe_against(prepared[bbc_drop], pl.concat([history, own], how="vertical_relaxed"))
    current_ids = set(bbc["doc_id"])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for drop_id, frame in {"bbc": bbc, **others}.items():
            kept = (
                frame.filter(pl.col("status") == "kept")
                .select(INDEX_COLUMNS)
                .with_columns(signature_kind=pl.lit(CFG.signature_kind()))
            )
            folder = staging.live_partition(out, dedupe_index.INDEX_DIR, drop_id)
            write.write_part(kept, dedupe_index.INDEX_DIR, folder, 0, keep_empty=True)
        piped = through_pipeline(bbc_drop, prepared[bbc_drop], out).select(cols).sort("doc_id")
        recrawl_drop_id, recrawl = next(iter(others.items()))
        recrawl_drop = bbc_drop.parent / "bbc-recrawl" / recrawl_drop_id
        piped_recrawl = through_pipeline(recrawl_drop, prepared[recrawl_drop], out).select(cols).sort("doc_id")
    return {
        "history_drops": list(others),
        "history_docs": history.height,
        "statuses_identical_in_memory": again.equals(first),
        "statuses_identical_via_dedupe_drop": piped.equals(first),
        "recrawl_via_dedupe_drop_matches_in_memory": piped_recrawl.equals(recrawl.select(cols).sort("doc_id")),
        "changed_rows": changed.height,
        "changed_examples": changed.head(5).to_dicts(),
        "duplicates_of_a_history_doc": again.filter(
            pl.col("duplicate_of").is_not_null() & ~pl.col("duplicate_of").is_in(list(current_ids))
        ).height,
        "if_own_partition_were_not_excluded": dict(with_own["status"].value_counts().rows()),
    }


# --- report ----------------------------------------------------------------------------------------------


def print_groups(name: str, g: dict) -> None:
    print(f"\n== {name}: {g['documents']} documents, statuses {g['status_counts']}")
    print(f"  exact groups found (all members in one cluster): {g['groups_found']}/{g['groups']}", end="")
    print(f" = {g['group_recall']:.4f}")
    print(
        f"  non-first members flagged as copies of a member of their group: {g['members_flagged_into_own_group']}",
        end="",
    )
    print(f"/{g['non_first_members']} {g['member_statuses']}")
    print(f"  groups in one cluster whose kept copy is outside the group: {g['groups_kept_outside']}")
    for m in g["groups_not_in_one_cluster_or_kept_outside"][:5]:
        print(f"  group {m}")
    print(f"  duplicates beyond the listed groups: {g['extra_duplicates']}")
    for e in g["extra_examples"]:
        print(f"    {e['status']:15} {e['file']} -> {e['duplicate_of']} est {e['similarity']} true {e['true_jaccard']}")
        print(f"      {e['text']!r}\n      {e['other']!r}")


def main() -> int:
    shared = shared_folder()
    corpora = shared / "corpora"
    bbc_drop, recrawl_drop, reuters_drop = (
        corpora / "bbc",
        corpora / "bbc-recrawl" / "articles",
        corpora / "reuters21578",
    )
    if not bbc_drop.is_dir():
        print(f"eval_dedupe: shared data not found at {shared} (set TEXTDROPS_SHARED); nothing to evaluate.")
        return 0
    results: dict = {"config": dataclasses.asdict(CFG), "seed": SEED}
    prepared: dict[Path, pl.DataFrame] = {}
    t0 = time.perf_counter()
    bbc, recrawl = dedupe_drops([bbc_drop, recrawl_drop], prepared)
    results["seconds_bbc_and_recrawl"] = round(time.perf_counter() - t0, 1)

    g = evaluate_groups(bbc, read_groups(bbc_drop / "exact_dup_groups.csv"))
    results["bbc_within_drop"] = g
    print_groups("BBC (drop 1)", g)
    r = evaluate_recrawl(bbc, recrawl, corpora / "bbc-recrawl" / "map_to_bbc.csv")
    results["bbc_recrawl_cross_drop"] = r
    print(f"\n== BBC recrawl (drop 2, against BBC): statuses {r['recrawl_status_counts']}")
    print(f"  map_to_bbc rows {r['map_rows']}, with a BBC match {r['mapped_files']}")
    print(
        f"  flagged duplicate of the mapped BBC file's kept copy: {r['flagged_correctly']}/{r['mapped_files']}", end=""
    )
    print(f" = {r['share']:.4f}  {r['by_status']}")
    print(
        "  near (not exact) because the mapped BBC file is itself a near copy:",
        r["near_because_mapped_bbc_file_is_a_near_copy"],
    )
    for m in r["misses"][:8]:
        print(f"  miss {m}")
    print(f"  unmapped recrawl files: {r['unmapped_files']}")

    reuters = None
    if reuters_drop.is_dir():
        t0 = time.perf_counter()
        (reuters,) = dedupe_drops([reuters_drop], prepared)
        g = evaluate_groups(reuters, read_groups(reuters_drop / "exact_dup_groups.csv", "articles/"))
        g["seconds"] = round(time.perf_counter() - t0, 1)
        results["reuters"] = g
        print_groups("Reuters-21578", g)
        del prepared[reuters_drop]

    e = evaluate_edited(bbc)
    results["near_duplicates_edited_bbc"] = e
    print(f"\n== Near-duplicates: {e['originals']} BBC originals (>= {MIN_WORDS} words) x {len(EDIT_KINDS)} edit kinds")
    print(f"  negatives: {e['negatives']} same-topic pairs with exact Jaccard < 0.8; {e['negative_jaccard']}")
    print(f"  hardest negatives: {e['hardest_negatives']}")
    print(f"  same-topic pairs >= 0.8 left out of negatives: {len(e['same_story_pairs_excluded'])}")
    head = f"  {'kind':16}{'gen':>6}{'pos':>6}{'found':>7}{'recall':>8}{'cluster':>8}{'noCand':>7}{'<thr':>6}"
    print(head + f"{'prec':>8}{'FP':>5}{'negFP':>6}{'est-true':>9}")
    for kind, k in e["per_kind"].items():
        prec = f"{k['precision']:.4f}" if k["precision"] is not None else "-"
        print(
            f"  {kind:16}{k['generated']:>6}{k['positives']:>6}{k['found']:>7}{k['recall']:>8.4f}"
            f"{k['recall_same_cluster']:>8.4f}{k['missed_not_candidate']:>7}{k['missed_below_threshold']:>6}{prec:>8}{k['false_positives']:>5}{k['negatives_flagged']:>6}"
            f"{k['mean_estimate_minus_true']:>9.4f}"
        )
    print(
        f"  all: recall {e['recall']:.4f} (same cluster {e['recall_same_cluster']:.4f}), "
        f"precision {e['precision']:.4f}, false positives {e['false_positives']}, "
        f"negatives flagged {e['negatives_flagged_total']}"
    )
    print("  by true Jaccard:")
    for b, v in e["by_bucket"].items():
        print(f"    {b}: {v['found']}/{v['positives']} = {v['recall']:.4f}")
    print(f"  copies below 0.8 (not positives) that were flagged anyway: {e['discarded_copies_found']}")
    for x in e["false_positive_examples"]:
        print(f"  false positive {x}")
    for x in e["missed_examples"][:5]:
        print(f"  missed {x}")

    msrp = shared / "gold" / "msrp" / "msr_paraphrase_train.txt"
    if msrp.is_file():
        m = evaluate_msrp(msrp)
        results["msrp"] = m
        print(
            f"\n== MSRP ({m['pairs']} sentence pairs, {m['paraphrases']} paraphrases): a sentence-level sanity check;"
        )
        print("   paraphrases reword, they are not near-duplicates, so few should reach the 0.8 threshold")
        for k in (5, 3):
            row = m[f"shingle_{k}"]
            for name in ("paraphrase", "non_paraphrase"):
                v = row[name]
                print(
                    f"  {k}-word shingles {name:15} {v['estimated_ge_threshold']:>5}/{v['pairs']} est >= 0.8 "
                    f"(true >= 0.8: {v['true_ge_threshold']}), mean est {v['mean_estimated']} true {v['mean_true']}"
                )

    s = index_size(bbc.filter(pl.col("status") == "kept"))
    results["index_size"] = s
    print(f"\n== _dedupe_index: {s['rows']} kept BBC docs, {s['file_bytes']} bytes")
    print(f"  {s['bytes_per_document']:.0f} bytes/document (a signature is {s['raw_signature_bytes']} bytes raw)")
    print(f"  by column (compressed bytes/doc): {s['compressed_bytes_per_document_by_column']}")
    plain = s["bytes_per_document_signature_without_dictionary"]
    print(f"  the whole part with the signature written without dictionary encoding: {plain:.0f} bytes/document")
    if reuters is not None:
        s = index_size(reuters.filter(pl.col("status") == "kept"))
        results["index_size_reuters"] = s
        print(f"  Reuters: {s['rows']} kept docs, {s['bytes_per_document']:.0f} bytes/document", end="")
        print(f" ({s['bytes_per_document_signature_without_dictionary']:.0f} without the signature dictionary)")

    others = {drop_id_of(recrawl_drop): recrawl} | ({drop_id_of(reuters_drop): reuters} if reuters is not None else {})
    p = evaluate_reprocessing(bbc_drop, others, bbc, prepared)
    results["reprocessing"] = p
    print(f"\n== Re-processing BBC against the kept docs of {p['history_drops']} ({p['history_docs']} docs)")
    print(f"  statuses identical to the first run: in memory {p['statuses_identical_in_memory']}", end="")
    print(f", via dedupe_drop {p['statuses_identical_via_dedupe_drop']}; changed rows {p['changed_rows']}")
    print(f"  duplicates of a history document: {p['duplicates_of_a_history_doc']}")
    print(f"  had the own partition been in the history: {p['if_own_partition_were_not_excluded']}")
    print(f"  recrawl through dedupe_drop equals the in-memory run: {p['recrawl_via_dedupe_drop_matches_in_memory']}")
    for x in p["changed_examples"]:
        print(f"  changed {x}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
