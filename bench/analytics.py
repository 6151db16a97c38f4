"""``python -m bench.analytics``: statistics from the rollups against the seeds' naive query.

On each database: fill the tables in stages (bulk insert, then the rollups rebuilt from the raw
rows), and at each stage time agent statistics (``Store.agent_statistics``, and the
``agent_statistics`` view) against the seeds' ``agent_statistics`` query over the raw tables,
and a 30-day daily series. Then, on a fresh database, the single-append and batch rates with
the rollups kept and without them, alternating in the same run. Writes
bench/results/analytics.json and bench/results/analytics.md (a section for
docs/benchmarks.md); both are git-ignored.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

from sqlalchemy import Uuid, bindparam, text

from bench import env, sections
from bench.analytics_load import END, load
from bench.common import pg_url
from bench.progress import bar
from parloir import Store
from parloir import messages as message_module
from parloir.db.engine import TENANT_OPTION

PROFILES = {
    "full": {"messages": 2_000_000, "conversations": 100_000, "agents": 20, "rounds": 7},
    "quick": {"messages": 40_000, "conversations": 2_000, "agents": 20, "rounds": 3},
}
STAGES = (0.25, 0.5, 1.0)
DAYS = 90
PG_DB = "parloir_bench_analytics"
RESULTS = env.ROOT / "bench" / "results"

NAIVE = """
SELECT a.id AS agent_id, a.owner_user_id AS user_id, a.name,
    COUNT(DISTINCT c.id) AS total_conversations, COUNT(m.id) AS total_messages,
    SUM(CASE WHEN m.role = 'user' THEN 1 ELSE 0 END) AS user_messages,
    SUM(CASE WHEN m.role = 'assistant' THEN 1 ELSE 0 END) AS assistant_messages,
    SUM(m.token_count) AS total_tokens_used, AVG(m.response_time_ms) AS avg_response_time_ms,
    MAX(c.created_at) AS last_conversation_date
