"""Throughput of cleanup (and of load + prepare) on hostile inputs: every step must be linear in size.

Run: `.venv/bin/python -m benchmarks.adversarial [--mb 2]` (needs nothing from ../shared); `make bench`
(benchmarks/run.py) runs it too, as its "Adversarial inputs" section.

Each input is generated here at two sizes (`--mb` and twice that). For each, `clean_document` is timed in
this process, and the pipeline's own load and prepare steps (`textdrops.steps.load_batch_to_file`,
`learn_drop_boilerplate`, `prepare_batch`: decode, line keys, cleanup, content hash, MinHash, reference
date) are timed on a one-file drop in a temporary folder. A step that is linear keeps its MB/s when the
input doubles; a quadratic one halves it (`ratio` = MB/s at 2x / MB/s at 1x; ~1.0 is linear). One more
case, many tiny files, times load + prepare per file.

Timings are CPU seconds of this process (all its threads), so MB/s is per core and a busy machine
changes them less than wall time; still, compare within one run. Results go to
benchmarks/results/adversarial.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tasks import steps
from tasks.clean import clean_document
from tasks.discover import discover
from textdrops.config import Settings

RESULTS = Path(__file__).resolve().parent / "results" / "adversarial.json"
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _hyphen_lines(n: int) -> str:
    """Every line one word ending in a hyphen (what made hyphen-wrap repair quadratic)."""
    return "".join(f"w{_LETTERS[i % 26]}{_LETTERS[i // 26 % 26]}-\n" for i in range(n // 5))


def _hyphenated_prose(n: int) -> str:
    line = "The state-run agency said the anti-\naircraft battery and the well-\nknown firm agreed.\n"
    return line * (n // len(line))


def _short_lines(n: int) -> str:
    return "a b\n" * (n // 4)


def _short_capitalised_lines(n: int) -> str:
    return "".join(f"Item {i % 1000}\n" for i in range(n // 9))


def _one_long_line(n: int) -> str:
    sentence = "The minister said the talks would go on. "
    return sentence * (n // len(sentence))


def _no_whitespace(n: int) -> str:
    return "x" * n


def _repeated_paragraph(n: int) -> str:
    paragraph = "Peace talks restarted in Geneva on Monday after a ceasefire held.\n\n"
    return paragraph * (n // len(paragraph))


def _repeated_line(n: int) -> str:
    line = "Peace talks restarted in Geneva on Monday after a ceasefire held.\n"
    return line * (n // len(line))


def _blank_lines(n: int) -> str:
    return "text\n" + "\n" * n + "end\n"


def _table_rows(n: int) -> str:
    return "".join(f"Wheat     {i % 997}     2.55\n" for i in range(n // 22))


def _list_items(n: int) -> str:
    return "".join(f"- item number {i % 997}\n" for i in range(n // 18))


def _datelines(n: int) -> str:
    return "LONDON 1996-12-06\n" * (n // 18)


def _credit_pairs(n: int) -> str:
    return "©\nSputnik/ Alexei Druzhinin\n" * (n // 27)


def _mojibake(n: int) -> str:
    line = "Caf\u00c3\u00a9 na\u00c3\u00afve \u00e2\u20ac\u0153quoted\u00e2\u20ac\u009d.\n"
    return line * (n // len(line))


INPUTS: dict[str, Callable[[int], str]] = {
    "lines ending in a hyphen": _hyphen_lines,
    "hyphen-wrapped prose": _hyphenated_prose,
    "many short lines": _short_lines,
    "many short capitalised lines": _short_capitalised_lines,
    "one long line": _one_long_line,
    "no whitespace": _no_whitespace,
    "a paragraph repeated": _repeated_paragraph,
    "a line repeated": _repeated_line,
    "blank lines": _blank_lines,
    "table rows": _table_rows,
    "list items": _list_items,
    "datelines": _datelines,
    "photo-credit pairs": _credit_pairs,
    "mojibake lines": _mojibake,
}


def time_clean(text: str, repeats: int = 3) -> float:
    """CPU seconds of cleanup on `text`, the best of `repeats` (one timing of a few hundred ms swung by up to
    2x between runs: garbage collection of the previous input, page faults)."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.process_time()
        clean_document(text)
        best = min(best, time.process_time() - start)
    return best


