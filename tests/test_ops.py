"""parloir doctor, backup and restore, on both databases."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from parloir import NotFoundError, Settings, Store
from parloir.cli import app
from parloir.db.engine import create_engines
from parloir.db.tables import MESSAGES
from parloir.demo import fill_demo
from parloir.ops.backup import BackupError, backup, verify
from parloir.ops.digest import digest_tables
from parloir.ops.doctor import affected_by_wal_reset_bug, diagnose
from parloir.ops.restore import restore


def _digests(url: str) -> dict[str, object]:
    engine = create_engine(Settings(database_url=url).database_url)
    try:
        with engine.connect() as connection:
            return digest_tables(connection)
    finally:
        engine.dispose()


def _statuses(url: str) -> dict[str, str]:
    engines = create_engines(Settings(database_url=url))
    try:
        return {check.name: check.status for check in diagnose(engines).checks}
    finally:
        engines.dispose()


def _execute(url: str, sql: str, **params: object) -> None:
    engine = create_engine(Settings(database_url=url).database_url)
    with engine.begin() as connection:
        connection.execute(text(sql), params)
    engine.dispose()


@pytest.fixture
def filled(database_url: str) -> str:
    with Store.open(database_url) as store:
        fill_demo(store, conversations=12, seed=3)
    return database_url


@pytest.fixture
def empty_target(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same kind as ``database_url``."""
    url = make_url(Settings(database_url=database_url).database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    name = f"parloir_restore_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ((3, 6, 23), False),
        ((3, 7, 0), True),
        ((3, 40, 1), True),
        ((3, 44, 5), True),
        ((3, 44, 6), False),
        ((3, 45, 0), True),
        ((3, 50, 6), True),
        ((3, 50, 7), False),
        ((3, 51, 2), True),
        ((3, 51, 3), False),
    ],
)
def test_wal_reset_bug_versions(version: tuple[int, int, int], affected: bool) -> None:
    assert affected_by_wal_reset_bug(version) is affected


def test_doctor_passes_on_a_sound_database(filled: str) -> None:
    statuses = _statuses(filled)
    assert "fail" not in statuses.values(), statuses
    assert statuses["counters"] == statuses["orphans"] == statuses["schema"] == "ok"


