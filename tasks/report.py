"""The run report: what the latest run did and how the feed changes across runs, as one offline HTML file.

`gather` reads a bounded sample and aggregates of the output folder (lazily, so 10,000 drops stay fast);
`write_report` renders its charts with Altair and vl-convert to inline SVG (no JavaScript, no CDN, nothing
downloaded); `run_picture_markdown` is the same per-run picture as PNG images for a Prefect artifact.
"""

from __future__ import annotations

import base64
import html
import logging
import os
import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import altair as alt
import polars as pl
import vl_convert as vlc

from tasks.runs_table import read_runs
from textdrops.remote import remote_of

log = logging.getLogger(__name__)

MAX_RUN_FILES = 1_000  # run records read at most: the recent ones all, a sample of the older ones
RECENT_FILES = 300
MAX_TREND_POINTS = 400  # runs beyond this are aggregated into time buckets: the file's size stays bounded
RECENT_RUNS = 30  # the runs an unusual run is compared with
MAD_LIMIT = 3.0
TOP_ENTITIES = 15
TOP_STORIES = 8
_RUN_COLUMNS = [
    "run_id",
    "drop_id",
    "status",
    "started_at",
    "finished_at",
    "files_seen",
    "docs_kept",
    "docs_exact_duplicate",
    "docs_near_duplicate",
    "files_quarantined",
    "quarantine_reasons",
    "stage_seconds",
]
_FUNNEL_ORDER = ["files seen", "kept", "exact duplicate", "near duplicate", "quarantined"]
_WIDTH = 560


_ROWS = alt.NamedData(name="rows")  # a chart's rows go into its spec's datasets (see `spec`)


@dataclass(frozen=True)
class Figure:
    """A chart and its rows (kept apart from the chart: see `spec`)."""

    chart: alt.Chart
    rows: list[dict]


@dataclass(frozen=True)
class ReportData:
    """What the report shows: the runs (one row each, oldest first) and the latest run's tables."""

    out_dir: Path
    runs: pl.DataFrame
    total_runs: int
    latest: dict | None
    per_date: pl.DataFrame
    entities: pl.DataFrame
    stories: pl.DataFrame
    timelines: pl.DataFrame
    unusual: list[str]


def run_files(out_dir: Path) -> list[Path]:
    """Every run record file, oldest first: the file names are run ids, which sort in start order."""
    root = out_dir / "runs"
    if not root.is_dir():
        return []
    files = [
        Path(entry.path)
        for folder in os.scandir(root)
        if folder.is_dir() and folder.name.startswith("drop_id=")
        for entry in os.scandir(folder.path)
        if entry.name.endswith(".parquet")
    ]
    return sorted(files, key=lambda p: p.name)


def sample_run_files(files: list[Path]) -> list[Path]:
    """Every one of the last RECENT_FILES run files, and an evenly spaced sample of the older ones: at most
    MAX_RUN_FILES are read, however many drops the folder holds (reading a file costs ~0.5 ms)."""
    if len(files) <= MAX_RUN_FILES:
        return files
    older, recent = files[:-RECENT_FILES], files[-RECENT_FILES:]
    step = len(older) / (MAX_RUN_FILES - RECENT_FILES)
    return [older[int(i * step)] for i in range(MAX_RUN_FILES - RECENT_FILES)] + recent


