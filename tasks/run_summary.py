"""The run summary a flow run shows in the Prefect UI: counts, quarantine reasons, seconds per step and
per phase, the largest stories (markdown).
"""

from __future__ import annotations


def summary_markdown(record: dict, top_entities: list[dict]) -> str:
    reasons = (
        "| reason | files |\n|---|---|\n"
        + "".join(f"| {r} | {n} |\n" for r, n in sorted(record["quarantine_reasons"].items()))
        if record["quarantine_reasons"]
        else "No file was quarantined.\n"
    )
    entities = "".join(
        f"| {e['canonical']} | {e['label']} | {e['documents']} | {e['mentions']} |\n" for e in top_entities
    )
    seconds = record["stage_seconds"]
    steps = "".join(f"| {s} | {v:.2f} |\n" for s, v in seconds.items() if not s.startswith("wall_"))
    phases = "".join(f"| {s.removeprefix('wall_')} | {v:.2f} |\n" for s, v in seconds.items() if s.startswith("wall_"))
    counts = "".join(f"| {c} | {n} |\n" for c, n in record.get("step_counts", {}).items())
    worker = f" by worker `{record['worker']}`" if record.get("worker") else ""
    return (
        f"# textdrops run `{record['run_id']}` of drop `{record['drop_id']}`\n\n"
        f"Ran on `{record.get('host')}`{worker}; wrote to `{record.get('out_url')}`.\n\n"
        f"| files seen | kept | exact duplicates | near duplicates | quarantined | entities | dates |\n"
        f"|---|---|---|---|---|---|---|\n"
        f"| {record['files_seen']} | {record['docs_kept']} | {record['docs_exact_duplicate']} | "
        f"{record['docs_near_duplicate']} | {record['files_quarantined']} | {record['n_entities']} | "
        f"{record['n_dates']} |\n\n"
        f"## Quarantine reasons\n\n{reasons}\n"
        "## Seconds per step\n\nWhat each step's own code took (`<step>.<lap>`), in its worker or the flow's "
        "thread, summed over its batches (which run side by side: more than the wall time).\n\n"
        f"| step | seconds |\n|---|---|\n{steps}\n"
        f"## Wall seconds per phase of the flow\n\n| phase | seconds |\n|---|---|\n{phases}\n"
        f"## Counts per step\n\n| count | n |\n|---|---|\n{counts}\n"
        f"## Top entities\n\n| entity | label | documents | mentions |\n|---|---|---|---|\n{entities}"
    )


def stories_markdown(largest: list[dict]) -> str:
    rows = "".join(
        f"| {(s['headline'] or '').replace('|', '/')} | {s['first_date']} .. {s['last_date']} | {s['drop_documents']} "
        f"| {s['documents']} | {len(s['sources'])} |\n"
        for s in largest
    )
    return (
        "\n## Largest stories\n\n| headline | dates | documents in this drop | documents | outlets |\n"
        f"|---|---|---|---|---|\n{rows}"
    )
