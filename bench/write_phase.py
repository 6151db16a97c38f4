"""Measurements A (single appends, one per transaction) and B (batches of 1,000)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import corpus, parloir_adapter
from bench.common import BATCH_SIZE, Result, RunConfig, Writer, interleave, pg_url, rate_round
from bench.peers import LangChainPostgresWriter, LangChainSQLWriter, sqlite_wal_full_engine
from bench.raw import PgWriter, SqliteWriter

WARMUP_SINGLE = 20
CHAT = "chat table + (session_id, id) index"
SAME = "parloir's indexes"
FULL = "parloir's indexes and full-text index"
SHIPPED_NOTE = (
    "SQLAlchemy's default SQLite engine, rollback journal (journal_mode=DELETE), "
    "SQLite's default synchronous=FULL; one engine per history, made outside the timed loop"
)
WAL_NOTE = "same, with PRAGMA journal_mode=WAL + synchronous=FULL set by an engine connect event"
SAME_NOTE = (
    "same columns, check constraints and indexes (unique, partial unique, secondary) as "
    "parloir's messages table; no foreign keys"
)

RAW_NOTE = "WAL + synchronous=FULL; BEGIN IMMEDIATE ... COMMIT around every call"
RAW_SAME = f"{RAW_NOTE}; {SAME_NOTE}"
FULL_NOTE = (
    f"{SAME_NOTE}; plus parloir's full-text index, built as parloir builds it (FTS5 external "
    "content + insert trigger on SQLite; tsvector set by a trigger + GIN on PostgreSQL)"
)
RAW_FULL = f"{RAW_NOTE}; {FULL_NOTE}"


@dataclass(frozen=True)
class Case:
    """One subject of one measurement group: who appends, and singly or in batches."""

    group: str
    ident: str
    subject: str
    writer: Writer
    batch: bool
    note: str = ""


def _parloir(url: str, available: bool) -> list[Case]:
    if not available:
        return []
    writer = parloir_adapter.ParloirWriter("parloir", url, note="")
    return [
        Case("A", "parloir", "parloir append_message()", writer, False),
        Case("B", "parloir", "parloir append_messages(1,000)", writer, True),
    ]


def sqlite_cases(tmp: Path, parloir: bool) -> list[Case]:
    shipped = LangChainSQLWriter("lc", f"sqlite:///{tmp / 'lc_shipped.db'}", "message_store")
    wal = LangChainSQLWriter("lcwal", sqlite_wal_full_engine(tmp / "lc_wal.db"), "message_store")
    chat = SqliteWriter(tmp / "raw_chat.db", "raw_chat", "chat")
    same = SqliteWriter(tmp / "raw_same.db", "raw_same", "messages")
    full = SqliteWriter(tmp / "raw_full.db", "raw_full", "messages", search=True)
    lc = "LangChain SQLChatMessageHistory"
    return [
        *_parloir(f"sqlite:///{tmp / 'parloir_write.db'}", parloir),
        Case("A", "lc_shipped", f"{lc}.add_message(), as shipped", shipped, False, SHIPPED_NOTE),
        Case("A", "lc_wal", f"{lc}.add_message(), WAL + FULL", wal, False, WAL_NOTE),
        Case("A", "raw_chat", f"raw sqlite3, 1 row/commit, {CHAT}", chat, False, RAW_NOTE),
        Case("A", "raw_same", f"raw sqlite3, 1 row/commit, {SAME}", same, False, RAW_SAME),
        Case("A", "raw_full", f"raw sqlite3, 1 row/commit, {FULL}", full, False, RAW_FULL),
        Case(
            "B", "lc_shipped", f"{lc}.add_messages(1,000), as shipped", shipped, True, SHIPPED_NOTE
        ),
        Case("B", "raw_chat", f"raw sqlite3 executemany, {CHAT}", chat, True, RAW_NOTE),
        Case("B", "raw_same", f"raw sqlite3 executemany, {SAME}", same, True, RAW_SAME),
        Case("B", "raw_full", f"raw sqlite3 executemany, {FULL}", full, True, RAW_FULL),
    ]


def postgres_cases(parloir: bool) -> list[Case]:
    lc = LangChainSQLWriter("lc", pg_url(driver="psycopg"), "message_store")
    lcpg = LangChainPostgresWriter("lcpg", "lcpg_write")
    chat = PgWriter("chat", "chat")
    chat_copy = PgWriter("chat_copy", "chat", copy=True)
    same = PgWriter("same", "messages")
    same_copy = PgWriter("same_copy", "messages", copy=True)
    full = PgWriter("full", "messages", search=True)
    sql = "LangChain SQLChatMessageHistory"
    pg = "langchain-postgres PostgresChatMessageHistory"
    return [
        *_parloir(pg_url(), parloir),
        Case("A", "lc_sql", f"{sql}.add_message()", lc, False, "postgresql+psycopg:// URL"),
        Case("A", "lcpg", f"{pg}.add_messages([m])", lcpg, False),
        Case("A", "raw_chat", f"raw psycopg, 1 row/transaction, {CHAT}", chat, False),
        Case("A", "raw_same", f"raw psycopg, 1 row/transaction, {SAME}", same, False, SAME_NOTE),
        Case("A", "raw_full", f"raw psycopg, 1 row/transaction, {FULL}", full, False, FULL_NOTE),
        Case("B", "lc_sql", f"{sql}.add_messages(1,000)", lc, True),
        Case("B", "lcpg", f"{pg}.add_messages(1,000)", lcpg, True),
        Case("B", "raw_chat", f"raw psycopg executemany, {CHAT}", chat, True),
        Case("B", "raw_chat_copy", f"raw psycopg COPY, {CHAT}", chat_copy, True),
        Case("B", "raw_same", f"raw psycopg executemany, {SAME}", same, True, SAME_NOTE),
        Case("B", "raw_same_copy", f"raw psycopg COPY, {SAME}", same_copy, True, SAME_NOTE),
        Case("B", "raw_full", f"raw psycopg executemany, {FULL}", full, True, FULL_NOTE),
    ]


def _warm_up(case: Case) -> None:
    case.writer.start_session(-1)
    if case.batch:
        case.writer.append_batch(corpus.texts(BATCH_SIZE))
    else:
        for text in corpus.texts(WARMUP_SINGLE):
            case.writer.append_one(text)


def run_cases(cases: list[Case], backend: str, cfg: RunConfig) -> list[Result]:
    """Warm every case up, then run the rounds of A and of B, interleaved across subjects."""
    results: dict[int, Result] = {}
    for case in cases:
        _warm_up(case)
        metric = "messages/s" if case.batch else "appends/s"
        results[id(case)] = Result(
            case.group, backend, case.ident, case.subject, metric, True, note=case.note
        )
    for group, count in (("A", cfg.single_ops), ("B", cfg.batches * BATCH_SIZE)):
        members = [case for case in cases if case.group == group]
        interleave(members, cfg.rounds, _round_runner(results, count), f"{group} {backend}")
    for result in results.values():
        result.ops_per_round = cfg.single_ops if result.group == "A" else cfg.batches * BATCH_SIZE
    return list(results.values())


def _round_runner(results: dict[int, Result], count: int) -> Callable[[Case, int], None]:
    def one_round(case: Case, number: int) -> None:
        case.writer.start_session(number)
        texts = corpus.texts(count, offset=number * count)
        results[id(case)].rounds.append(rate_round(case.writer, texts, batch=case.batch))

    return one_round


def write_phase(backend: str, cfg: RunConfig, parloir: bool) -> list[Result]:
    print(f"\n== A/B appends on {backend} ==", flush=True)
    tmp = cfg.workdir / "write"
    tmp.mkdir(parents=True, exist_ok=True)
    cases = sqlite_cases(tmp, parloir) if backend == "sqlite" else postgres_cases(parloir)
    try:
        results = run_cases(cases, backend, cfg)
        if parloir and backend == "sqlite":
            note = parloir_adapter.sqlite_durability(tmp / "parloir_write.db")
            for result in results:
                if result.ident == "parloir":
                    result.note = note
        return results
    finally:
        for writer in {id(c.writer): c.writer for c in cases}.values():
            writer.close()
