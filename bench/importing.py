"""``python -m bench.importing``: import and export speed, and peak memory.

Builds two SQLite sources: the legacy question/response table (layout 004: each row is a
conversation of two messages) and the Telegram bot tables (layout 000: messages with
``openai_*`` columns, half of them making an LLM call). Each is imported into a fresh parloir
SQLite file in a child process, which reports its time and its peak RSS
(``resource.getrusage``); the imported database is then exported to JSON lines, and backed up
(``parloir backup``'s one-step online backup), each in a child process too. Results go to
``bench/results/importing.json`` and, as a markdown section, to standard output
(``--markdown FILE`` writes it to a file); a run of 1,000,000 rows or more also puts the
section in docs/benchmarks.md.

    .venv/bin/python -m bench.importing --quick     # 20,000 rows per source
    .venv/bin/python -m bench.importing             # 1,000,000 rows per source
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
JSON_PATH = ROOT / "bench" / "results" / "importing.json"
GOAL_ROWS_PER_S = 20_000
GOAL_RSS_MB = 300


def make_legacy(path: Path, rows: int) -> None:
    """The 004 table: ``rows`` conversations, one in ten with an id that is not a UUID."""
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE conversations (id TEXT PRIMARY KEY, session_id TEXT, user_id TEXT, "
        "question TEXT, response TEXT, preview TEXT, created_at TIMESTAMP)"
    )

    def generate() -> Any:
        for i in range(rows):
            cid = f"legacy-{i}" if i % 10 == 0 else f"{i:08x}-0000-4000-8000-{i:012x}"
            yield (
                cid,
                f"s{i % 997}",
                f"u{i % 5000}",
                f"Question {i}: how do I reset my password on the mobile app?",
                f"Answer {i}: open Settings, then Account, then tap Reset password. " * 2,
                f"Question {i}",
                f"2025-10-01 00:00:00.{i % 1_000_000:06d}",
            )

    db.executemany("INSERT INTO conversations VALUES (?, ?, ?, ?, ?, ?, ?)", generate())
    db.commit()
    db.close()


def make_telegram(path: Path, rows: int) -> None:
    """The 000 tables: ``rows`` messages over ``rows / 50`` chats, in and out alternating."""
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE telegram_conversations (id INTEGER PRIMARY KEY, telegram_chat_id BIGINT "
        "UNIQUE NOT NULL, telegram_user_id BIGINT, is_active BOOLEAN DEFAULT 1, "
        "created_at TIMESTAMP, updated_at TIMESTAMP);"
        "CREATE TABLE telegram_messages (id INTEGER PRIMARY KEY, conversation_id BIGINT, "
        "telegram_update_id BIGINT UNIQUE, telegram_message_id BIGINT, direction VARCHAR(10), "
        "text TEXT, text_length INTEGER, is_command BOOLEAN, command_name VARCHAR(50), "
        "openai_used BOOLEAN, openai_model VARCHAR(50), openai_tokens_used INTEGER, "
        "openai_latency_ms INTEGER, error_type VARCHAR(50), error_message TEXT, "
        "created_at TIMESTAMP);"
        "CREATE INDEX idx_telegram_messages_conversation_id ON telegram_messages(conversation_id);"
    )
    chats = max(1, rows // 50)
    db.executemany(
        "INSERT INTO telegram_conversations VALUES (?, ?, ?, 1, '2025-01-01', '2025-01-01')",
        ((c + 1, 10_000 + c, 50_000 + c) for c in range(chats)),
    )

    def generate() -> Any:
        for i in range(rows):
            chat, turn = divmod(i, 50)
            out = turn % 2
            yield (
                i + 1,
                chat % chats + 1,
                None if out else 1_000_000 + i,
                i,
                "out" if out else "in",
                f"Message {i} in chat {chat}: " + ("Sure, here is how." if out else "/help me"),
                out,
                "gpt-4o-mini" if out else None,
                180 if out else None,
                700 if out else None,
                f"2025-01-01 00:00:00.{i % 1_000_000:06d}",
            )

    db.executemany(
        "INSERT INTO telegram_messages (id, conversation_id, telegram_update_id, "
        "telegram_message_id, direction, text, openai_used, openai_model, openai_tokens_used, "
        "openai_latency_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        generate(),
    )
    db.commit()
    db.close()


def child_import(source: str, target: str) -> dict[str, Any]:
    from parloir import Store

    with Store.open(f"sqlite:///{target}") as store:
        started = time.perf_counter()
        report = store.import_source(source)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "imported": dict(report.imported), "rss_mb": _peak_mb()}


def child_export(target: str) -> dict[str, Any]:
    from parloir import Store

    messages = 0
    with Store.open(f"sqlite:///{target}") as store, open("/dev/null", "w") as sink:
        started = time.perf_counter()
        for line in store.export_conversations(page_size=500):
            messages += len(line["messages"])
            sink.write(json.dumps(line, ensure_ascii=False) + "\n")
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "messages": messages, "rss_mb": _peak_mb()}


def child_backup(target: str, directory: str) -> dict[str, Any]:
    from parloir import Settings
    from parloir.ops.backup import backup

    started = time.perf_counter()
    made = backup(Settings(database_url=f"sqlite:///{target}"), Path(directory), keep=1)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "bytes": made.size, "rss_mb": _peak_mb()}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _in_child(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.importing", "--child", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(name: str, rows: int, workdir: Path) -> dict[str, Any]:
    source = workdir / f"{name}-source.db"
    target = workdir / f"{name}-parloir.db"
    (make_legacy if name == "legacy" else make_telegram)(source, rows)
    imported = _in_child("import", str(source), str(target))
    exported = _in_child("export", str(target))
    backed_up = _in_child("backup", str(target), str(workdir / f"{name}-backups"))
    messages = imported["imported"].get("messages", 0)
    return {
        "layout": name,
        "source_rows": rows,
        "import_seconds": round(imported["seconds"], 2),
        "imported": imported["imported"],
        "import_rows_per_s": round(rows / imported["seconds"]),
        "import_messages_per_s": round(messages / imported["seconds"]),
        "import_peak_rss_mb": round(imported["rss_mb"], 1),
        "export_messages_per_s": round(exported["messages"] / exported["seconds"]),
        "export_peak_rss_mb": round(exported["rss_mb"], 1),
        "backup_seconds": round(backed_up["seconds"], 2),
        "backup_mb": round(backed_up["bytes"] / 1e6, 1),
    }


def markdown(results: list[dict[str, Any]], quick: bool) -> str:
    """The benchmark's section for docs/benchmarks.md."""
    lines = [
        "## Import and export",
        "",
        "SQLite source into a SQLite parloir file, one child process per run (peak RSS of "
        f"that process). Goal: at least {GOAL_ROWS_PER_S:,} messages/s imported, peak RSS "
        f"under {GOAL_RSS_MB} MB whatever the size."
        + (" **Quick run: sizes reduced, figures indicative only.**" if quick else ""),
        "",
        "| layout | source rows | import s | messages/s | rows/s | peak RSS MB | "
        "export messages/s | export peak RSS MB | backup s (file MB) | goal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        ok = r["import_messages_per_s"] >= GOAL_ROWS_PER_S and r["import_peak_rss_mb"] < GOAL_RSS_MB
        lines.append(
            f"| {r['layout']} | {r['source_rows']:,} | {r['import_seconds']} | "
            f"{r['import_messages_per_s']:,} | {r['import_rows_per_s']:,} | "
            f"{r['import_peak_rss_mb']} | {r['export_messages_per_s']:,} | "
            f"{r['export_peak_rss_mb']} | {r['backup_seconds']} ({r['backup_mb']:,}) | "
            f"{'PASS' if ok else 'MISS'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.importing", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20,000 rows per source")
    parser.add_argument("--rows", type=int, help="rows per source (default 1,000,000)")
    parser.add_argument("--layouts", default="legacy,telegram", help="legacy,telegram")
    parser.add_argument("--markdown", type=Path, help="write the markdown section here")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        children = {"import": child_import, "export": child_export, "backup": child_backup}
        result = children[kind](*rest)
        print(json.dumps(result))
        return 0
    rows = args.rows or (20_000 if args.quick else 1_000_000)
    with tempfile.TemporaryDirectory(prefix="parloir-import-bench-") as tmp:
        results = [measure(name, rows, Path(tmp)) for name in args.layouts.split(",")]
    JSON_PATH.parent.mkdir(parents=True, exist_ok=True)
    JSON_PATH.write_text(json.dumps({"quick": args.quick, "results": results}, indent=2))
    small = args.quick or rows < 1_000_000
    text = markdown(results, small)
    if args.markdown:
        args.markdown.write_text(text)
    print(text)
    from bench import sections  # here: the import children stay light

    sections.record("importing", text, quick=small)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