def time_prepare(files: dict[str, str]) -> float:
    """CPU seconds of the pipeline's load + learn-boilerplate + prepare steps on a drop of `files`."""
    with tempfile.TemporaryDirectory() as folder:
        drop = Path(folder) / "2016-03-15"
        drop.mkdir()
        for name, text in files.items():
            (drop / name).write_text(text, encoding="utf-8")
        settings = Settings(out_dir=Path(folder) / "out", max_file_bytes=10**9)
        ctx = steps.RunContext("bench", str(drop), drop.name, settings)
        entries, _ = discover(drop)
        gc.collect()
        start = time.process_time()
        loaded = steps.load_batch_to_file(ctx, 0, entries)
        boilerplate = steps.learn_drop_boilerplate(ctx, [loaded])
        steps.prepare_batch(ctx, 0, loaded, boilerplate)
        return time.process_time() - start


def measure(mb: float = 2.0, tiny_files: int = 20_000) -> dict:
    """Time every input at `mb` and 2 x `mb` MB, and load + prepare of `tiny_files` tiny files; print a table.

    Returns {"mb", "inputs": [one row per input], "many_tiny_files", "lowest_ratio"} (also used by
    benchmarks/run.py).
    """
    size = int(mb * 1_000_000)
    rows = []
    print(f"{'input':30}{'clean MB/s':>12}{'at 2x':>9}{'ratio':>8}{'prepare MB/s':>14}{'at 2x':>9}{'ratio':>8}")
    for name, make in INPUTS.items():
        row: dict = {"input": name}
        for label, timer in (("clean", time_clean), ("prepare", lambda t: time_prepare({"doc.txt": t}))):
            rates = []
            for n in (size, 2 * size):
                text = make(n)
                megabytes = len(text.encode("utf-8")) / 1e6
                rates.append(megabytes / max(timer(text), 1e-9))
            row[f"{label}_mb_per_s"] = round(rates[0], 2)
            row[f"{label}_mb_per_s_at_2x"] = round(rates[1], 2)
            row[f"{label}_ratio"] = round(rates[1] / rates[0], 2)
        rows.append(row)
        print(
            f"{name:30}{row['clean_mb_per_s']:>12.2f}{row['clean_mb_per_s_at_2x']:>9.2f}{row['clean_ratio']:>8.2f}"
            f"{row['prepare_mb_per_s']:>14.2f}{row['prepare_mb_per_s_at_2x']:>9.2f}{row['prepare_ratio']:>8.2f}"
        )
    tiny = {f"t{i:06d}.txt": f"Short item {i}.\n" for i in range(tiny_files)}
    seconds = time_prepare(tiny)
    tiny_result = {"files": len(tiny), "seconds": round(seconds, 2), "files_per_s": round(len(tiny) / seconds, 1)}
    rate = tiny_result["files_per_s"]
    print(f"\nmany tiny files: {len(tiny):,} files, load + prepare {seconds:.1f} s ({rate:,.0f} files/s)")
    slowest = min(rows, key=lambda r: min(r["clean_ratio"], r["prepare_ratio"]))
    lowest = {"input": slowest["input"], "ratio": min(slowest["clean_ratio"], slowest["prepare_ratio"])}
    print(f"lowest 2x/1x ratio: {slowest['input']} (a quadratic step would show ~0.5)")
    return {"mb": mb, "inputs": rows, "many_tiny_files": tiny_result, "lowest_ratio": lowest}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=2.0, help="size of the smaller input in MB (default 2)")
    parser.add_argument("--tiny-files", type=int, default=20_000, help="files of the many-tiny-files case")
    args = parser.parse_args(argv)
    results = measure(args.mb, args.tiny_files)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
