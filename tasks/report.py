"""The run report: what the latest run did and how the feed changes across runs, as one offline HTML file.

`gather` reads a bounded sample and aggregates of the output folder (lazily, so 10,000 drops stay fast);
`write_report` renders its charts with Altair and vl-convert to inline SVG (no JavaScript, no CDN, nothing
downloaded); `run_picture_markdown` is the same per-run picture as PNG images for a Prefect artifact.
"""

from __future__ import annotations

import base64
import html
import logging
import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import altair as alt
import polars as pl
import vl_convert as vlc

from tasks.runs import read_runs

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class ReportData:
    """What the report shows: the runs (one row each, oldest first) and the latest run's tables."""

    out_dir: Path
    runs: pl.DataFrame
    latest: dict | None
    per_date: pl.DataFrame
    entities: pl.DataFrame
    stories: pl.DataFrame
    timelines: pl.DataFrame
    unusual: list[str]


def read_run_table(out_dir: Path) -> pl.DataFrame | None:
    """The `runs` rows the report needs, in commit order (`commit_seq` when recorded, else `run_id`). One lazy
    scan of every file; a damaged file makes it fall back to `read_runs`, which skips that file with a warning."""
    paths = sorted((out_dir / "runs").glob("drop_id=*/*.parquet"))
    if not paths:
        return None
    try:
        runs = pl.scan_parquet(paths, glob=False, hive_partitioning=False, missing_columns="insert").collect()
    except Exception:  # noqa: BLE001  (polars raises several error types for a damaged file)
        runs = read_runs(out_dir)
        if runs is None:
            return None
    keys = ["commit_seq", "run_id"] if "commit_seq" in runs.columns else ["run_id"]
    columns = [c for c in _RUN_COLUMNS if c in runs.columns]
    return runs.sort(keys, nulls_last=False).select(columns)


def gather(out_dir: Path, since: date | None = None) -> ReportData:
    """The report's data: every run since `since` (all when None), and the latest run's drop in detail."""
    runs = read_run_table(out_dir)
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


def _table(out_dir: Path, table: str, drop_id: str | None) -> pl.DataFrame:
    paths = _partition(out_dir, table, drop_id) if drop_id else []
    return pl.read_parquet(paths, glob=False, hive_partitioning=False) if paths else pl.DataFrame()


