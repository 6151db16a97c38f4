"""Consistent backups, pruning, and verified restores.

A backup is a file plus a manifest beside it (``<file>.json``) holding its kind, size, SHA-256,
schema revision and the row count and digest of every table *as of the snapshot*.

- SQLite: the online backup API in one step (``backup(pages=-1)``), which reads one consistent
  snapshot while the server keeps writing (an incremental backup would restart on every write).
- PostgreSQL: ``pg_dump --format=custom`` on a snapshot exported by a REPEATABLE READ
  transaction in which the manifest's counts are taken, so the two describe the same instant.
  The role must see every tenant (superuser or ``BYPASSRLS``): pg_dump refuses, loudly, a table
  whose rows row-level security would hide.

``restore`` refuses a backup whose checksum or manifest is wrong before touching anything,
restores only into an empty database, and checks every table against the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from parloir.config import Settings
from parloir.errors import InvalidInputError, ParloirError
from parloir.ops.digest import digest_tables

__all__ = [
    "BackupError",
    "BackupResult",
    "RestoreResult",
    "backup",
    "libpq_target",
    "manifest_path",
    "prune",
    "run_tool",
    "verify",
]

FORMAT = 1
_SUFFIX = {"sqlite": ".db", "postgresql": ".dump"}


class BackupError(ParloirError):
    """A backup or restore could not be made, or a backup file is not sound."""


@dataclass(frozen=True)
class BackupResult:
    path: str
    kind: str
    size: int
    sha256: str
    revision: str | None
    created_at: str
    tables: dict[str, dict[str, Any]]
    removed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RestoreResult:
    path: str
    kind: str
    revision: str | None
    tables: int
    rows: int
    erasures_replayed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _kind(url: URL) -> str:
    return "sqlite" if url.get_backend_name() == "sqlite" else "postgresql"


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def backup(
    settings: Settings,
    directory: Path,
    *,
    keep: int = 7,
    now: Callable[[], datetime] | None = None,
) -> BackupResult:
    """Back up the database of ``settings`` into ``directory`` and keep the newest ``keep``."""
    if keep < 1:
        raise InvalidInputError.single("keep", "minimum", "must be at least 1")
    url = make_url(settings.database_url)
    kind = _kind(url)
    created = (now or (lambda: datetime.now(UTC)))()
    directory.mkdir(parents=True, exist_ok=True)
    stamp = created.strftime("%Y%m%dT%H%M%S%fZ")
    final = directory / f"parloir-{stamp}{_SUFFIX[kind]}"
    partial = final.with_name(final.name + ".partial")
    try:
        tables = _sqlite_backup(url, partial) if kind == "sqlite" else _pg_backup(url, partial)
        result = BackupResult(
            path=str(final),
            kind=kind,
            size=partial.stat().st_size,
            sha256=_sha256(partial),
            revision=_revision(tables),
            created_at=created.isoformat(),
            tables=tables,
        )
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    _write_manifest(result)
    removed = prune(directory, keep=keep)
    return BackupResult(**{**asdict(result), "removed": removed})


def _revision(tables: dict[str, dict[str, Any]]) -> str | None:
    return tables.pop("_revision", {}).get("value")


def _write_manifest(result: BackupResult) -> None:
    data = {"format": FORMAT, **asdict(result)}
    data.pop("removed")
    data["file"] = Path(result.path).name
    target = manifest_path(Path(result.path))
    temporary = target.with_name(target.name + ".partial")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(temporary, target)


def _sqlite_backup(url: URL, target: Path) -> dict[str, dict[str, Any]]:
    source_path = url.database
    if not source_path or source_path == ":memory:":
        raise BackupError("only a SQLite database file can be backed up")
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    destination = sqlite3.connect(target)
    try:
        source.backup(destination, pages=-1)  # one step: one consistent snapshot
    finally:
        destination.close()
        source.close()
    return _sqlite_digest(target)


def _sqlite_digest(path: Path) -> dict[str, dict[str, Any]]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            return _with_revision(digest_tables(connection), connection)
    finally:
        engine.dispose()


def _with_revision(tables: dict[str, dict[str, Any]], connection: Any) -> dict[str, Any]:
    revision = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return {**tables, "_revision": {"value": revision}}


def libpq_target(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and an environment that carries it."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def run_tool(arguments: list[str], env: dict[str, str]) -> None:
    tool = arguments[0]
    if shutil.which(tool) is None:
        raise BackupError(f"{tool} is not installed: install the PostgreSQL client tools")
    completed = subprocess.run(arguments, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise BackupError(f"{tool} failed: {completed.stderr.strip() or completed.returncode}")


_SEES_EVERY_ROW = (
    "SELECT current_user, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
)


def _require_every_tenant(connection: Any) -> None:
    """Refuse a role that row-level security confines (the application role, or a table
    owner, which FORCE binds too): its dump would miss rows, or pg_dump would stop midway."""
    role, sees_all = connection.execute(text(_SEES_EVERY_ROW)).one()
    connection.rollback()  # the snapshot's transaction must be the next one
    if not sees_all:
        raise BackupError(
            f"role {role!r} cannot see every tenant's rows (row-level security): back up "
            "as a superuser or as a role with BYPASSRLS"
        )


def _pg_backup(url: URL, target: Path) -> dict[str, dict[str, Any]]:
    libpq, env = libpq_target(url)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            _require_every_tenant(connection)
            connection.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            tables = _with_revision(digest_tables(connection), connection)
            run_tool(
                [
                    "pg_dump",
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    "--file",
                    str(target),
                    "--dbname",
                    libpq,
                ],
                env,
            )
            connection.rollback()
    finally:
        engine.dispose()
    return tables


def verify(path: Path) -> dict[str, Any]:
    """Return the manifest of the backup at ``path`` if the file matches it, else raise."""
    manifest_file = manifest_path(path)
    if not path.is_file():
        raise BackupError(f"no backup file at {path}")
    try:
        manifest = json.loads(manifest_file.read_text())
    except (OSError, ValueError) as error:
        raise BackupError(f"the manifest {manifest_file} is missing or unreadable") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{manifest_file} is not a parloir backup manifest")
    if manifest.get("file") != path.name or manifest.get("size") != path.stat().st_size:
        raise BackupError(f"{path} does not match its manifest (name or size)")
    if manifest.get("sha256") != _sha256(path):
        raise BackupError(f"{path} is corrupt: its SHA-256 differs from the manifest")
    return manifest


def prune(directory: Path, *, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` verified backups; unverifiable files are not counted."""
    sound: list[tuple[str, Path]] = []
    for candidate in directory.glob("parloir-*.json"):
        backup_file = candidate.with_name(candidate.name.removesuffix(".json"))
        try:
            manifest = verify(backup_file)
        except BackupError:
            continue
        sound.append((str(manifest["created_at"]), backup_file))
    sound.sort(reverse=True)
    removed = []
    for _, old in sound[keep:]:
        old.unlink(missing_ok=True)
        manifest_path(old).unlink(missing_ok=True)
        removed.append(str(old))
    return removed
