"""Measurements C (last 50 messages) and D (context for the next model call) at full size."""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import parloir_adapter, peers_load, raw_read
from bench.common import (
    LAST_N,
    Reader,
    Result,
    RunConfig,
    check_reader,
    interleave,
    latency_round,
    pg_url,
)
from bench.env import recreate_pg_database, vacuum_analyze_pg
from bench.peers import LangChainPostgresReader, LangChainSQLReader

LC_SQL_TABLE = "lc_message_store"
LCPG_TABLE = "lcpg_read"
SCAN_NOTE = (
    "reads every message of the session; its table has no index on session_id, so "
    "each read scans all {rows:,} rows"
)
LCPG_NOTE = "reads every message of the session (index on session_id, no LIMIT)"
TRIM_NOTE = "last 50 of .messages, then trim_messages(max_tokens=4000, approximate counter)"


@dataclass(frozen=True)
class ReadCase:
    group: str
    ident: str
    subject: str
    reader: Reader
    scan: bool = False
    note: str = ""


@dataclass
class Loaded:
    """What the read phase loaded: parloir's store (if any) and the floor's conversation ids."""

    backend: str
    parloir: parloir_adapter.ParloirLoad | None
    raw_ids: list[Any]
    sqlite_dir: Path | None
    load_results: list[Result]


def load(backend: str, cfg: RunConfig, parloir: bool) -> Loaded:
    """Fill parloir (through its API), the raw floor table and the peers' tables."""
    print(f"\n== loading {cfg.messages:,} messages on {backend} ==", flush=True)
    results: list[Result] = []
    store = None
    directory: Path | None = None
    if backend == "sqlite":
        directory = cfg.workdir / "read"
        directory.mkdir(parents=True, exist_ok=True)
    else:
        recreate_pg_database()
    if parloir:
        url = f"sqlite:///{directory / 'parloir_read.db'}" if directory else pg_url()
        store = parloir_adapter.ParloirLoad(url, cfg, f"parloir append_messages ({backend})")
        results.append(_load_result(backend, cfg, store.seconds))
    if directory:
        raw_ids = raw_read.load_sqlite(directory / "raw_read.db", cfg)
        peers_load.load_sql_sqlite(directory / "lc_read.db", LC_SQL_TABLE, cfg)
    else:
        raw_ids = raw_read.load_postgres(cfg)
        peers_load.load_sql_postgres(LC_SQL_TABLE, cfg)
        peers_load.load_langchain_postgres(LCPG_TABLE, cfg)
        vacuum_analyze_pg()
    return Loaded(backend, store, raw_ids, directory, results)


def _load_result(backend: str, cfg: RunConfig, seconds: float) -> Result:
    note = (
        f"{cfg.conversations:,} x (get_or_create_conversation + append_messages of "
        f"{cfg.per_conversation}) into an empty database, one run ({seconds:.0f} s)"
    )
    return Result(
        "L",
        backend,
        "parloir_load",
        "parloir load through the API",
        "messages/s",
        True,
        rounds=[cfg.messages / seconds],
        ops_per_round=cfg.messages,
        note=note,
    )


def read_cases(loaded: Loaded, cfg: RunConfig) -> list[ReadCase]:
    keys = range(cfg.conversations)
    long_keys = range(cfg.conversations, cfg.conversations + cfg.long_sessions)
    per = cfg.per_conversation
    cases: list[ReadCase] = []
    if loaded.parloir:
        cases += [
            ReadCase(
                "C",
                "parloir",
                "parloir last_messages(limit=50)",
                parloir_adapter.ParloirReader(loaded.parloir, keys, min(per, LAST_N)),
            ),
            ReadCase(
                "D",
                "parloir",
                "parloir context(max_messages=50, max_tokens=4000)",
                parloir_adapter.ParloirReader(loaded.parloir, keys, 0, context=True),
            ),
        ]
    path = loaded.sqlite_dir / "raw_read.db" if loaded.sqlite_dir else None
    floor = raw_read.RawReader(loaded.backend, loaded.raw_ids, keys, min(per, LAST_N), path=path)
    trim = raw_read.RawReader(loaded.backend, loaded.raw_ids, keys, 0, path=path, context=True)
    cases += [
        ReadCase(
            "C", "raw", "raw SQL, last 50 by (conversation_id, seq) index", floor, note=floor.note
        ),
        ReadCase("D", "raw", "raw SQL last 50 + Python token trim (chars/4)", trim),
    ]
    return cases + _langchain_cases(loaded, cfg, keys, long_keys)