FROM agents a
LEFT JOIN conversations c ON c.agent_id = a.id
LEFT JOIN messages m ON m.conversation_id = c.id
GROUP BY a.id, a.owner_user_id, a.name
"""
VIEW = "SELECT * FROM agent_statistics WHERE tenant_id = :tenant"


def _ms(action: Callable[[], Any], repeat: int) -> float:
    """Median milliseconds of ``repeat`` calls, after one warm-up call."""
    action()
    times = []
    for _ in range(repeat):
        start = perf_counter()
        action()
        times.append((perf_counter() - start) * 1000)
    return statistics.median(times)


def _open(backend: str, workdir: Path, name: str) -> Store:
    if backend == "sqlite":
        return Store.open(f"sqlite:///{workdir / name}.db")
    env.recreate_pg_database(PG_DB)
    return Store.open(pg_url(PG_DB), migrate=True)


def _sql_reads(store: Store, rounds: int) -> tuple[float, float]:
    """The ``agent_statistics`` view (as the store's role, with its tenant set for row-level
    security), and the seeds' naive query on the raw tables, as they ran it: as the tables'
    owner, with no row-level security."""
    view = text(VIEW).bindparams(bindparam("tenant", type_=Uuid()))
    tenant = {"tenant": store.tenant_id}
    engines = store._shared.engines
    with engines.read.connect() as connection:
        connection.execution_options(**{TENANT_OPTION: str(store.tenant_id)})
        view_ms = _ms(lambda: connection.execute(view, tenant).all(), rounds * 5)
    with engines.owner.connect() as connection:
        naive_ms = _ms(lambda: connection.execute(text(NAIVE)).all(), max(1, rounds // 2))
    return view_ms, naive_ms


def reads(backend: str, sizes: dict[str, int], workdir: Path) -> list[dict[str, Any]]:
    """Statistics at each stage of the load."""
    store = _open(backend, workdir, "analytics")
    agents = [store.create_agent(name=f"agent-{i:02}").id for i in range(sizes["agents"])]
    per = sizes["messages"] // sizes["conversations"]
    out, loaded = [], 0
    since = END.date() - timedelta(days=30)
    for stage in STAGES:
        target = int(sizes["conversations"] * stage)
        with bar(
            f"{backend}: loading to {target * per:,} messages", (target - loaded) * per
        ) as advance:
            load(store, agents, target - loaded, per, DAYS, seed=target, advance=advance)
        loaded = target
        start = perf_counter()
        store.check_rollups(rebuild=True)
        rebuild_s = perf_counter() - start
        view_ms, naive_ms = _sql_reads(store, sizes["rounds"])
        out.append(
            {
                "backend": backend,
                "messages": loaded * per,
                "conversations": loaded,
                "rollup_rebuild_s": round(rebuild_s, 2),
                "agent_statistics_ms": _ms(store.agent_statistics, sizes["rounds"] * 5),
                "view_ms": view_ms,
                "naive_query_ms": naive_ms,
                "daily_30_days_ms": _ms(
                    lambda: store.daily_statistics(since=since, until=END.date()),
                    sizes["rounds"] * 5,
                ),
            }
        )
    store.close()
    return out


def _single(store: Store, conversations: list[uuid.UUID], n: int, counted: bool) -> float:
    """Single appends/s; ``counted``: the rollups count them, within the timing (on SQLite the
    last fold too), else they are folded afterwards, untimed."""
    start = perf_counter()
    for i in range(n):
        store.append_message(conversations[i % len(conversations)], role="user", content="hi there")
    if counted:
        store.fold_rollups()
    rate = n / (perf_counter() - start)
    if not counted:
        store.fold_rollups()
    return rate


def _batch(store: Store, conversations: list[uuid.UUID], n: int) -> float:
    items = [{"role": "user", "content": "hello"}] * 1000
    start = perf_counter()
    for i in range(n):
        store.append_messages(conversations[i % len(conversations)], items)
    return n * 1000 / (perf_counter() - start)


def writes(backend: str, rounds: int, workdir: Path, quick: bool) -> dict[str, Any]:
    """Append rates with and without the rollups, alternating in short slices."""
    store = _open(backend, workdir, "appends")
    agent = store.create_agent(name="writer").id
    convs = [store.get_or_create_conversation(agent_id=agent, channel="web").id for _ in range(20)]
    rates: dict[str, list[float]] = {
        k: [] for k in ("single_on", "single_off", "batch_on", "batch_off")
    }
    slices = rounds * (2 if quick else 6)
    for index in range(slices):
        order = (True, False) if index % 2 else (False, True)
        for flag in order:
            message_module.ROLLUPS_ON_APPEND = flag
            suffix = "on" if flag else "off"
            rates[f"single_{suffix}"].append(_single(store, convs, 100 if quick else 300, flag))
            rates[f"batch_{suffix}"].append(_batch(store, convs, 1 if quick else 2))
            if not flag:
                store.fold_rollups()  # SQLite: the uncounted batches, counted untimed
    message_module.ROLLUPS_ON_APPEND = True
    store.close()
    medians = {k: statistics.median(v) for k, v in rates.items()}
    medians["single_cost_pct"] = 100 * (1 - medians["single_on"] / medians["single_off"])
    medians["batch_cost_pct"] = 100 * (1 - medians["batch_on"] / medians["batch_off"])
    return {"backend": backend, **{k: round(v, 1) for k, v in medians.items()}}


_READ_HEADER = (
    "| database | messages | agent statistics (rollups) | `agent_statistics` view "
    "| seeds' naive query | 30-day series | rollup rebuild |"
)
_WRITE_HEADER = (
    "| database | single appends/s (without → with rollups) | cost "
    "| batch messages/s (without → with) | cost |"
)
_GOALS = (
    "Goals: agent statistics under 10 ms, flat as the tables grow; the rollups cost at most "
    "30 % of the single-append rate."
)


def markdown(result: dict[str, Any]) -> str:
    """The section of docs/benchmarks.md for these figures."""
    quick = " (quick: reduced sizes)" if result["quick"] else ""
    lines = ["## Analytics", "", f"Command: `{result['command']}`{quick}", ""]
    lines += [_READ_HEADER, "|---|---:|---:|---:|---:|---:|---:|"]
    for r in result["reads"]:
        cells = (
            r["backend"],
            f"{r['messages']:,}",
            f"{r['agent_statistics_ms']:.2f} ms",
            f"{r['view_ms']:.2f} ms",
            f"{r['naive_query_ms']:.0f} ms",
            f"{r['daily_30_days_ms']:.2f} ms",
            f"{r['rollup_rebuild_s']} s",
        )
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", _WRITE_HEADER, "|---|---:|---:|---:|---:|"]
    for w in result["writes"]:
        cells = (
            w["backend"],
            f"{w['single_off']:,.0f} → {w['single_on']:,.0f}",
            f"{w['single_cost_pct']:.1f} %",
            f"{w['batch_off']:,.0f} → {w['batch_on']:,.0f}",
            f"{w['batch_cost_pct']:.1f} %",
        )
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", _GOALS]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.analytics", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="reduced sizes: a smoke run")
    for name, value in PROFILES["full"].items():
        parser.add_argument(f"--{name}", type=int, default=None, help=f"full: {value:,}")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    sizes = dict(PROFILES["quick" if args.quick else "full"])
    sizes.update({k: getattr(args, k) for k in sizes if getattr(args, k) is not None})
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="parloir-analytics-"))
    result: dict[str, Any] = {
        "command": "python -m bench.analytics" + (" --quick" if args.quick else ""),
        "quick": args.quick,
        "sizes": sizes,
        "reads": [],
        "writes": [],
    }
    for backend in backends:
        result["reads"] += reads(backend, sizes, workdir)
        result["writes"].append(writes(backend, sizes["rounds"], workdir, args.quick))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "analytics.json").write_text(json.dumps(result, indent=2, default=str))
    section = markdown(result)
    (RESULTS / "analytics.md").write_text(section)
    print(section)
    sections.record("analytics", section, quick=args.quick)


if __name__ == "__main__":
    main()
