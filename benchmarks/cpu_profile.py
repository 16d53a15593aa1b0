"""Where a command's CPU time goes: CPU seconds per process of its tree, by role, and when cores sit idle.

    .venv/bin/python -m benchmarks.cpu_profile [--interval 0.5] [--json PATH] -- textdrops run DROP --out OUT

Samples the command's process tree every `interval` seconds from /proc (user + system ticks of each live
process, its thread count) and the machine's busy ticks from /proc/stat. Each process gets a role from
its command line: `flow` (the command itself), `server` (the temporary Prefect server and its launcher),
`worker` (a spawned pool process), `helper` (multiprocessing's resource tracker) or `other`. CPU seconds
are robust to a shared machine; the idle timeline (cores the tree left unused) is not, so the CPU used
by processes outside the tree is given beside it. A process's last fraction of an interval before it
exits is not seen (at most `interval` CPU-seconds per process).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (field 3 onward), or None once the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def _children(pid: int) -> list[int]:
    """Direct children of pid, from every thread's children list."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            found += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
        except OSError:
            continue
    return found


def tree(pid: int) -> list[int]:
    """pid and all its live descendants."""
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        queue += _children(current)
    return pids


def role_of(pid: int, root: int) -> str:
    """What a process of the tree is, from its command line."""
    if pid == root:
        return "flow"
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "other"
    line = b" ".join(argv)
    if b"uvicorn" in line or b"textdrops.stopping" in line or b"prefect.server" in line:
        return "server"
    if b"resource_tracker" in line:
        return "helper"
    if b"multiprocessing.spawn" in line or b"--multiprocessing-fork" in line:
        return "worker"
    return "other"


