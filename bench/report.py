"""docs/benchmarks.md and bench/results/latest.json from the results of one run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import sections
from bench.common import Result
from bench.goals import describe, evaluate, find, speedup

SECTIONS = (
    (
        "A",
        "A. Single appends, one message per transaction",
        "Durable commits: every SQLite subject uses synchronous=FULL (journal modes in the "
        "notes); PostgreSQL runs with fsync=on and synchronous_commit=on. Each round appends "
        "to a new conversation.",
    ),
    (
        "B",
        "B. Batches of 1,000 messages, one transaction per batch",
        "Messages per second. The goal compares parloir with raw executemany into a table with "
        "the same columns and indexes as parloir's `messages`, its full-text index included "
        "(FTS5 on SQLite, tsvector + GIN on PostgreSQL); the row without the full-text index "
        "shows what that index costs.",
    ),
    (
        "C",
        "C. Reading the last 50 messages of one conversation",
        "Milliseconds per read of a random conversation, in the full-size database. "
        "Lower is better.",
    ),
    (
        "D",
        "D. Building the context for the next model call",
        "Milliseconds per call: the last 50 messages trimmed to a 4,000-token budget, "
        "ready to send. Lower is better.",
    ),
    ("L", "Loading the read database through parloir's API (one run, for information)", ""),
)
BACKENDS = (("sqlite", "SQLite"), ("postgresql", "PostgreSQL"))


def fmt(value: float, metric: str) -> str:
    if metric == "ms":
        return f"{value:.3f}" if value < 10 else f"{value:,.1f}"
    return f"{value:,.0f}"


def _ratio(parloir: Result | None, result: Result) -> str:
    if parloir is None:
        return "n/a"
    if result is parloir:
        return "1.00x"
    return f"{speedup(parloir, result):.2f}x"


def _table(results: list[Result], group: str, backend: str) -> list[str]:
    rows = [r for r in results if r.group == group and r.backend == backend]
    if not rows:
        return []
    parloir = find(results, group, backend, "parloir")
    metric = rows[0].metric
    lines = [
        f"| Subject | Median {metric} | p10-p90 | Rounds x ops | parloir speed vs this |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        spread = f"{fmt(r.p10, metric)}-{fmt(r.p90, metric)}"
        name = f"**{r.subject}**" if r is parloir else r.subject
        lines.append(
            f"| {name} | {fmt(r.median, metric)} | {spread} | "
            f"{len(r.rounds)} x {r.ops_per_round:,} | {_ratio(parloir, r)} |"
        )
    notes = [f"- {r.subject}: {r.note}" for r in rows if r.note]
    return [*lines, "", *notes, ""] if notes else [*lines, ""]


def _goals(results: list[Result]) -> list[str]:
    lines = [
        "| Goal | Measured | Target | Result | Detail |",
        "| --- | ---: | ---: | :---: | --- |",
    ]
    for row in evaluate(results):
        measured, target = describe(row)
        lines.append(
            f"| {row['goal']} | {measured} | {target} | **{row['status']}** | {row['detail']} |"
        )
    return lines


def _setup(run: dict[str, Any]) -> list[str]:
    cfg, ver, mac, pg = run["config"], run["versions"], run["machine"], run["pg_settings"]
    lines = [
        "## Setup",
        "",
        f"- Date: {run['date']}; wall time of the run: {run['seconds'] / 60:.1f} min.",
        f"- Command: `{run['command']}`" + (" (**quick smoke check**)" if cfg["quick"] else ""),
        f"- Machine: {mac['cores']} cores, {mac['memory_gib']} GiB, {mac['cpu_model']}, "
        f"{mac['os']}; PostgreSQL on the same machine over loopback TCP.",
        f"- Sizes: {cfg['messages']:,} messages in {cfg['conversations']:,} conversations "
        f"({cfg['messages'] // cfg['conversations']} each) for C and D; {cfg['rounds']} rounds "
        f"per measurement; A: {cfg['single_ops']:,} appends per round; B: {cfg['batches']} "
        f"batches of 1,000 per round; C/D: {cfg['reads']:,} reads per round "
        f"({cfg['scan_reads']:,} for reads that scan the whole table).",
        f"- PostgreSQL settings: {', '.join(f'{k}={v}' for k, v in pg.items())}.",
        f"- SQLite: temporary files under {cfg['workdir']} (on disk, page cache warm).",
        "",
        "| Component | Version |",
        "| --- | --- |",
        *(f"| {name} | {version} |" for name, version in ver.items()),
        "",
    ]
    return lines


METHOD = """## How to read these tables

- **Median** and **p10-p90**: for throughput (A, B) over the per-round rates; for latency
  (C, D) over every individual read of every round. Rounds interleave the subjects (in a
  shuffled order) so that drift of the machine hits every subject alike; every subject is
  warmed up before its first round.
- **parloir speed vs this**: how many times as fast parloir is as the subject of that row
  (rates: parloir / subject; latencies: subject / parloir). Above 1.00x parloir is faster.
- Raw floors use the bare driver (sqlite3, psycopg 3) and no library; they show what the
  database itself costs on this machine.
"""


def markdown(run: dict[str, Any], results: list[Result]) -> str:
    quick = run["config"]["quick"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m bench` (see `bench/README.md`); do not edit by hand, re-run it.",
        "",
    ]
    if quick:
        lines += ["> **Quick smoke run**: small sizes, figures are not representative.", ""]
    if run.get("parloir_missing"):
        lines += [f"> parloir was not measured: {run['parloir_missing']}", ""]
    lines += ["## Goals", "", *_goals(results), "", *_setup(run), METHOD]
    for group, title, intro in SECTIONS:
        body = [line for code, _ in BACKENDS for line in _backend(results, group, code)]
        if body:
            lines += [f"## {title}", "", *([intro, ""] if intro else []), *body]
    lines += ["## Notes", "", *(f"- {note}" for note in run["notes"]), ""]
    return "\n".join(lines)


def _backend(results: list[Result], group: str, backend: str) -> list[str]:
    table = _table(results, group, backend)
    label = dict(BACKENDS)[backend]
    return [f"### {label}", "", *table] if table else []


def write(run: dict[str, Any], results: list[Result], md_path: Path, json_path: Path) -> None:
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(markdown(run, results) + sections.kept(md_path))
    json_path.parent.mkdir(parents=True, exist_ok=True)
    data = {**run, "goals": evaluate(results), "results": [r.summary() for r in results]}
    json_path.write_text(json.dumps(data, indent=1) + "\n")
