"""``parloir serve`` and ``parloir users create-admin``."""

from __future__ import annotations

import os
import secrets
from typing import Annotated

import typer

from parloir.cli import render
from parloir.store import Store

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
users_app = typer.Typer(help="Users who log in to the REST API.", no_args_is_help=True)

BOOTSTRAP_USERNAME = "admin"


def _new_password() -> str:
    return secrets.token_urlsafe(18)


def has_users(store: Store) -> bool:
    """True if any tenant has a user."""
    return any(store.for_tenant(t.id).list_users() for t in store.list_tenants())


def reset_owner(store: Store, username: str) -> tuple[str, bool]:
    """Create the owner ``username``, or make it an active owner with a new password.

    Returns the password (to show once) and whether the user was created.
    """
    password = _new_password()
    existing = next((u for u in store.list_users() if u.username == username), None)
    if existing is None:
        store.create_user(username=username, password=password, role="owner")
        return password, True
    store.update_user(existing.id, role="owner", is_active=True, password=password)
    return password, False


def _show_credentials(title: str, tenant: str, username: str, password: str, as_json: bool) -> None:
    data = {"tenant": tenant, "username": username, "password": password}
    if as_json:
        render.emit_json(data)
    else:
        render.key_values(title + " (the password is shown only this once)", data)


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Worker processes.")] = 1,
    no_migrate: Annotated[
        bool, typer.Option("--no-migrate", help="Do not upgrade the schema at start.")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Run the REST API (migrating the database first; stop it with Ctrl-C)."""
    import uvicorn

    settings = ctx.obj.settings
    with Store.open(settings=settings, migrate=not no_migrate) as store:
        if not has_users(store):
            password, _ = reset_owner(store, BOOTSTRAP_USERNAME)
            _show_credentials(
                "Owner account created", "default", BOOTSTRAP_USERNAME, password, json_output
            )
    os.environ["PARLOIR_DATABASE_URL"] = settings.database_url
    if workers > 1 and settings.database_url.startswith("sqlite"):
        render.warning(
            f"--workers {workers} on SQLite: the workers take turns at the file's write lock "
            "and one worker is usually faster (see docs/server.md); PostgreSQL suits several"
        )
    if not json_output:
        render.message(f"parloir serving on http://{host}:{port} (docs at /docs); Ctrl-C stops")
    uvicorn.run(
        "parloir.server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        # Access lines are logged at INFO: above it, uvicorn need not build them per request.
        access_log=settings.log_level in ("DEBUG", "INFO"),
        timeout_keep_alive=5,
        server_header=False,
    )


@users_app.command("create-admin")
def create_admin(
    ctx: typer.Context,
    username: Annotated[str, typer.Option("--username", help="Name of the owner.")] = (
        BOOTSTRAP_USERNAME
    ),
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant slug.")] = "default",
    json_output: JsonFlag = False,
) -> None:
    """Create an owner, or reset its password and role; print the password once."""
    with Store.open(settings=ctx.obj.settings) as store:
        found = store.find_tenant(tenant)
        if found is None:
            raise typer.BadParameter(f"no tenant with slug {tenant!r}", param_hint="--tenant")
        password, created = reset_owner(store.for_tenant(found.id), username)
    title = "Owner account created" if created else "Owner account reset"
    _show_credentials(title, tenant, username, password, json_output)