def test_doctor_reports_wrong_counters_and_exits_non_zero(filled: str) -> None:
    _execute(filled, "UPDATE conversations SET message_count = message_count + 1")
    result = CliRunner().invoke(app, ["--database-url", filled, "doctor", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    failed = {c["name"] for c in report["checks"] if c["status"] == "fail"}
    assert failed == {"counters"}


def test_doctor_reports_rows_pointing_at_another_tenant(filled: str) -> None:
    with Store.open(filled) as store:
        other = store.create_tenant(name="Other", slug="other")
    engine = create_engine(Settings(database_url=filled).database_url)
    with engine.begin() as connection:
        first = select(MESSAGES.c.id).order_by(MESSAGES.c.id).limit(1).scalar_subquery()
        connection.execute(
            update(MESSAGES).where(MESSAGES.c.id == first).values(tenant_id=other.id)
        )
    engine.dispose()
    statuses = _statuses(filled)
    assert statuses["orphans"] == "fail"


def test_doctor_reports_a_schema_behind_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    statuses = _statuses(url)
    assert statuses["schema"] == "fail"


def test_doctor_reports_an_unreachable_database() -> None:
    url = "postgresql://nobody@127.0.0.1:1/none"
    assert _statuses(url) == {"connectivity": "fail"}


def test_backup_restore_round_trip_is_identical(
    filled: str, empty_target: str, tmp_path: Path
) -> None:
    made = backup(Settings(database_url=filled), tmp_path / "backups")
    assert verify(Path(made.path))["sha256"] == made.sha256
    result = restore(Settings(database_url=empty_target), Path(made.path))
    assert result.rows == sum(int(t["rows"]) for t in made.tables.values())
    before, after = _digests(filled), _digests(empty_target)
    assert after == before
    assert {name: t["rows"] for name, t in made.tables.items()} == {
        name: t["rows"]
        for name, t in before.items()  # type: ignore[index]
    }
    assert _statuses(empty_target)["counters"] == "ok"


def test_restore_refuses_a_database_that_holds_data(filled: str, tmp_path: Path) -> None:
    made = backup(Settings(database_url=filled), tmp_path / "backups")
    before = _digests(filled)
    with pytest.raises(BackupError, match="already holds"):
        restore(Settings(database_url=filled), Path(made.path))
    assert _digests(filled) == before


@pytest.mark.parametrize("damage", ["flip", "truncate", "no-manifest", "wrong-kind"])
def test_restore_refuses_a_damaged_backup(
    filled: str, empty_target: str, tmp_path: Path, damage: str
) -> None:
    made = backup(Settings(database_url=filled), tmp_path / "backups")
    path = Path(made.path)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(bytes(data[: len(data) // 3]))
    elif damage == "no-manifest":
        Path(made.path + ".json").unlink()
    else:
        manifest = json.loads(Path(made.path + ".json").read_text())
        manifest["kind"] = "postgresql" if manifest["kind"] == "sqlite" else "sqlite"
        Path(made.path + ".json").write_text(json.dumps(manifest))
    with pytest.raises(BackupError):
        restore(Settings(database_url=empty_target), path)
    if empty_target.startswith("sqlite"):
        assert not Path(make_url(empty_target).database or "").exists()
    else:
        assert _statuses(empty_target)["schema"] == "fail"  # still empty


def test_backup_keeps_the_newest_sound_backups(filled: str, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    settings = Settings(database_url=filled)
    made = [backup(settings, folder, keep=2) for _ in range(3)]
    assert made[-1].removed == [made[0].path]
    Path(made[-1].path).write_bytes(b"corrupt")  # a damaged backup never counts
    newest = backup(settings, folder, keep=2)
    kept = sorted(p.name for p in folder.glob("parloir-*") if not p.name.endswith(".json"))
    assert Path(newest.path).name in kept and Path(made[1].path).name in kept
    assert Path(made[-1].path).name in kept  # left for a person to look at, not counted


def test_cli_backup_and_restore(filled: str, empty_target: str, tmp_path: Path) -> None:
    runner = CliRunner()
    folder = tmp_path / "cli-backups"
    made = runner.invoke(
        app, ["--database-url", filled, "backup", "--dir", str(folder), "--keep", "3", "--json"]
    )
    assert made.exit_code == 0, made.output
    path = json.loads(made.stdout)["path"]
    restored = runner.invoke(app, ["--database-url", empty_target, "restore", path, "--json"])
    assert restored.exit_code == 0, restored.output
    assert json.loads(restored.stdout)["rows"] > 0
    again = runner.invoke(app, ["--database-url", empty_target, "restore", path])
    assert isinstance(again.exception, BackupError)
    assert "already holds" in str(again.exception)


@pytest.mark.sqlite
def test_sqlite_backup_completes_while_writes_continue(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    stop = threading.Event()
    with Store.open(url) as store:
        agent = store.create_agent(name="writer")
        conversation = store.get_or_create_conversation(
            agent_id=agent.id, channel="api", external_id="busy"
        )

        def write() -> None:
            while not stop.is_set():
                store.append_message(conversation.id, role="user", content="ping " * 20)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            made = [backup(Settings(database_url=url), tmp_path / "b", keep=5) for _ in range(3)]
        finally:
            stop.set()
            writer.join()
    target = f"sqlite:///{tmp_path / 'snapshot.db'}"
    restore(Settings(database_url=target), Path(made[-1].path))
    statuses = _statuses(target)
    assert statuses["counters"] == statuses["integrity_check"] == "ok"


def test_restore_replays_erasures_made_after_the_backup(
    filled: str, empty_target: str, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.jsonl"
    source = Settings(database_url=filled, erasure_journal=journal)
    made = backup(source, tmp_path / "backups")
    with Store.open(settings=source) as store:
        tenant = store.find_tenant("acme")
        assert tenant is not None
        view = store.for_tenant(tenant.id)
        contact = view.list_conversations(limit=1).items[0].contact_id
        assert contact is not None
        view.erase_contact(contact)
    target = Settings(database_url=empty_target, erasure_journal=journal)
    result = restore(target, Path(made.path))
    assert result.erasures_replayed == 1
    with Store.open(settings=target) as store:
        view = store.for_tenant(tenant.id)
        assert view.list_conversations(contact_id=contact).items == []
        with pytest.raises(NotFoundError):
            view.get_contact(contact)


@pytest.fixture
def confined_roles(postgres_url: str) -> Iterator[dict[str, str]]:
    """A fresh filled database, and URLs to it as two login roles that row-level security
    confines: one acting as the application role, one that owns every table."""
    url = make_url(postgres_url)
    name, tag = f"parloir_br03_{os.getpid()}", uuid.uuid4().hex[:8]
    app_role, owner_role = f"br03_app_{tag}", f"br03_owner_{tag}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
        connection.execute(text(f"CREATE ROLE {app_role} LOGIN IN ROLE parloir_app"))
        connection.execute(text(f"CREATE ROLE {owner_role} LOGIN"))
    target = url.set(database=name)
    with Store.open(target.render_as_string(hide_password=False), migrate=True) as store:
        fill_demo(store, conversations=4, seed=5)
    _execute(
        target.render_as_string(hide_password=False),
        "DO $$ DECLARE t record; BEGIN FOR t IN SELECT tablename FROM pg_tables "
        f"WHERE schemaname = 'public' LOOP EXECUTE format('ALTER TABLE %I OWNER TO {owner_role}', "
        "t.tablename); END LOOP; END $$",
    )
    yield {
        role: target.set(username=role).render_as_string(hide_password=False)
        for role in (app_role, owner_role)
    }
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f"DROP ROLE IF EXISTS {app_role}"))
        connection.execute(text(f"DROP ROLE IF EXISTS {owner_role}"))
    admin.dispose()


@pytest.mark.postgresql
def test_a_backup_as_a_role_that_row_security_confines_fails_loudly(
    confined_roles: dict[str, str], tmp_path: Path
) -> None:
    # RELIABILITY BR-03: never a silently partial dump, neither as the app role nor as owner.
    for role, url in confined_roles.items():
        with pytest.raises(BackupError, match=f"role '{role}' cannot see every tenant"):
            backup(Settings(database_url=url), tmp_path / role)
        assert list((tmp_path / role).iterdir()) == []
        result = CliRunner().invoke(
            app, ["backup", "--dir", str(tmp_path / role)], env={"PARLOIR_DATABASE_URL": url}
        )
        assert result.exit_code != 0
        assert isinstance(result.exception, BackupError)  # main() prints it, exits 1
        assert "cannot see every tenant" in str(result.exception)
