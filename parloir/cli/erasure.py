"""``parloir erase contact`` and ``parloir retention set|show|apply``."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from parloir.cli import render
from parloir.cli.analytics import _agent_id
from parloir.cli.commands import JsonFlag, _open
from parloir.store import Store

erase_app = typer.Typer(help="Erase a person's data (GDPR article 17).", no_args_is_help=True)
retention_app = typer.Typer(help="Per-agent retention policies.", no_args_is_help=True)

TenantSlug = Annotated[
    str | None, typer.Option("--tenant", help="Tenant slug (default: the default tenant).")
]


def _view(store: Store, tenant: str | None) -> Store:
    if tenant is None:
        return store
    found = store.find_tenant(tenant)
    if found is None:
        raise typer.BadParameter(f"no tenant with slug {tenant!r}", param_hint="--tenant")
    return store.for_tenant(found.id)


def _contact_id(
    store: Store, contact: str | None, channel: str | None, external_id: str | None
) -> uuid.UUID:
    if contact is not None:
        if channel is not None or external_id is not None:
            raise typer.BadParameter("give CONTACT_ID or --channel/--external-id, not both")
        try:
            return uuid.UUID(contact)
        except ValueError:
            raise typer.BadParameter("not a UUID", param_hint="CONTACT_ID") from None
    if channel is None or external_id is None:
        raise typer.BadParameter("give CONTACT_ID, or both --channel and --external-id")
    return store.find_contact_id(channel, external_id)


def _show(title: str, data: dict[str, Any], json_output: bool) -> None:
    if json_output:
        render.emit_json(data)
    else:
        render.key_values(title, {k: v for k, v in data.items() if not isinstance(v, list)})


@erase_app.command("contact")
def erase_contact(
    ctx: typer.Context,
    contact: Annotated[str | None, typer.Argument(help="The contact's id.")] = None,
    channel: Annotated[str | None, typer.Option(help="The contact's channel.")] = None,
    external_id: Annotated[
        str | None, typer.Option("--external-id", help="The contact's id on its channel.")
    ] = None,
    tenant: TenantSlug = None,
    actor: Annotated[str | None, typer.Option(help="Who asks (kept in the audit log).")] = None,
    reason: Annotated[
        str | None, typer.Option(help="Why (kept in the audit log: no personal data).")
    ] = None,
    no_compact: Annotated[
        bool, typer.Option("--no-compact", help="Skip the byte-level procedure (VACUUM...).")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Erase a contact and everything tied to them; then clear the database file's residue."""
    with _open(ctx) as opened:
        store = _view(opened, tenant)
        contact_id = _contact_id(store, contact, channel, external_id)
        report = store.erase_contact(contact_id, actor=actor, reason=reason)
        data = report.model_dump(mode="json")
        if not no_compact and not report.already_erased:
            data["compaction"] = store.compact().model_dump(mode="json")
    if json_output:
        render.emit_json(data)
        return
    if report.already_erased:
        render.message(f"contact {report.contact_id} was already erased: nothing to do")
    _show("erasure", {k: v for k, v in data.items() if k != "compaction"}, False)


@retention_app.command("set")
def retention_set(
    ctx: typer.Context,
    agent: Annotated[str, typer.Argument(help="The agent (id or name).")],
    drop_content_after_days: Annotated[
        int | None,
        typer.Option("--drop-content-after-days", help="Empty message content after N days."),
    ] = None,
    delete_after_days: Annotated[
        int | None,
        typer.Option("--delete-after-days", help="Delete conversations idle for N days."),
    ] = None,
    tenant: TenantSlug = None,
    json_output: JsonFlag = False,
) -> None:
    """Set an agent's retention policy (no age at all removes it)."""
    with _open(ctx) as opened:
        store = _view(opened, tenant)
        agent_id = _agent_id(store, agent)
        assert agent_id is not None
        policy = store.set_retention_policy(
            agent_id,
            drop_content_after_days=drop_content_after_days,
            delete_after_days=delete_after_days,
        )
    data: dict[str, Any] = {"agent_id": str(agent_id), "policy": None}
    if policy is not None:
        data["policy"] = policy.model_dump(mode="json")
    if json_output:
        render.emit_json(data)
    elif policy is None:
        render.message(f"agent {agent_id}: no retention policy")
    else:
        _show("retention policy", policy.model_dump(mode="json"), False)


@retention_app.command("show")
def retention_show(
    ctx: typer.Context, tenant: TenantSlug = None, json_output: JsonFlag = False
) -> None:
    """List the retention policies."""
    with _open(ctx) as opened:
        policies = _view(opened, tenant).list_retention_policies()
    data = [p.model_dump(mode="json") for p in policies]
    if json_output:
        render.emit_json(data)
        return
    columns = ("agent_id", "drop_content_after_days", "delete_after_days")
    render.rows("retention policies", columns, [[p[c] for c in columns] for p in data])


@retention_app.command("apply")
def retention_apply(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would go; change nothing.")
    ] = False,
    archive: Annotated[
        Path | None,
        typer.Option(help="First write the conversations concerned to this JSON lines file."),
    ] = None,
    tenant: TenantSlug = None,
    json_output: JsonFlag = False,
) -> None:
    """Apply the retention policies now, and purge expired sessions."""
    with _open(ctx) as opened:
        report = _view(opened, tenant).apply_retention(dry_run=dry_run, archive=archive)
    data = report.model_dump(mode="json")
    if report.auto_vacuum not in (None, "incremental"):
        data["note"] = "this database has no incremental auto_vacuum: run VACUUM to shrink it"
    if json_output:
        render.emit_json(data)
        return
    _show("retention" + (" (dry run)" if dry_run else ""), data, False)
