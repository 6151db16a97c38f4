"""Restoring a backup made by :func:`parloir.ops.backup.backup` into an empty database.

Nothing is touched before the backup proves sound (manifest and checksum). SQLite: the file is
copied to a temporary path beside the target, checked there (integrity, foreign keys, every
table's rows against the manifest), and only then renamed into place. PostgreSQL: the target
database must hold no table; ``pg_restore`` runs in one transaction and the restored tables are
checked against the manifest.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import URL, make_url

from parloir.config import Settings
from parloir.ops.backup import BackupError, RestoreResult, libpq_target, run_tool, verify
from parloir.ops.digest import digest_tables

__all__ = ["restore"]


def restore(settings: Settings, path: Path) -> RestoreResult:
    """Restore the backup at ``path`` into the (empty) database of ``settings``."""
    manifest = verify(path)
    url = make_url(settings.database_url)
    kind = "sqlite" if url.get_backend_name() == "sqlite" else "postgresql"
    if manifest["kind"] != kind:
        raise BackupError(f"{path} is a {manifest['kind']} backup; the target is {kind}")
    if kind == "sqlite":
        _restore_sqlite(url, path, manifest)
    else:
        _restore_postgres(url, path, manifest)
    replayed = _replay_erasures(settings)
    tables = manifest["tables"]
    return RestoreResult(
        path=str(path),
        kind=kind,
        revision=manifest.get("revision"),
        tables=len(tables),
        rows=sum(int(t["rows"]) for t in tables.values()),
        erasures_replayed=replayed,
    )


def _replay_erasures(settings: Settings) -> int:
    """Erase again whoever was erased after the backup was taken (the journal file outlives
    the database), upgrading the schema first if the backup is older than this code."""
    from parloir.store import Store

    with Store.open(settings=settings, migrate=True) as store:
        return store.replay_erasures()


def _compare(found: dict[str, Any], manifest: dict[str, Any]) -> None:
    expected = manifest["tables"]
    found.pop("_revision", None)
    differing = sorted(
        name for name in set(found) | set(expected) if found.get(name) != expected.get(name)
    )
    if differing:
        raise BackupError(f"the restored data differs from the manifest in: {', '.join(differing)}")


def _restore_sqlite(url: URL, path: Path, manifest: dict[str, Any]) -> None:
    target = Path(url.database or "")
    if not url.database or url.database == ":memory:":
        raise BackupError("restore needs a SQLite database file as its target")
    if target.exists() and _sqlite_has_tables(target):
        raise BackupError(f"{target} already holds data: restore only into an empty database")
    temporary = target.with_name(target.name + ".restoring")
    shutil.copyfile(path, temporary)
    try:
        _check_sqlite(temporary, manifest)
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _sqlite_has_tables(path: Path) -> bool:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        count = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        return bool(count > 0)
    except sqlite3.DatabaseError:
        return True  # not a database we may overwrite
    finally:
        connection.close()


def _check_sqlite(path: Path, manifest: dict[str, Any]) -> None:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            integrity = connection.exec_driver_sql("PRAGMA integrity_check").fetchall()
            if [tuple(row) for row in integrity] != [("ok",)]:
                raise BackupError(f"integrity_check failed on the restored copy: {integrity[:3]}")
            if connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall():
                raise BackupError("foreign_key_check failed on the restored copy")
            _compare(digest_tables(connection), manifest)
    finally:
        engine.dispose()


def _restore_postgres(url: URL, path: Path, manifest: dict[str, Any]) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if inspect(connection).get_table_names():
                raise BackupError(
                    "the target database already holds tables: restore into an empty one"
                )
        libpq, env = libpq_target(url)
        run_tool(
            [
                "pg_restore",
                "--exit-on-error",
                "--single-transaction",
                "--no-owner",
                "--dbname",
                libpq,
                str(path),
            ],
            env,
        )
        with engine.connect() as connection:
            _compare(digest_tables(connection), manifest)
    finally:
        engine.dispose()
