"""The project's performance goals, checked against the figures of one run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.common import Result


@dataclass(frozen=True)
class Goal:
    """``other`` set: parloir / other (rates) must reach ``target``; else parloir's median
    latency in ms must stay under ``target``."""

    text: str
    group: str
    backend: str
    other: str | None
    target: float


GOALS = (
    Goal(
        "Single appends on SQLite: >= 3x LangChain SQLChatMessageHistory (as shipped)",
        "A",
        "sqlite",
        "lc_shipped",
        3.0,
    ),
    Goal("Single appends on PostgreSQL: >= 1x langchain-postgres", "A", "postgresql", "lcpg", 1.0),
    Goal(
        "Batches of 1,000 on SQLite: >= 50 % of raw executemany with the same indexes "
        "(B-tree and full-text)",
        "B",
        "sqlite",
        "raw_full",
        0.5,
    ),
    Goal(
        "Batches of 1,000 on PostgreSQL: >= 50 % of raw executemany with the same indexes "
        "(B-tree and full-text)",
        "B",
        "postgresql",
        "raw_full",
        0.5,
    ),
    Goal("Last 50 messages at full size on SQLite: median < 0.5 ms", "C", "sqlite", None, 0.5),
    Goal(
        "Last 50 messages at full size on PostgreSQL: median < 1 ms", "C", "postgresql", None, 1.0
    ),
)


def find(results: list[Result], group: str, backend: str, ident: str) -> Result | None:
    for result in results:
        if (result.group, result.backend, result.ident) == (group, backend, ident):
            return result
    return None


def speedup(parloir: Result, other: Result) -> float:
    """How many times as fast parloir is as ``other`` (> 1: parloir is faster)."""
    if parloir.higher_is_better:
        return parloir.median / other.median
    return other.median / parloir.median


def evaluate(results: list[Result]) -> list[dict[str, Any]]:
    """One row per goal: measured figure, target and PASS / MISS (n/a when not measured)."""
    rows = []
    for goal in GOALS:
        mine = find(results, goal.group, goal.backend, "parloir")
        other = find(results, goal.group, goal.backend, goal.other) if goal.other else None
        row: dict[str, Any] = {
            "goal": goal.text,
            "target": goal.target,
            "value": None,
            "status": "n/a",
            "detail": "not measured in this run",
        }
        if mine and goal.other and other:
            value = mine.median / other.median
            row.update(
                value=value,
                status="PASS" if value >= goal.target else "MISS",
                detail=f"{mine.median:,.0f} vs {other.median:,.0f} {mine.metric}",
            )
        elif mine and not goal.other:
            value = mine.median
            row.update(
                value=value,
                status="PASS" if value < goal.target else "MISS",
                detail=f"p10-p90 {mine.p10:.3f}-{mine.p90:.3f} ms",
            )
        rows.append(row)
    return rows


def describe(row: dict[str, Any]) -> tuple[str, str]:
    """(measured, target) as text for the report."""
    ratio = "x" in row["goal"] or "%" in row["goal"]
    target = row["target"]
    if ratio:
        target_text = f">= {target:.0%}" if target < 1 else f">= {target:g}x"
        measured = (
            "-"
            if row["value"] is None
            else (f"{row['value']:.0%}" if target < 1 else f"{row['value']:.2f}x")
        )
    else:
        target_text = f"< {target:g} ms"
        measured = "-" if row["value"] is None else f"{row['value']:.3f} ms"
    return measured, target_text
