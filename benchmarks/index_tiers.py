"""Dedupe query time of one drop against many small committed drops (the tiered index's measurement).

    .venv/bin/python -m benchmarks.index_tiers OUT [--drops 1000] [--drop-docs 200] [--query-docs 2000]

Commits `--drops` synthetic drops one by one through `dedupe_index.commit_segment` (as runs do, so the
index merges its segments as it would in production), then times `dedupe_index.query` for a drop of
`--query-docs` documents, a tenth of them copies of history documents. Prints the build time, the number
of live segments and the best of three query times.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tasks import dedupe_index
from tasks.minhash import band_keys
from textdrops.config import MinHashConfig
from textdrops.locking import index_lock
from textdrops.staging import staged_index


def build(out: Path, drops: int, drop_docs: int, cfg: MinHashConfig, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Commit `drops` synthetic drops; returns a sample of their (signatures, content hashes)."""
    rng = np.random.default_rng(seed)
    sample_sigs, sample_hashes = [], []
    with index_lock(out):
        for i in range(drops):
            drop_id = f"drop-{i:06d}"
            hashes = np.frombuffer(rng.bytes(20 * drop_docs), dtype=np.uint8).reshape(drop_docs, 20)
            sigs = rng.integers(0, 2**32, size=(drop_docs, cfg.num_perm), dtype=np.uint32)
            staged = staged_index(out, f"bench-{i}")
            dedupe_index.write_segment(
                staged,
                drop_id,
                np.frombuffer(rng.bytes(16 * drop_docs), dtype=np.uint8).reshape(drop_docs, 16),
                hashes,
                np.arange(drop_docs, dtype=np.uint32),
                sigs,
                cfg,
            )
            dedupe_index.commit_segment(out, drop_id, staged, dedupe_index.segment_name(drop_id, f"bench-{i}"))
            staged.parent.rmdir()
            sample_sigs.append(sigs[:1])
            sample_hashes.append(hashes[:1])
    return np.concatenate(sample_sigs), np.concatenate(sample_hashes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--drops", type=int, default=1000)
    parser.add_argument("--drop-docs", type=int, default=200)
    parser.add_argument("--query-docs", type=int, default=2000)
    args = parser.parse_args()
    cfg = MinHashConfig()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    copies_sigs, copies_hashes = build(args.out, args.drops, args.drop_docs, cfg)
    built = time.perf_counter() - started
    rng = np.random.default_rng(1)
    n_copies = min(len(copies_sigs), args.query_docs // 10)
    sigs = rng.integers(0, 2**32, size=(args.query_docs, cfg.num_perm), dtype=np.uint32)
    hashes = np.frombuffer(rng.bytes(20 * args.query_docs), dtype=np.uint8).reshape(args.query_docs, 20).copy()
    sigs[:n_copies], hashes[:n_copies] = copies_sigs[:n_copies], copies_hashes[:n_copies]
    keys = band_keys(sigs, cfg)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        found, searched = dedupe_index.query(args.out, keys, hashes, "query-drop", cfg)
        times.append(time.perf_counter() - t)
    segments = len(dedupe_index.read_manifest(args.out) or [])
    print(
        f"{args.drops} drops of {args.drop_docs} built in {built:.1f} s; {segments} live segments; "
        f"query of {args.query_docs} documents: {min(times):.3f} s (best of 3; {found.height} candidates, "
        f"{searched} searched)"
    )


if __name__ == "__main__":
    main()