def read_run_table(out_dir: Path, recent_files: int | None = None) -> tuple[pl.DataFrame | None, int]:
    """The `runs` rows the report needs (a bounded sample of them, see `sample_run_files`) in commit order
    (`commit_seq` when recorded, else `run_id`), and how many runs there are in all. One lazy scan; a damaged
    file makes it fall back to `read_runs`, which skips that file with a warning."""
    files = run_files(out_dir)
    if not files:
        return None, 0
    paths = files[-recent_files:] if recent_files else sample_run_files(files)
    try:
        newest = pl.read_parquet_schema(paths[-1])  # older records may lack its columns (commit_seq): nulls
        columns = [c for c in [*_RUN_COLUMNS, "commit_seq"] if c in newest]
        runs = (
            pl.scan_parquet(
                paths,
                schema={c: newest[c] for c in columns},
                glob=False,
                hive_partitioning=False,
                missing_columns="insert",
                extra_columns="ignore",
            )
            .select(columns)
            .collect()
        )
    except Exception:  # noqa: BLE001  (polars raises several error types for a damaged file)
        runs = read_runs(out_dir)
        if runs is None:
            return None, 0
        runs = runs.select(c for c in [*_RUN_COLUMNS, "commit_seq"] if c in runs.columns)
    keys = ["commit_seq", "run_id"] if "commit_seq" in runs.columns else ["run_id"]
    return runs.sort(keys, nulls_last=False).select(c for c in _RUN_COLUMNS if c in runs.columns), len(files)


def gather(out_dir: Path, since: date | None = None, recent_files: int | None = None) -> ReportData:
    """The report's data: the runs since `since` (all when None; only the last `recent_files` records when
    given), and the latest run's drop in detail."""
    runs, total_runs = read_run_table(out_dir, recent_files)
    if runs is None:
        runs = pl.DataFrame(schema={c: pl.Null for c in _RUN_COLUMNS})
    elif since is not None:
        runs = runs.filter(pl.col("started_at").dt.date() >= since)
    runs = (
        runs.with_columns(
            seconds=(pl.col("finished_at") - pl.col("started_at")).dt.total_seconds(fractional=True),
            duplicates=pl.col("docs_exact_duplicate") + pl.col("docs_near_duplicate"),
        )
        if runs.height
        else runs
    )
    latest = runs.row(-1, named=True) if runs.height else None
    drop = latest["drop_id"] if latest else None
    per_date = _per_reference_date(out_dir, drop)
    entities = _table(out_dir, "entity_counts", drop)
    if entities.height:
        entities = entities.sort(["documents", "mentions", "canonical"], descending=[True, True, False]).head(
            TOP_ENTITIES
        )
    stories = _table(out_dir, "stories", drop)
    if stories.height:
        stories = stories.sort(["documents", "story_id"], descending=[True, False]).head(TOP_STORIES)
    return ReportData(
        out_dir=out_dir,
        runs=runs,
        total_runs=total_runs,
        latest=latest,
        per_date=per_date,
        entities=entities,
        stories=stories,
        timelines=_story_timelines(out_dir, stories),
        unusual=unusual_runs(runs),
    )


def _partition(out_dir: Path, table: str, drop_id: str) -> list[Path]:
    """A drop's files of a table, listed rather than globbed (drop ids may hold glob characters)."""
    folder = out_dir / table / f"drop_id={drop_id}"
    return sorted(p for p in folder.iterdir() if p.suffix == ".parquet") if folder.is_dir() else []


def scan_drops(out_dir: Path, table: str, drop_ids: list[str]) -> pl.LazyFrame | None:
    """The rows of some drops of an output table, or None when there are none: the drops' partitions in the
    folder, or in the Delta table on the store for the working copy of an object-store output."""
    remote = remote_of(out_dir)
    if remote is not None:
        return remote.scan_drops(table, drop_ids)
    paths = [p for d in drop_ids for p in _partition(out_dir, table, d)]
    return pl.scan_parquet(paths, glob=False, hive_partitioning=False) if paths else None


def _table(out_dir: Path, table: str, drop_id: str | None) -> pl.DataFrame:
    rows = scan_drops(out_dir, table, [drop_id]) if drop_id else None
    return rows.collect() if rows is not None else pl.DataFrame()


def _per_reference_date(out_dir: Path, drop_id: str | None) -> pl.DataFrame:
    rows = scan_drops(out_dir, "documents", [drop_id]) if drop_id else None
    if rows is None:
        return pl.DataFrame()
    return (
        rows.select("reference_date", "reference_date_source", "status")
        .group_by("reference_date", "reference_date_source")
        .agg(documents=pl.len())
        .sort("reference_date")
        .collect()
    )


