"""The machine, the versions and the databases of a run: recorded, and (re)created."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg

from bench.common import PG_DATABASE, pg_url

ROOT = Path(__file__).resolve().parent.parent
PG_SETTINGS = (
    "fsync",
    "synchronous_commit",
    "wal_sync_method",
    "full_page_writes",
    "shared_buffers",
)


def recreate_pg_database(name: str = PG_DATABASE) -> None:
    """Drop and create the benchmark database (loopback, trust auth)."""
    with psycopg.connect(pg_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def pg_server_info() -> dict[str, str]:
    with psycopg.connect(pg_url("postgres"), autocommit=True) as conn:
        info = {"server_version": str(conn.execute("SHOW server_version").fetchone()[0])}  # type: ignore[index]
        for setting in PG_SETTINGS:
            info[setting] = str(conn.execute(f"SHOW {setting}").fetchone()[0])  # type: ignore[index]
    return info


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def parloir_version() -> str:
    """The distribution's version (else pyproject.toml's) and the git state of this tree."""
    version = _version("parloir")
    if version == "not installed":
        with (ROOT / "pyproject.toml").open("rb") as handle:
            version = tomllib.load(handle)["project"]["version"]
    state = _git_state()
    return f"{version} ({state})" if state else version


def _git_state() -> str:
    """``commit abc1234`` (plus ``+ uncommitted changes`` in parloir/), or nothing."""
    try:
        commit = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--", "parloir")
    except (OSError, subprocess.CalledProcessError):
        return ""
    return f"commit {commit}" + (" + uncommitted changes" if dirty else "")


def _git(*args: str) -> str:
    out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": pg_server_info()["server_version"],
        "sqlalchemy": _version("sqlalchemy"),
        "psycopg": _version("psycopg"),
        "langchain-community": _version("langchain-community"),
        "langchain-postgres": _version("langchain-postgres"),
        "langchain-core": _version("langchain-core"),
        "parloir": parloir_version(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(_memory_gib(), 1),
        "cpu_model": _cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python_executable": sys.executable,
    }


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def settle() -> None:
    """Flush dirty pages (earlier phases' files) so they do not slow this phase's fsyncs."""
    os.sync()


def vacuum_analyze_pg() -> None:
    """What autovacuum does after a bulk load, done now so every table starts alike."""
    with psycopg.connect(pg_url(), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
