"""``parloir erase contact`` and ``parloir retention``, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from erasure_support import populate
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from parloir import Store
from parloir.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def journal_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "erasure-journal.jsonl"
    monkeypatch.setenv("PARLOIR_ERASURE_JOURNAL", str(path))
    return path


def run(database_url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--database-url", database_url, *args])
    return result.exit_code, result.output


def test_erase_contact_by_id_and_by_channel(database_url: str, journal_file: Path) -> None:
    with Store.open(database_url) as store:
        agent = store.create_agent(name="helper", model="m").id
        person = populate(store, [agent], "x-1", messages=6)
        other = populate(store, [agent], "y-2", messages=3)
    code, out = run(database_url, "erase", "contact", str(person.contact_id), "--json")
    assert code == 0, out
    data = json.loads(out)
    assert (data["conversations"], data["messages"], data["already_erased"]) == (3, 6, False)
    assert data["compaction"]["dialect"] in ("sqlite", "postgresql")
    code, out = run(database_url, "erase", "contact", str(person.contact_id))
    assert code == 0 and "already erased" in out
    code, out = run(
        database_url,
        "erase",
        "contact",
        "--channel",
        "telegram",
        "--external-id",
        "y-2",
        "--no-compact",
        "--actor",
        "dpo",
        "--reason",
        "request 12",
    )
    assert code == 0 and "erasure" in out
    assert len(journal_file.read_text().splitlines()) == 2
    with Store.open(database_url) as store:
        assert store.find_contact("telegram", "y-2") is None
        events = store.list_audit_events(event_type="contact.erased").items
        assert sorted(str(e.metadata.get("reason")) for e in events) == ["None", "request 12"]
        assert store.check_rollups().differences == []
    assert other.contact_id != person.contact_id
    code, _ = run(database_url, "erase", "contact", "--channel", "telegram", "--external-id", "z")
    assert code == 1
    code, _ = run(database_url, "erase", "contact", "not-a-uuid")
    assert code == 2
    code, _ = run(database_url, "erase", "contact")
    assert code == 2


def test_retention_set_show_and_apply(database_url: str, tmp_path: Path) -> None:
    with Store.open(database_url) as store:
        store.create_agent(name="helper", model="m")
    code, out = run(
        database_url, "retention", "set", "helper", "--delete-after-days", "30", "--json"
    )
    assert code == 0, out
    assert json.loads(out)["policy"]["delete_after_days"] == 30
    code, out = run(database_url, "retention", "show", "--json")
    assert code == 0 and json.loads(out)[0]["delete_after_days"] == 30
    code, out = run(database_url, "retention", "show")
    assert code == 0 and "30" in out
    code, out = run(database_url, "retention", "apply", "--dry-run", "--json")
    assert code == 0 and json.loads(out)["dry_run"] is True
    archive = tmp_path / "a.jsonl"
    code, out = run(database_url, "retention", "apply", "--archive", str(archive))
    assert code == 0 and archive.exists()
    code, out = run(database_url, "retention", "set", "helper")
    assert code == 0 and "no retention policy" in out
    code, out = run(database_url, "retention", "set", "nobody", "--delete-after-days", "3")
    assert code == 2


def test_erase_in_another_tenant(database_url: str) -> None:
    with Store.open(database_url) as store:
        tenant = store.create_tenant(name="Other", slug="other")
        view = store.for_tenant(tenant.id)
        person = populate(view, [view.create_agent(name="a", model="m").id], "x", messages=3)
    args = ("erase", "contact", str(person.contact_id), "--no-compact", "--json")
    code, _ = run(database_url, *args)
    assert code == 1
    code, out = run(database_url, *args, "--tenant", "other")
    assert code == 0 and json.loads(out)["messages"] == 3
    code, _ = run(database_url, *args, "--tenant", "nowhere")
    assert code == 2
    code, _ = run(database_url, "erase", "contact", str(person.contact_id), "--channel", "t")
    assert code == 2


def _sqlite_bytes(database_url: str) -> bytes:
    path = Path(str(make_url(database_url).database))
    files = (path, path.with_name(path.name + "-wal"))
    return b"".join(f.read_bytes() for f in files if f.exists())


def test_db_compact_clears_what_an_uncompacted_erasure_left(database_url: str) -> None:
    with Store.open(database_url) as store:
        person = populate(store, [store.create_agent(name="a", model="m").id], "x", messages=6)
    args = ("erase", "contact", str(person.contact_id), "--no-compact", "--json")
    code, out = run(database_url, *args)
    assert code == 0, out
    sqlite = database_url.startswith("sqlite")
    if sqlite:  # the deleted text is still in the files
        assert any(c.encode() in _sqlite_bytes(database_url) for c in person.texts)
    code, out = run(database_url, "db", "compact", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["dialect"] == ("sqlite" if sqlite else "postgresql")
    if sqlite:
        assert "VACUUM" in data["steps"] and data["wal_busy"] is False
        assert data["bytes_before"] > 0 and data["bytes_after"] > 0
        left = _sqlite_bytes(database_url)
        assert [c for c in person.canaries if c.encode() in left] == []
    else:
        assert data["steps"][0].startswith("VACUUM") and data["bytes_before"] is None
    code, out = run(database_url, "db", "compact")
    assert code == 0 and "Compaction" in out and "VACUUM" in out