def _story_timelines(out_dir: Path, stories: pl.DataFrame) -> pl.DataFrame:
    """Documents per reference date of the largest stories, over every drop holding them."""
    if not stories.height:
        return pl.DataFrame()
    drops = sorted({d for ds in stories["drops"].to_list() for d in ds})
    rows = scan_drops(out_dir, "documents", drops)
    if rows is None:
        return pl.DataFrame()
    headlines = stories.select("story_id", story=_short(pl.col("headline").fill_null(pl.col("story_id")), 60))
    return (
        rows.select("story_id", "reference_date")
        .filter(pl.col("story_id").is_in(stories["story_id"].to_list()) & pl.col("reference_date").is_not_null())
        .group_by("story_id", "reference_date")
        .agg(documents=pl.len())
        .collect()
        .join(headlines, on="story_id")
        .sort("story_id", "reference_date")
    )


def _short(expr: pl.Expr, n: int) -> pl.Expr:
    return pl.when(expr.str.len_chars() > n).then(expr.str.slice(0, n - 1) + "…").otherwise(expr)


def _rates(runs: pl.DataFrame) -> pl.DataFrame:
    files = pl.col("files_seen").cast(pl.Float64)
    return runs.with_columns(
        duplicate_rate=pl.when(files > 0).then(pl.col("duplicates") / files),
        quarantine_rate=pl.when(files > 0).then(pl.col("files_quarantined") / files),
    )


def unusual_runs(runs: pl.DataFrame) -> list[str]:
    """Sentences naming the recent runs whose documents, duplicate or quarantine rate or run time lie more than
    three (scaled) median absolute deviations from the 30 runs before them, the most unusual first."""
    done = _rates(runs.filter(pl.col("status") == "succeeded")) if runs.height else runs
    if done.height < 5:
        return []
    metrics = {
        "docs_kept": ("documents kept", "{:,.0f}"),
        "duplicate_rate": ("duplicate rate", "{:.1%}"),
        "quarantine_rate": ("quarantine rate", "{:.1%}"),
        "seconds": ("run time", "{:,.1f} s"),
    }
    rows = done.tail(RECENT_RUNS + 10).to_dicts()
    found = []
    for i in range(len(rows) - 1, max(4, len(rows) - 11) - 1, -1):  # the last ten runs, each against its past
        before = rows[max(0, i - RECENT_RUNS) : i]
        if len(before) < 4:
            break
        for column, (name, fmt) in metrics.items():
            past = [r[column] for r in before if r[column] is not None]
            value = rows[i][column]
            if value is None or len(past) < 4:
                continue
            median = statistics.median(past)
            # scaled by 1.4826, the MAD estimates the standard deviation of normal noise; a perfectly steady
            # feed (MAD 0) still needs a run 15% off its median to be called unusual, not 0.1%
            mad = 1.4826 * statistics.median(abs(x - median) for x in past)
            spread = max(mad, abs(median) * 0.05, 1e-9)
            if abs(value - median) > MAD_LIMIT * spread:
                found.append(
                    (
                        abs(value - median) / spread,
                        f"Run {rows[i]['run_id']} of drop {rows[i]['drop_id']}: {name} {fmt.format(value)} is "
                        f"unusual: the {len(past)} runs before had a median of {fmt.format(median)} "
                        f"(median absolute deviation {fmt.format(mad)}).",
                    )
                )
    found.sort(key=lambda f: -f[0])
    return [text for _, text in found[:5]]


