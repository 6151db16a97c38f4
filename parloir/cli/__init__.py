"""The ``parloir`` command: a thin shell over the library.

Every command that reports something has ``--json``. Errors of the library are printed and
exit with status 1; nothing here reaches around the :class:`~parloir.Store` to the tables.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated

import typer

from parloir.config import Settings
from parloir.errors import ParloirError

app = typer.Typer(
    name="parloir",
    help="parloir: the conversation store and LLM-usage ledger for chatbots.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@dataclass
class State:
    settings: Settings


@app.callback()
def main_callback(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Database URL (default: PARLOIR_DATABASE_URL, then DATABASE_URL, "
            "then a SQLite file in the parloir home folder).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """parloir: the conversation store and LLM-usage ledger for chatbots."""
    settings = Settings.from_env()
    if database_url:
        settings = settings.with_url(database_url)
    ctx.obj = State(settings=settings)


def _register() -> None:
    from parloir.cli import analytics, commands, db, erasure, ops, search, serve, transfer

    app.add_typer(db.app, name="db")
    app.add_typer(commands.sessions_app, name="sessions")
    app.add_typer(commands.tenants_app, name="tenants")
    app.command("demo")(commands.demo)
    app.command("stats")(analytics.stats)
    app.add_typer(analytics.costs_app, name="costs")
    app.command("search")(search.search)
    app.command("import")(transfer.import_command)
    app.command("export")(transfer.export_command)
    app.command("serve")(serve.serve)
    app.add_typer(serve.users_app, name="users")
    for command in (ops.doctor, ops.backup, ops.restore):
        app.command(command.__name__)(command)
    app.add_typer(erasure.erase_app, name="erase")
    app.add_typer(erasure.retention_app, name="retention")


_register()


def main() -> None:
    """Entry point of the ``parloir`` console script."""
    from parloir.cli import render

    try:
        app()
    except ParloirError as error:
        render.error(error.detail)
        sys.exit(1)