def _langchain_cases(
    loaded: Loaded, cfg: RunConfig, keys: range, long_keys: range
) -> list[ReadCase]:
    per = cfg.per_conversation
    if loaded.sqlite_dir:
        conn = f"sqlite:///{loaded.sqlite_dir / 'lc_read.db'}"
    else:
        conn = pg_url(driver="psycopg")
    rows = peers_load.total_rows(cfg)
    scan = SCAN_NOTE.format(rows=rows)
    name = "LangChain SQLChatMessageHistory.messages"
    lc_cases = [
        ReadCase(
            "C",
            "lc_sql_50",
            f"{name}, {per}-message sessions",
            LangChainSQLReader("lc", conn, LC_SQL_TABLE, keys, per),
            True,
            scan,
        ),
        ReadCase(
            "C",
            "lc_sql_100",
            f"{name}, 100-message sessions",
            LangChainSQLReader("lc", conn, LC_SQL_TABLE, long_keys, 100),
            True,
            scan,
        ),
        ReadCase(
            "D",
            "lc_sql",
            f"{name} + trim_messages",
            LangChainSQLReader("lc", conn, LC_SQL_TABLE, keys, 0, context=True),
            True,
            f"{TRIM_NOTE}; {scan}",
        ),
    ]
    if loaded.backend != "postgresql":
        return lc_cases
    pg = "langchain-postgres get_messages()"
    return [
        *lc_cases,
        ReadCase(
            "C",
            "lcpg_50",
            f"{pg}, {per}-message sessions",
            LangChainPostgresReader("lcpg", keys, per, LCPG_TABLE),
            note=LCPG_NOTE,
        ),
        ReadCase(
            "C",
            "lcpg_100",
            f"{pg}, 100-message sessions",
            LangChainPostgresReader("lcpg", long_keys, 100, LCPG_TABLE),
            note=LCPG_NOTE,
        ),
        ReadCase(
            "D",
            "lcpg",
            f"{pg} + trim_messages",
            LangChainPostgresReader("lcpg", keys, 0, LCPG_TABLE, context=True),
            note=TRIM_NOTE,
        ),
    ]


def run_reads(cases: list[ReadCase], backend: str, cfg: RunConfig) -> list[Result]:
    results: dict[int, Result] = {}
    for case in cases:
        check_reader(case.reader)  # also the warm-up read
        results[id(case)] = Result(
            case.group, backend, case.ident, case.subject, "ms", False, note=case.note
        )
    for group in ("C", "D"):
        members = [case for case in cases if case.group == group]
        interleave(members, cfg.rounds, _round_runner(results, cfg), f"{group} {backend}")
    return list(results.values())


def _round_runner(results: dict[int, Result], cfg: RunConfig) -> Callable[[ReadCase, int], None]:
    def one_round(case: ReadCase, number: int) -> None:
        count = cfg.scan_reads if case.scan else cfg.reads
        rng = random.Random(f"{case.ident}-{number}")
        keys = rng.choices(list(case.reader.keys), k=count)
        samples = latency_round(case.reader, keys)
        result = results[id(case)]
        result.samples.extend(samples)
        result.rounds.append(statistics.median(samples))
        result.ops_per_round = count

    return one_round


def read_phase(backend: str, cfg: RunConfig, parloir: bool) -> list[Result]:
    loaded = load(backend, cfg, parloir)
    cases = read_cases(loaded, cfg)
    print(f"\n== C/D reads on {backend} ==", flush=True)
    try:
        return loaded.load_results + run_reads(cases, backend, cfg)
    finally:
        for case in cases:
            closer = getattr(case.reader, "close", None)
            if closer:
                closer()
        if loaded.parloir:
            loaded.parloir.close()