def trend_frame(runs: pl.DataFrame) -> pl.DataFrame:
    """One row per run, or per bucket of consecutive runs when there are more than MAX_TREND_POINTS: documents
    and run time are means per run, rates are over the bucket's files (both stay true of a sample of runs)."""
    runs = runs.filter(pl.col("status") == "succeeded")
    n = runs.height
    if n == 0:
        return runs
    bucket = (pl.int_range(n) * min(n, MAX_TREND_POINTS) // n).alias("bucket")
    return _rates(
        runs.with_columns(bucket)
        .group_by("bucket", maintain_order=True)
        .agg(
            pl.col("started_at").first(),
            pl.col("files_seen").sum(),
            pl.col("docs_kept").mean(),
            pl.col("duplicates").sum(),
            pl.col("files_quarantined").sum(),
            pl.col("seconds").mean(),
            runs_in_bucket=pl.len(),
        )
    )


def quarantine_trend(runs: pl.DataFrame) -> pl.DataFrame:
    """Quarantine rate per reason over time (bucketed like `trend_frame`)."""
    runs = runs.filter(pl.col("status") == "succeeded")
    n = runs.height
    if n == 0 or "quarantine_reasons" not in runs.columns:
        return pl.DataFrame()
    bucketed = runs.with_columns((pl.int_range(n) * min(n, MAX_TREND_POINTS) // n).alias("bucket"))
    files = bucketed.group_by("bucket").agg(pl.col("started_at").first(), pl.col("files_seen").sum())
    reasons = (
        bucketed.select("bucket", pl.col("quarantine_reasons").map.entries())
        .explode("quarantine_reasons")
        .unnest("quarantine_reasons")
        .drop_nulls("key")
        .group_by("bucket", "key")
        .agg(pl.col("value").sum())
    )
    if not reasons.height:
        return pl.DataFrame()
    return (
        reasons.join(files, on="bucket")
        .select("started_at", reason="key", rate=pl.col("value") / pl.col("files_seen"))
        .sort("started_at")
    )


# --- charts -------------------------------------------------------------------------------------------------


def funnel_chart(latest: dict) -> Figure:
    reasons = _map(latest.get("quarantine_reasons"))
    rows = [
        {"step": "files seen", "part": "files", "files": latest["files_seen"]},
        {"step": "kept", "part": "kept", "files": latest["docs_kept"]},
        {"step": "exact duplicate", "part": "exact duplicate", "files": latest["docs_exact_duplicate"]},
        {"step": "near duplicate", "part": "near duplicate", "files": latest["docs_near_duplicate"]},
    ]
    rows += [{"step": "quarantined", "part": f"quarantined: {r}", "files": n} for r, n in sorted(reasons.items())]
    if not reasons:
        rows.append({"step": "quarantined", "part": "quarantined", "files": 0})
    chart = (
        alt.Chart(_ROWS, title=f"Where the {latest['files_seen']:,} files of the drop went")
        .mark_bar()
        .encode(
            y=alt.Y("step:N", sort=_FUNNEL_ORDER, title=None),
            x=alt.X("files:Q", title="files"),
            color=alt.Color("part:N", title=None),
            tooltip=["part:N", "files:Q"],
        )
        .properties(width=_WIDTH)
    )
    return Figure(chart, rows)


def seconds_chart(latest: dict) -> Figure:
    seconds = _map(latest.get("stage_seconds"))
    walls = {k.removeprefix("wall_"): v for k, v in seconds.items() if k.startswith("wall_")}
    shown, title = (walls, "Wall seconds per step") if walls else (seconds, "Seconds per stage")
    rows = [{"step": k, "seconds": round(v, 3)} for k, v in shown.items()]
    chart = (
        alt.Chart(_ROWS, title=title)
        .mark_bar()
        .encode(y=alt.Y("step:N", sort=None, title=None), x=alt.X("seconds:Q"), tooltip=["step:N", "seconds:Q"])
        .properties(width=_WIDTH)
    )
    return Figure(chart, rows)


def per_date_chart(per_date: pl.DataFrame) -> Figure:
    rows = per_date.with_columns(pl.col("reference_date").cast(pl.String).fill_null("none")).to_dicts()
    chart = (
        alt.Chart(_ROWS, title="Documents per reference date (colour: where the date came from)")
        .mark_bar()
        .encode(
            x=alt.X("reference_date:O", title="reference date"),
            y=alt.Y("documents:Q"),
            color=alt.Color("reference_date_source:N", title="source"),
            tooltip=["reference_date:O", "reference_date_source:N", "documents:Q"],
        )
        .properties(width=_WIDTH, height=160)
    )
    return Figure(chart, rows)


def entities_chart(entities: pl.DataFrame) -> Figure:
    rows = entities.select("canonical", "label", "documents").to_dicts()
    chart = (
        alt.Chart(_ROWS, title=f"Top {len(rows)} entities (kept documents mentioning them)")
        .mark_bar()
        .encode(
            y=alt.Y("canonical:N", sort="-x", title=None),
            x=alt.X("documents:Q"),
            color=alt.Color("label:N"),
            tooltip=["canonical:N", "label:N", "documents:Q"],
        )
        .properties(width=_WIDTH)
    )
    return Figure(chart, rows)


def timelines_chart(timelines: pl.DataFrame) -> Figure:
    rows = timelines.with_columns(pl.col("reference_date").cast(pl.String)).to_dicts()
    chart = (
        alt.Chart(_ROWS, title="The largest stories: documents per reference date")
        .mark_circle()
        .encode(
            x=alt.X("yearmonthdate(reference_date):T", title="reference date", axis=alt.Axis(format="%Y-%m-%d")),
            y=alt.Y("story:N", title=None),
            size=alt.Size("documents:Q"),
            tooltip=["story:N", "reference_date:T", "documents:Q"],
        )
        .properties(width=_WIDTH - 150)
    )
    return Figure(chart, rows)


def trend_charts(runs: pl.DataFrame) -> list[Figure]:
    trend = trend_frame(runs)
    if not trend.height:
        return []
    rows = trend.with_columns(pl.col("started_at").dt.strftime("%Y-%m-%dT%H:%M:%S")).drop("bucket").to_dicts()
    per = "run" if trend["runs_in_bucket"].max() == 1 else "run (mean over groups of consecutive runs)"
    base = alt.Chart(_ROWS).encode(x=alt.X("started_at:T", title="run start (UTC)"))
    charts = [
        Figure(
            base.mark_line(point=True)
            .encode(y=alt.Y(f"{col}:Q", title=title, axis=alt.Axis(format=fmt)))
            .properties(width=_WIDTH, height=120, title=f"{title} per {per}"),
            rows,
        )
        for col, title, fmt in (
            ("docs_kept", "documents kept", ",.0f"),
            ("duplicate_rate", "duplicate rate", "%"),
            ("seconds", "run time (s)", ",.1f"),
        )
    ]
    quarantine = quarantine_trend(runs)
    if quarantine.height:
        q_rows = quarantine.with_columns(pl.col("started_at").dt.strftime("%Y-%m-%dT%H:%M:%S")).to_dicts()
        charts.insert(
            2,
            Figure(
                alt.Chart(_ROWS, title=f"Quarantine rate by reason per {per}")
                .mark_line(point=True)
                .encode(
                    x=alt.X("started_at:T", title="run start (UTC)"),
                    y=alt.Y("rate:Q", title="quarantined / files", axis=alt.Axis(format="%")),
                    color=alt.Color("reason:N"),
                )
                .properties(width=_WIDTH, height=120),
                q_rows,
            ),
        )
    return charts


def _map(value) -> dict:
    """A Parquet map column's value as a dict (polars gives a list of key/value structs)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    return {item["key"]: item["value"] for item in value}


def spec(figure: Figure) -> dict:
    """The figure's Vega-Lite spec, its rows added after Altair (which would walk every value) is done."""
    return figure.chart.to_dict(validate=False) | {"datasets": {"rows": figure.rows}}


def svg(figure: Figure) -> str:
    return vlc.vegalite_to_svg(spec(figure))


def png_data_uri(chart: Figure) -> str:
    return "data:image/png;base64," + base64.b64encode(vlc.vegalite_to_png(spec(chart), scale=1)).decode()


# --- the HTML file and the Prefect picture ------------------------------------------------------------------


def latest_run_charts(data: ReportData) -> list[Figure]:
    if data.latest is None:
        return []
    charts = [funnel_chart(data.latest), seconds_chart(data.latest)]
    if data.per_date.height:
        charts.append(per_date_chart(data.per_date))
    if data.entities.height:
        charts.append(entities_chart(data.entities))
    if data.timelines.height:
        charts.append(timelines_chart(data.timelines))
    return charts


def render_html(data: ReportData) -> str:
    """The report as one self-contained HTML page (inline SVG, inline CSS, no scripts)."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>textdrops report: {html.escape(str(data.out_dir))}</title>",
        "<style>body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}"
        "figure{margin:1.5em 0}.unusual{background:#fff3cd;padding:.5em 1em;border-left:4px solid #e0a800}"
        "table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #ddd}</style>",
        "</head><body>",
        f"<h1>textdrops run report</h1><p>Output folder <code>{html.escape(str(data.out_dir))}</code>, "
        f"written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {data.total_runs:,} runs"
        + (
            f" (the charts across runs read the last {RECENT_FILES:,} and an even sample of the older ones: "
            f"{data.runs.height:,} in all)"
            if data.runs.height < data.total_runs
            else ""
        )
        + ".</p>",
    ]
    if data.latest is None:
        parts.append("<p>No runs yet.</p></body></html>")
        return "".join(parts)
    latest = data.latest
    parts.append("<h2>Is it normal?</h2>")
    if data.unusual:
        parts += [f"<p class='unusual'>{html.escape(text)}</p>" for text in data.unusual]
    else:
        parts.append(
            f"<p>No recent run lies more than {MAD_LIMIT:g} median absolute deviations from the "
            f"{RECENT_RUNS} runs before it (documents kept, duplicate rate, quarantine rate, run time).</p>"
        )
    parts.append(
        f"<h2>Latest run: drop {html.escape(latest['drop_id'])}</h2>"
        f"<p>Run <code>{html.escape(latest['run_id'])}</code>, {html.escape(latest['status'])}, started "
        f"{latest['started_at']:%Y-%m-%d %H:%M:%S} UTC, {latest['seconds']:,.1f} s.</p>"
    )
    parts += [f"<figure>{svg(chart)}</figure>" for chart in latest_run_charts(data)]
    if data.stories.height:
        parts.append("<table><tr><th>story</th><th>documents</th><th>first</th><th>last</th><th>new</th></tr>")
        for row in data.stories.iter_rows(named=True):
            parts.append(
                f"<tr><td>{html.escape(row['headline'] or row['story_id'])}</td><td>{row['documents']}</td>"
                f"<td>{row['first_date']}</td><td>{row['last_date']}</td><td>{'yes' if row['is_new'] else ''}</td></tr>"
            )
        parts.append("</table>")
    parts.append("<h2>Across runs</h2>")
    parts += [f"<figure>{svg(chart)}</figure>" for chart in trend_charts(data.runs)]
    parts.append("</body></html>")
    return "".join(parts)


def write_report(out_dir: Path, target: Path, since: date | None = None) -> Path:
    """Write the report of `out_dir` to `target` (atomically: a reader never sees half a file)."""
    if not out_dir.is_dir():
        raise FileNotFoundError(f"output folder {out_dir} does not exist: run a drop first, or pass --out")
    page = render_html(gather(out_dir, since))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(target)
    return target


def run_picture_markdown(out_dir: Path, record: dict) -> str:
    """The latest run's picture for the Prefect UI: funnel, seconds per step and dates as PNG images."""
    data = gather(out_dir, recent_files=RECENT_RUNS + 11)  # enough to judge the last ten runs
    latest = record if data.latest is None or data.latest["run_id"] != record["run_id"] else data.latest
    charts = [funnel_chart(latest), seconds_chart(latest)]
    if data.per_date.height:
        charts.append(per_date_chart(data.per_date))
    lines = [f"# Run report of drop {record['drop_id']}", ""]
    lines += [f"![chart {i + 1}]({png_data_uri(chart)})\n" for i, chart in enumerate(charts)]
    lines += [f"> {text}\n" for text in data.unusual]
    lines.append(f"Whole report: `textdrops report --out {out_dir}`")
    return "\n".join(lines)
