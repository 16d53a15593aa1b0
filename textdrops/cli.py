"""The `textdrops` command line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from textdrops.config import DEFAULT_NER_MODEL, DEFAULT_OUT

USER_ERRORS = (FileNotFoundError, NotADirectoryError, ValueError, RuntimeError, PermissionError)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textdrops",
        description="Turn folders of scraped news .txt files (drops) into clean, deduplicated, "
        "entity- and date-annotated, partitioned Parquet, orchestrated by Prefect.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="process one drop now (manual trigger)",
        description="Process one drop folder now. Uses Prefect's embedded server unless PREFECT_API_URL is set.",
    )
    run.add_argument(
        "drop", help="the drop folder: .txt / .txt.gz files, nested folders allowed, optional manifest.csv"
    )
    run.add_argument(
        "--out",
        default=None,
        help=f"folder for the output tables (default: $TEXTDROPS_OUT or {DEFAULT_OUT})",
    )
    run.add_argument(
        "--ner-model",
        default=None,
        help=f"installed spaCy model for entities (default: $TEXTDROPS_NER_MODEL or {DEFAULT_NER_MODEL})",
    )
    run.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="documents per batch task (default: $TEXTDROPS_BATCH_SIZE or 1000; raised to keep <= 32 batches)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run":
        return _run(args)
    return 2


def _run(args: argparse.Namespace) -> int:
    drop = Path(args.drop)
    if not drop.is_dir():
        print(f"textdrops: drop folder {drop} does not exist or is not a folder", file=sys.stderr)
        return 2
    from flows.process_drop import process_drop

    try:
        record = process_drop(
            drop=str(drop),
            out_dir=args.out,
            trigger="manual",
            ner_model=args.ner_model,
            batch_size=args.batch_size,
        )
    except USER_ERRORS as exc:
        print(f"textdrops: run of {drop} failed: {exc}", file=sys.stderr)
        return 1
    out = args.out or os.environ.get("TEXTDROPS_OUT") or str(DEFAULT_OUT)
    print(
        f"textdrops: drop {record['drop_id']}: {record['files_seen']} files -> {record['docs_kept']} kept, "
        f"{record['docs_exact_duplicate']} exact and {record['docs_near_duplicate']} near duplicates, "
        f"{record['files_quarantined']} quarantined; {record['n_entities']} entities, {record['n_dates']} dates "
        f"written under {out}/ (run {record['run_id']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
