"""``python -m bench``: measure parloir against LangChain's stores and raw drivers.

Runs every measurement on SQLite (temporary files) and PostgreSQL (database
``parloir_bench`` on 127.0.0.1, dropped and recreated), then writes docs/benchmarks.md and
bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from time import perf_counter
from typing import Any

from bench import env, parloir_adapter, report
from bench.common import Result, RunConfig
from bench.goals import evaluate
from bench.peers_load import LONG_SESSION
from bench.raw import schema_drift
from bench.read_phase import read_phase
from bench.write_phase import write_phase

PROFILES: dict[str, dict[str, int]] = {
    "full": {
        "messages": 1_000_000,
        "conversations": 20_000,
        "rounds": 10,
        "single_ops": 1_000,
        "batches": 3,
        "reads": 200,
        "scan_reads": 10,
        "long_sessions": 100,
    },
    "quick": {
        "messages": 20_000,
        "conversations": 400,
        "rounds": 5,
        "single_ops": 200,
        "batches": 2,
        "reads": 200,
        "scan_reads": 20,
        "long_sessions": 20,
    },
}
MD_PATH = env.ROOT / "docs" / "benchmarks.md"
JSON_PATH = env.ROOT / "bench" / "results" / "latest.json"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a ~2 minute smoke run")
    sizes = PROFILES["full"]
    for name, help_text in (
        ("messages", "messages in the read database (C, D)"),
        ("conversations", "conversations they are spread over"),
        ("rounds", "rounds per measurement (>= 5 recommended)"),
        ("single_ops", "single appends per round (A)"),
        ("batches", "batches of 1,000 per round (B)"),
        ("reads", "indexed reads per round (C, D)"),
        ("scan_reads", "reads per round for peers that scan the whole table"),
        ("long_sessions", f"extra {LONG_SESSION}-message sessions in the LangChain tables"),
    ):
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=int,
            default=None,
            help=f"{help_text} (full: {sizes[name]:,})",
        )
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql"
    )
    parser.add_argument("--no-parloir", action="store_true", help="measure peers and floors only")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=MD_PATH, help="markdown report path")
    parser.add_argument("--json", type=Path, default=JSON_PATH, help="raw results path")
    parser.add_argument("--keep-files", action="store_true", help="keep the SQLite files")
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace, workdir: Path) -> RunConfig:
    sizes = dict(PROFILES["quick" if args.quick else "full"])
    for name in sizes:
        if getattr(args, name) is not None:
            sizes[name] = getattr(args, name)
    if sizes["messages"] % sizes["conversations"]:
        raise SystemExit("--messages must be a multiple of --conversations")
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    if not set(backends) <= {"sqlite", "postgresql"}:
        raise SystemExit("--backends takes sqlite and/or postgresql")
    return RunConfig(quick=args.quick, seed=args.seed, workdir=workdir, backends=backends, **sizes)


def notes(cfg: RunConfig) -> list[str]:
    drift = schema_drift()
    return [
        "LangChain SQLChatMessageHistory as shipped sets no pragmas: SQLAlchemy's default "
        "engine on a SQLite file uses the rollback journal (journal_mode=DELETE) and SQLite's "
        "default synchronous=FULL, so it is durable too; the 'WAL + FULL' row sets WAL through "
        "an engine connect event, to compare like with like.",
        "SQLChatMessageHistory.messages reads every message of a session and its table has no "
        "index on session_id: each read scans the whole table. Its tables hold the same "
        f"{cfg.messages:,} messages as parloir's ({cfg.conversations:,} sessions of "
        f"{cfg.per_conversation}) plus {cfg.long_sessions} sessions of {LONG_SESSION} messages "
        "for the 100-message reads, loaded with raw SQL in LangChain's own table shape and "
        "JSON format.",
        "langchain-postgres get_messages() returns every message of a session (no LIMIT); its "
        "table has an index on session_id. Its 50-message sessions hold exactly 50 messages, "
        "so it returns the same 50 messages as parloir's last_messages(limit=50).",
        "D for LangChain: `.messages`, keep the last 50, then `trim_messages(max_tokens=4000, "
        "token_counter=count_tokens_approximately, strategy='last')`.",
        "parloir's read database is filled through its public API: one "
        "get_or_create_conversation and one append_messages (all messages of the "
        "conversation) per conversation, so each conversation's rows are stored together; "
        "the peers' and the floor's tables are loaded in the same order.",
        "Raw floors with parloir's indexes: "
        + (
            "same columns and indexes as parloir.db.models.Message (checked at run time)"
            if not drift
            else "schema check FAILED: " + "; ".join(drift)
        )
        + "; no foreign keys.",
        "After loading, PostgreSQL gets `VACUUM ANALYZE` (what autovacuum would do after a "
        "bulk load); SQLite files are read as written.",
        "All data fits in RAM: reads are warm-cache figures.",
    ]


def run(args: argparse.Namespace, argv: list[str]) -> tuple[dict[str, Any], list[Result]]:
    workdir = Path(tempfile.mkdtemp(prefix="parloir-bench-"))
    cfg = build_config(args, workdir)
    missing = "disabled by --no-parloir" if args.no_parloir else parloir_adapter.available()
    if missing:
        print(f"warning: parloir is not measured ({missing})", file=sys.stderr)
    started = perf_counter()
    results: list[Result] = []
    try:
        for backend in cfg.backends:  # every append phase before any large load
            env.settle()
            if backend == "postgresql":
                env.recreate_pg_database()
            results += write_phase(backend, cfg, parloir=not missing)
        _drop_files(workdir / "write", args.keep_files)
        for backend in cfg.backends:
            env.settle()
            results += read_phase(backend, cfg, parloir=not missing)
            _drop_files(workdir / "read", args.keep_files)
    finally:
        _drop_files(workdir, args.keep_files)
    record = {
        "date": env.now_utc(),
        "command": "python -m bench" + (" " + shlex.join(argv) if argv else ""),
        "seconds": perf_counter() - started,
        "config": cfg.public(),
        "versions": env.versions(),
        "machine": env.machine(),
        "pg_settings": {k: v for k, v in env.pg_server_info().items() if k != "server_version"},
        "parloir_missing": missing,
        "notes": notes(cfg),
    }
    return record, results


def _drop_files(path: Path, keep: bool) -> None:
    if not keep:
        shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    record, results = run(args, argv)
    report.write(record, results, args.output, args.json)
    print(f"\nwrote {args.output} and {args.json} ({record['seconds'] / 60:.1f} min)")
    for row in evaluate(results):
        print(f"  {row['status']:>4}  {row['goal']}  ({row['detail']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