def _per_reference_date(out_dir: Path, drop_id: str | None) -> pl.DataFrame:
    paths = _partition(out_dir, "documents", drop_id) if drop_id else []
    if not paths:
        return pl.DataFrame()
    return (
        pl.scan_parquet(paths, glob=False, hive_partitioning=False)
        .select("reference_date", "reference_date_source", "status")
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
    paths = [p for d in drops for p in _partition(out_dir, "documents", d)]
    if not paths:
        return pl.DataFrame()
    headlines = stories.select("story_id", story=_short(pl.col("headline").fill_null(pl.col("story_id")), 60))
    return (
        pl.scan_parquet(paths, glob=False, hive_partitioning=False)
        .select("story_id", "reference_date")
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
    three median absolute deviations from the runs before them (the latest run first)."""
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
            mad = statistics.median(abs(x - median) for x in past)
            spread = max(mad, abs(median) * 0.05, 1e-9)  # a perfectly steady feed: 5% off counts, not 0.1%
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
    """One row per run, or per bucket of consecutive runs when there are more than MAX_TREND_POINTS."""
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
            pl.col("docs_kept").sum(),
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


def funnel_chart(latest: dict) -> alt.Chart:
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
    return (
        alt.Chart(alt.Data(values=rows), title=f"Where the {latest['files_seen']:,} files of the drop went")
        .mark_bar()
        .encode(
            y=alt.Y("step:N", sort=_FUNNEL_ORDER, title=None),
            x=alt.X("files:Q", title="files"),
            color=alt.Color("part:N", title=None),
            tooltip=["part:N", "files:Q"],
        )
        .properties(width=_WIDTH)
    )


def seconds_chart(latest: dict) -> alt.Chart:
    seconds = _map(latest.get("stage_seconds"))
    walls = {k.removeprefix("wall_"): v for k, v in seconds.items() if k.startswith("wall_")}
    shown, title = (walls, "Wall seconds per step") if walls else (seconds, "Seconds per stage")
    rows = [{"step": k, "seconds": round(v, 3)} for k, v in shown.items()]
    return (
        alt.Chart(alt.Data(values=rows), title=title)
        .mark_bar()
        .encode(y=alt.Y("step:N", sort=None, title=None), x=alt.X("seconds:Q"), tooltip=["step:N", "seconds:Q"])
        .properties(width=_WIDTH)
    )


def per_date_chart(per_date: pl.DataFrame) -> alt.Chart:
    rows = per_date.with_columns(pl.col("reference_date").cast(pl.String).fill_null("none")).to_dicts()
    return (
        alt.Chart(alt.Data(values=rows), title="Documents per reference date (colour: where the date came from)")
        .mark_bar()
        .encode(
            x=alt.X("reference_date:O", title="reference date"),
            y=alt.Y("documents:Q"),
            color=alt.Color("reference_date_source:N", title="source"),
            tooltip=["reference_date:O", "reference_date_source:N", "documents:Q"],
        )
        .properties(width=_WIDTH, height=160)
    )


def entities_chart(entities: pl.DataFrame) -> alt.Chart:
    rows = entities.select("canonical", "label", "documents").to_dicts()
    return (
        alt.Chart(alt.Data(values=rows), title=f"Top {len(rows)} entities (kept documents mentioning them)")
        .mark_bar()
        .encode(
            y=alt.Y("canonical:N", sort="-x", title=None),
            x=alt.X("documents:Q"),
            color=alt.Color("label:N"),
            tooltip=["canonical:N", "label:N", "documents:Q"],
        )
        .properties(width=_WIDTH)
    )


def timelines_chart(timelines: pl.DataFrame) -> alt.Chart:
    rows = timelines.with_columns(pl.col("reference_date").cast(pl.String)).to_dicts()
    return (
        alt.Chart(alt.Data(values=rows), title="The largest stories: documents per reference date")
        .mark_circle()
        .encode(
            x=alt.X("yearmonthdate(reference_date):T", title="reference date", axis=alt.Axis(format="%Y-%m-%d")),
            y=alt.Y("story:N", title=None),
            size=alt.Size("documents:Q"),
            tooltip=["story:N", "reference_date:T", "documents:Q"],
        )
        .properties(width=_WIDTH - 150)
    )


def trend_charts(runs: pl.DataFrame) -> list[alt.Chart]:
    trend = trend_frame(runs)
    if not trend.height:
        return []
    rows = trend.with_columns(pl.col("started_at").dt.strftime("%Y-%m-%dT%H:%M:%S")).drop("bucket").to_dicts()
    per = "run" if trend["runs_in_bucket"].max() == 1 else "group of consecutive runs"
    base = alt.Chart(alt.Data(values=rows)).encode(x=alt.X("started_at:T", title="run start (UTC)"))
    charts = [
        base.mark_line(point=True)
        .encode(y=alt.Y(f"{col}:Q", title=title, axis=alt.Axis(format=fmt)))
        .properties(width=_WIDTH, height=120, title=f"{title} per {per}")
        for col, title, fmt in (
            ("docs_kept", "documents kept", ",d"),
            ("duplicate_rate", "duplicate rate", "%"),
            ("seconds", "run time (s)", ",.1f"),
        )
    ]
    quarantine = quarantine_trend(runs)
    if quarantine.height:
        q_rows = quarantine.with_columns(pl.col("started_at").dt.strftime("%Y-%m-%dT%H:%M:%S")).to_dicts()
        charts.insert(
            2,
            alt.Chart(alt.Data(values=q_rows), title=f"Quarantine rate by reason per {per}")
            .mark_line(point=True)
            .encode(
                x=alt.X("started_at:T", title="run start (UTC)"),
                y=alt.Y("rate:Q", title="quarantined / files", axis=alt.Axis(format="%")),
                color=alt.Color("reason:N"),
            )
            .properties(width=_WIDTH, height=120),
        )
    return charts


def _map(value) -> dict:
    """A Parquet map column's value as a dict (polars gives a list of key/value structs)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    return {item["key"]: item["value"] for item in value}


def svg(chart: alt.Chart) -> str:
    return vlc.vegalite_to_svg(chart.to_dict())


def png_data_uri(chart: alt.Chart) -> str:
    return "data:image/png;base64," + base64.b64encode(vlc.vegalite_to_png(chart.to_dict(), scale=1)).decode()


# --- the HTML file and the Prefect picture ------------------------------------------------------------------


def latest_run_charts(data: ReportData) -> list[alt.Chart]:
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
        f"written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {data.runs.height:,} runs.</p>",
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
    data = gather(out_dir)
    latest = record if data.latest is None or data.latest["run_id"] != record["run_id"] else data.latest
    charts = [funnel_chart(latest), seconds_chart(latest)]
    if data.per_date.height:
        charts.append(per_date_chart(data.per_date))
    lines = [f"# Run report of drop {record['drop_id']}", ""]
    lines += [f"![chart {i + 1}]({png_data_uri(chart)})\n" for i, chart in enumerate(charts)]
    lines += [f"> {text}\n" for text in data.unusual]
    lines.append(f"Whole report: `textdrops report --out {out_dir}`")
    return "\n".join(lines)
