"""``python -m bench.search``: full-text search latency, and what the index costs appends.

Two measurements, on SQLite (temporary files) and PostgreSQL (database
``parloir_search_bench`` on 127.0.0.1, dropped and recreated):

* **S (search)**: ``Store.search(word, limit=20)`` for common words (in one message of
  four to one of ten), medium ones (one in a hundred to one in a thousand), rare ones,
  two-word queries and three-letter prefixes, in one tenant of ``--messages`` messages
  (2,000,000 by default) with a Zipf-distributed vocabulary. Latency per call, median and
  p95. The goal is a median under 50 ms.
* **I (index cost)**: single ``Store.append_message`` calls (one durable transaction each) on
  a fresh database, in interleaved rounds with the index maintenance present (triggers; on
  PostgreSQL also the GIN index), removed, and removed together with the statistics rollups.
  The costs are the relative drops in appends/s; the index and the rollups together have a
  30 % budget.

The data is loaded fast with the raw drivers (``executemany`` on SQLite, ``COPY`` on
PostgreSQL) with the index maintenance off, then indexed in one pass, as the migration does
for existing messages. Writes ``bench/results/search.json`` and prints a markdown section
(also in the JSON) for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import bisect
import json
import random
import shutil
import sqlite3
import statistics
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

import psycopg

from bench import env, sections
from bench.common import percentile, pg_url
from bench.progress import bar
from parloir import Settings, Store
from parloir import messages as message_module
from parloir.db import search_index
from parloir.ids import uuid7

DATABASE = "parloir_search_bench"
TENANT = uuid.UUID("00000000-0000-7000-8000-000000000001")
PROFILES = {
    "full": {"messages": 2_000_000, "queries": 50, "appends": 1_000, "rounds": 9},
    "quick": {"messages": 50_000, "queries": 20, "appends": 100, "rounds": 3},
}
GOAL_MS = 50.0
BUDGET = 0.30
CHUNK = 20_000
JSON_PATH = env.ROOT / "bench" / "results" / "search.json"

_COMMON = (
    "the to and a of i you it is in for my that this on have with be can your not do what "
    "order help please thanks refund payment account delivery price question problem"
)


def vocabulary(size: int = 30_000, seed: int = 5) -> list[str]:
    """Real chat words first, then made-up words: the rank order of the Zipf law."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyzéèàç"
    words = list(dict.fromkeys(_COMMON.split()))
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(letters) for _ in range(rng.randint(4, 10)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


class Texts:
    """Message texts drawn from a Zipf(1.07) law over the vocabulary, lengths log-normal."""

    def __init__(self, seed: int = 7) -> None:
        self.words = vocabulary()
        weights = [1 / (rank**1.07) for rank in range(1, len(self.words) + 1)]
        self.cumulative = []
        total = 0.0
        for weight in weights:
            total += weight
            self.cumulative.append(total)
        self.rng = random.Random(seed)

    def batch(self, count: int) -> list[str]:
        lengths = [min(200, int(self.rng.lognormvariate(2.4, 0.7)) + 1) for _ in range(count)]
        drawn = self.rng.choices(self.words, cum_weights=self.cumulative, k=sum(lengths))
        out, start = [], 0
        for length in lengths:
            out.append(" ".join(drawn[start : start + length]))
            start += length
        return out

    def word_at_share(self, share: float) -> str:
        """The word whose expected frequency rank sits at ``share`` of the total weight."""
        index = bisect.bisect_left(self.cumulative, share * self.cumulative[-1])
        return self.words[min(index, len(self.words) - 1)]


def _rows(total: int, conversations: list[uuid.UUID], texts: Texts) -> Iterator[list[tuple]]:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    seqs = dict.fromkeys(conversations, 0)
    done = 0
    while done < total:
        count = min(CHUNK, total - done)
        chunk = []
        for i, content in enumerate(texts.batch(count)):
            conversation = conversations[(done + i) % len(conversations)]
            seqs[conversation] += 1
            role = "user" if seqs[conversation] % 2 else "assistant"
            when = start + timedelta(seconds=done + i)
            chunk.append((uuid7(), conversation, seqs[conversation], role, content, when))
        done += count
        yield chunk


def _prepare(url: str, messages: int) -> tuple[Store, list[uuid.UUID]]:
    """A store on a new database, with one agent and a conversation per 500 messages."""
    store = Store.open(
        settings=Settings(database_url=url, sqlite_synchronous="NORMAL"), migrate=True
    )
    agent = store.create_agent(name="bench")
    conversations = [
        store.get_or_create_conversation(agent_id=agent.id, channel="web", external_id=str(i)).id
        for i in range(max(1, messages // 500))
    ]
    return store, conversations


def load_sqlite(path: Path, messages: int, texts: Texts) -> Store:
    store, conversations = _prepare(f"sqlite:///{path}", messages)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in search_index.sqlite_drop()[:3]:  # the triggers, not the table
            conn.execute(statement)
        conn.execute("PRAGMA synchronous=OFF")
        insert = (
            "INSERT INTO messages (id, tenant_id, conversation_id, seq, role, direction, content,"
            " content_length, metadata, created_at) VALUES (?,?,?,?,?,?,?,?,'{}',?)"
        )
        with bar("SQLite: load messages", messages) as advance:
            for chunk in _rows(messages, conversations, texts):
                conn.execute("BEGIN")
                conn.executemany(insert, [_sqlite_row(*row) for row in chunk])
                conn.execute("COMMIT")
                advance(len(chunk))
        started = perf_counter()
        for statement in search_index.sqlite_ddl()[1:]:  # triggers, then 'rebuild'
            conn.execute(statement)
        conn.execute("ANALYZE")
        print(f"  SQLite: index built in {perf_counter() - started:.1f} s", flush=True)
    finally:
        conn.close()
    return store


def _sqlite_row(mid: uuid.UUID, cid: uuid.UUID, seq: int, role: str, text: str, at: datetime):
    direction = "in" if role == "user" else "out"
    when = at.replace(tzinfo=None).isoformat(" ", "microseconds")
    return (mid.hex, TENANT.hex, cid.hex, seq, role, direction, text, len(text), when)


def load_postgres(messages: int, texts: Texts) -> Store:
    env.recreate_pg_database(DATABASE)
    store, conversations = _prepare(pg_url(DATABASE), messages)
    with psycopg.connect(pg_url(DATABASE), autocommit=True) as conn:
        conn.execute(f"DROP INDEX {search_index.SEARCH_INDEX}")
        columns = "id, tenant_id, conversation_id, seq, role, direction, content, content_length,"
        copy = f"COPY messages ({columns} metadata, created_at) FROM STDIN"
        with bar("PostgreSQL: load messages (trigger computes vectors)", messages) as advance:
            for chunk in _rows(messages, conversations, texts):
                with conn.cursor() as cursor, cursor.copy(copy) as sink:
                    for mid, cid, seq, role, text, at in chunk:
                        direction = "in" if role == "user" else "out"
                        sink.write_row(
                            (mid, TENANT, cid, seq, role, direction, text, len(text), "{}", at)
                        )
                advance(len(chunk))
        started = perf_counter()
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute(search_index.postgres_ddl()[-1])
        conn.execute("VACUUM ANALYZE")  # every table, as autovacuum would after a bulk load
        print(f"  PostgreSQL: GIN index built in {perf_counter() - started:.1f} s", flush=True)
    return store


def measure_search(store: Store, texts: Texts, queries: int) -> dict[str, Any]:
    """Latency of searches for common and rare words (ms), and how many hits they have."""
    groups = {
        "common": [texts.words[i] for i in range(5, 15)],
        "medium": [texts.word_at_share(s) for s in (0.6, 0.65, 0.7, 0.75, 0.8)],
        "rare": [texts.word_at_share(s) for s in (0.985, 0.99, 0.993, 0.996, 0.998)],
        "two words": [f"{texts.words[i]} {texts.words[i * 40]}" for i in range(6, 16)],
        "prefix": [texts.words[i][:3] + "*" for i in range(30, 40)],
    }
    out: dict[str, Any] = {}
    for name, words in groups.items():
        for word in words:  # warm-up
            store.search(word)
        samples = []
        for i in range(queries):
            started = perf_counter()
            store.search(words[i % len(words)], limit=20)
            samples.append((perf_counter() - started) * 1000)
        out[name] = {
            "queries": words,
            "median_ms": statistics.median(samples),
            "p95_ms": percentile(samples, 95),
            "samples": [round(s, 3) for s in samples],
        }
    return out


def _toggle(dialect: str, url: str, on: bool) -> None:
    """Remove the index maintenance, and put it back if ``on`` (the FTS table / column stay)."""
    if dialect == "sqlite":
        conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        statements = search_index.sqlite_drop()[:3] + (search_index.sqlite_ddl()[1:4] if on else [])
    else:
        conn = psycopg.connect(pg_url(DATABASE), autocommit=True)
        pg = search_index.postgres_ddl()
        statements = search_index.postgres_drop()[:2] + ([pg[2], pg[4]] if on else [])
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


MODES = ("with index", "without index", "without index or rollups")


def measure_appends(dialect: str, url: str, appends: int, rounds: int, texts: Texts) -> dict:
    """Appends/s with the index, without it, and without it or the rollups, interleaved.

    The last mode gives the cost of both at once, which is what the 30 % budget bounds.
    """
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    with Store.open(settings=Settings(database_url=url), migrate=True) as store:
        agent = store.create_agent(name="appends")
        for number in range(rounds):
            order = list(MODES)
            random.Random(number).shuffle(order)
            for mode in order:
                _toggle(dialect, url, mode == "with index")
                message_module.ROLLUPS_ON_APPEND = mode != MODES[2]
                conversation = store.get_or_create_conversation(
                    agent_id=agent.id, channel="web", external_id=f"{mode}-{number}"
                ).id
                batch = texts.batch(appends)
                started = perf_counter()
                for text in batch:
                    store.append_message(conversation, role="user", content=text)
                if mode != MODES[2]:
                    store.fold_rollups()  # SQLite: the round's last appends, counted in its time
                rates[mode].append(appends / (perf_counter() - started))
                store.fold_rollups()  # the last mode's appends, counted untimed
            print(f"  I {dialect}: round {number + 1}/{rounds}", flush=True)
        message_module.ROLLUPS_ON_APPEND = True
        _toggle(dialect, url, True)
    medians = {mode: statistics.median(rates[mode]) for mode in MODES}
    with_rate, without, neither = (medians[mode] for mode in MODES)
    # Each round measures the three modes back to back: its own joint cost shows how far one
    # measurement can stray (the verdict keeps the ratio of the medians).
    per_round = [1 - w / n for w, n in zip(rates[MODES[0]], rates[MODES[2]], strict=True)]
    return {
        "rates": rates,
        "with": with_rate,
        "without": without,
        "neither": neither,
        "cost": 1 - with_rate / without,
        "joint_cost": 1 - with_rate / neither,
        "joint_cost_rounds": per_round,
        "joint_cost_p10_p90": [percentile(per_round, 10), percentile(per_round, 90)],
    }


def markdown(results: dict[str, Any]) -> str:
    """The section for docs/benchmarks.md."""
    size = results["config"]["messages"]
    lines = [
        f"## Search ({size:,} messages{', quick run' if results['config']['quick'] else ''})",
        "",
        f"`Store.search(q, limit=20)`, one tenant; goal: median under {GOAL_MS:.0f} ms.",
        "",
        "| database | query | median ms | p95 ms | goal |",
        "|---|---|---|---|---|",
    ]
    for backend, data in results["search"].items():
        for name, figures in data.items():
            verdict = "PASS" if figures["median_ms"] < GOAL_MS else "MISS"
            lines.append(
                f"| {backend} | {name} | {figures['median_ms']:.2f} | {figures['p95_ms']:.2f} "
                f"| {verdict} |"
            )
    lines += ["", "Cost on single appends (one durable transaction each), same run:", ""]
    lines += [
        "| database | with index and rollups /s | without index /s | without either /s "
        "| index cost | index + rollups cost | per round, p10-p90 | goal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for backend, data in results["appends"].items():
        verdict = "PASS" if data["joint_cost"] <= BUDGET else "MISS"
        low, high = data["joint_cost_p10_p90"]
        lines.append(
            f"| {backend} | {data['with']:,.0f} | {data['without']:,.0f} "
            f"| {data['neither']:,.0f} | {data['cost']:.1%} | {data['joint_cost']:.1%} "
            f"| {low:.1%}-{high:.1%} | {verdict} |"
        )
    rounds, appends = results["config"]["rounds"], results["config"]["appends"]
    lines += [
        "",
        f"Goal: the index and the rollups together cost at most {BUDGET:.0%}: the ratio of the "
        f"median rates over {rounds} rounds of {appends:,} appends per mode; a round measures "
        "the three modes back to back, and the spread of its own joint cost shows how far a "
        "single measurement strays.",
    ]
    return "\n".join(lines) + "\n"


def _run_backend(backend: str, cfg: dict[str, Any], workdir: Path, results: dict) -> None:
    texts = Texts()
    if backend == "sqlite":
        store = load_sqlite(workdir / "search.db", cfg["messages"], texts)
        append_url = f"sqlite:///{workdir / 'appends.db'}"
    else:
        store = load_postgres(cfg["messages"], texts)
        append_url = ""
    try:
        results["search"][backend] = measure_search(store, texts, cfg["queries"])
    finally:
        store.close()
    if backend == "postgresql":
        env.recreate_pg_database(DATABASE)
        append_url = pg_url(DATABASE)
    results["appends"][backend] = measure_appends(
        backend, append_url, cfg["appends"], cfg["rounds"], texts
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.search",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    for name in PROFILES["full"]:
        parser.add_argument(
            f"--{name}", type=int, default=None, help=f"(full: {PROFILES['full'][name]:,})"
        )
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    cfg = dict(PROFILES["quick" if args.quick else "full"])
    cfg.update({k: getattr(args, k) for k in PROFILES["full"] if getattr(args, k) is not None})
    cfg["quick"] = args.quick
    results: dict[str, Any] = {"config": cfg, "search": {}, "appends": {}, "when": env.now_utc()}
    workdir = Path(tempfile.mkdtemp(prefix="parloir-search-bench-"))
    try:
        for backend in args.backends.split(","):
            _run_backend(backend, cfg, workdir, results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["machine"] = env.machine()
    results["markdown"] = markdown(results)
    JSON_PATH.parent.mkdir(parents=True, exist_ok=True)
    JSON_PATH.write_text(json.dumps(results, indent=2, default=str))
    print(results["markdown"])
    small = bool(cfg["quick"]) or cfg["messages"] < PROFILES["full"]["messages"]
    sections.record("search", results["markdown"], quick=small)
    return results


run: Callable[..., dict[str, Any]] = main

if __name__ == "__main__":
    main()