def machine_busy_ticks() -> int:
    """Busy ticks of every core since boot (user, nice, system, irq, softirq, steal)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[i] for i in (0, 1, 2, 5, 6, 7) if i < len(fields))


@dataclass
class ProcessSeen:
    pid: int
    role: str
    first_seen: float
    last_seen: float
    ticks_at_start: int  # CPU ticks it had when first seen (0 for a process started during the run)
    ticks: int = 0
    max_threads: int = 0


@dataclass
class Profile:
    interval: float
    started_unix: float = 0.0
    processes: dict[int, ProcessSeen] = field(default_factory=dict)
    timeline: list[dict] = field(default_factory=list)  # one row per sample: t, CPU rate per role, others


class CpuSampler(threading.Thread):
    """Samples the process tree of `root` until stopped; results in `profile`."""

    def __init__(self, root: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.root, self.profile = root, Profile(interval)
        self.started = time.monotonic()
        self.profile.started_unix = time.time()
        self._done = threading.Event()

    def sample(self, previous: dict[int, int], previous_busy: int, previous_t: float) -> tuple[dict, int, float]:
        now = time.monotonic() - self.started
        busy = machine_busy_ticks()
        current: dict[int, int] = {}
        rates: dict[str, float] = {}
        dt = max(now - previous_t, 1e-6)
        for pid in tree(self.root):
            fields = _stat_fields(pid)
            if fields is None:
                continue
            ticks, threads = int(fields[11]) + int(fields[12]), int(fields[17])  # utime + stime, num_threads
            seen = self.profile.processes.get(pid)
            if seen is None:
                # a process first seen in the first sample ran before: its earlier ticks are not the run's
                initial = ticks if not previous and pid != self.root else 0
                seen = self.profile.processes[pid] = ProcessSeen(pid, role_of(pid, self.root), now, now, initial)
            seen.ticks, seen.last_seen = ticks, now
            seen.max_threads = max(seen.max_threads, threads)
            current[pid] = ticks
            gained = ticks - previous.get(pid, seen.ticks_at_start)
            rates[seen.role] = rates.get(seen.role, 0.0) + gained / TICKS / dt
        tree_rate = sum(rates.values())
        machine_rate = (busy - previous_busy) / TICKS / dt if previous_busy else tree_rate
        self.profile.timeline.append(
            {
                "t": round(now, 2),
                **{k: round(v, 3) for k, v in rates.items()},
                "outside": round(max(0.0, machine_rate - tree_rate), 3),
            }
        )
        return current, busy, now

    def run(self) -> None:
        previous, busy, t = self.sample({}, 0, 0.0)
        while not self._done.wait(self.profile.interval):
            previous, busy, t = self.sample(previous, busy, t)

    def stop(self) -> Profile:
        self._done.set()
        self.join()
        return self.profile


def summary(profile: Profile, cores: int | None = None) -> dict:
    """CPU seconds per role and per process, idle core-seconds, and a timeline in 5-second steps."""
    cores = cores or os.cpu_count() or 1
    by_role: dict[str, float] = {}
    per_process = []
    for seen in sorted(profile.processes.values(), key=lambda s: s.first_seen):
        seconds = (seen.ticks - seen.ticks_at_start) / TICKS
        by_role[seen.role] = by_role.get(seen.role, 0.0) + seconds
        per_process.append(
            {
                "pid": seen.pid,
                "role": seen.role,
                "cpu_seconds": round(seconds, 2),
                "from": round(seen.first_seen, 1),
                "to": round(seen.last_seen, 1),
                "max_threads": seen.max_threads,
            }
        )
    rows = profile.timeline
    idle = outside = 0.0
    steps: dict[int, dict[str, float]] = {}
    for previous, row in zip(rows, rows[1:], strict=False):
        dt = row["t"] - previous["t"]
        used = sum(v for k, v in row.items() if k not in ("t", "outside"))
        idle += max(0.0, cores - used) * dt
        outside += row["outside"] * dt
        step = steps.setdefault(int(row["t"] // 5) * 5, {})
        for key, value in row.items():
            if key != "t":
                step[key] = step.get(key, 0.0) + value * dt
    wall = rows[-1]["t"] if rows else 0.0
    return {
        "started_unix": profile.started_unix,
        "wall_seconds": round(wall, 1),
        "cpu_seconds_by_role": {k: round(v, 1) for k, v in sorted(by_role.items())},
        "cpu_seconds_tree": round(sum(by_role.values()), 1),
        "idle_core_seconds": round(idle, 1),
        "outside_tree_cpu_seconds": round(outside, 1),
        "processes": per_process,
        "timeline": rows,
        "timeline_5s": [
            {"t": t, **{k: round(v / 5, 2) for k, v in sorted(step.items())}} for t, step in sorted(steps.items())
        ],
    }


PHASES = ("discover", "load", "learn-boilerplate", "prepare", "dedupe", "annotate", "stories")  # wall_* laps, in order


def phase_breakdown(result: dict, record: dict, cores: int | None = None) -> list[dict]:
    """Per phase of a `process_drop` run (its record's wall_* laps; `commit` is the rest of the flow run and
    `outside flow` the command's time before and after it): wall seconds, CPU seconds per role, idle
    core-seconds (cores the tree left unused) and CPU seconds used outside the tree."""
    cores = cores or os.cpu_count() or 1
    laps = record["stage_seconds"]
    start = record["started_at"].timestamp() - result["started_unix"]
    end = record["finished_at"].timestamp() - result["started_unix"]
    bounds, t = [("before flow", 0.0, start)], start
    for phase in PHASES:
        seconds = laps.get(f"wall_{phase}", 0.0)
        bounds.append((phase, t, t + seconds))
        t += seconds
    bounds += [("commit", t, end), ("after flow", end, result["wall_seconds"])]
    rows = result["timeline"]
    out = []
    for name, lo, hi in bounds:
        cpu: dict[str, float] = {}
        idle = outside = 0.0
        for previous, row in zip(rows, rows[1:], strict=False):
            overlap = min(hi, row["t"]) - max(lo, previous["t"])  # the sample covers (previous t, t]
            if overlap <= 0:
                continue
            used = 0.0
            for key, rate in row.items():
                if key not in ("t", "outside"):
                    cpu[key] = cpu.get(key, 0.0) + rate * overlap
                    used += rate
            idle += max(0.0, cores - used) * overlap
            outside += row["outside"] * overlap
        out.append(
            {
                "phase": name,
                "wall": round(hi - lo, 1),
                "cpu": {k: round(v, 1) for k, v in sorted(cpu.items()) if round(v, 1)},
                "idle_core_seconds": round(idle, 1),
                "outside_tree_cpu_seconds": round(outside, 1),
            }
        )
    return out


def textdrops_run_record(command: list[str]) -> dict | None:
    """The run record of a finished `textdrops run DROP --out OUT` command (None for other commands)."""
    if "run" not in command or "--out" not in command:
        return None
    from benchmarks.run import run_record

    rest = command[command.index("run") + 1 :]
    out = Path(rest[rest.index("--out") + 1])
    drop = next(a for i, a in enumerate(rest) if not a.startswith("-") and (i == 0 or rest[i - 1] != "--out"))
    from tasks.discover import drop_id_of

    return run_record(out, drop_id_of(Path(drop).resolve()))


def profile_command(argv: list[str], interval: float = 0.5, **popen) -> tuple[int, dict]:
    """Run argv, sampling its process tree; (exit code, summary)."""
    proc = subprocess.Popen(argv, **popen)
    sampler = CpuSampler(proc.pid, interval)
    sampler.start()
    code = proc.wait()
    return code, summary(sampler.stop())


def print_summary(result: dict, timeline: bool = True) -> None:
    print(f"wall {result['wall_seconds']} s; tree CPU {result['cpu_seconds_tree']} s: {result['cpu_seconds_by_role']}")
    idle, outside = result["idle_core_seconds"], result["outside_tree_cpu_seconds"]
    print(f"idle core-seconds {idle}; CPU used outside the tree {outside} s")
    for p in result["processes"]:
        seen = f"{p['from']:>7.1f}-{p['to']:<7.1f}"
        print(f"  {p['role']:<7}{p['pid']:>8}{p['cpu_seconds']:>9.1f} s  {seen} threads<={p['max_threads']}")
    if result.get("phases"):
        print("phases: wall s, CPU s per role, idle core-s, CPU s outside the tree")
        for p in result["phases"]:
            cpu = " ".join(f"{k}={v}" for k, v in p["cpu"].items())
            idle, outside = p["idle_core_seconds"], p["outside_tree_cpu_seconds"]
            print(f"  {p['phase']:<12}{p['wall']:>7.1f}  {cpu:<46} idle={idle} outside={outside}")
    if not timeline:
        return
    print("timeline (CPU cores used per role, 5 s steps)")
    for row in result["timeline_5s"]:
        parts = " ".join(f"{k}={v:.2f}" for k, v in row.items() if k != "t")
        print(f"  {row['t']:>5}s {parts}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.cpu_profile", description=__doc__.split("\n")[0])
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--json", type=Path, default=None, help="also write the summary here")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to profile, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to profile after --")
    code, result = profile_command(command, args.interval)
    record = textdrops_run_record(command) if code == 0 else None
    if record is not None:
        result["phases"] = phase_breakdown(result, record)
    print_summary(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
