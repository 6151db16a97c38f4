"""Output for the CLI: Rich for people, JSON for machines. The only module that prints."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
errors = Console(stderr=True)


def emit_json(data: Any) -> None:
    """Print ``data`` as one JSON document on standard output."""
    print(json.dumps(data, default=str, ensure_ascii=False, indent=2))


def key_values(title: str, data: Mapping[str, Any]) -> None:
    """Print a two-column table of names and values."""
    table = Table(title=title, show_header=False)
    table.add_column("name", style="bold")
    table.add_column("value", justify="right")
    for key, value in data.items():
        table.add_row(key.replace("_", " "), _cell(value))
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def rows(title: str, columns: Sequence[str], values: Sequence[Sequence[Any]]) -> None:
    """Print a table with a header."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in values:
        table.add_row(*(str(v) if v is not None else "" for v in row))
    console.print(table)


def search_hits(query: str, values: Sequence[Sequence[str]], next_cursor: str | None) -> None:
    """Print search hits; the snippet column holds Rich markup around the matches only."""
    table = Table(title=f"Search: {escape(query)}")
    for column in ("score", "created", "channel", "role"):
        table.add_column(column, no_wrap=True)
    table.add_column("snippet", ratio=1)
    for *cells, snippet in values:
        table.add_row(*(escape(cell) for cell in cells), snippet)
    console.print(table)
    if next_cursor:
        console.print(f"next page: --cursor {next_cursor}", highlight=False)


def message(text: str) -> None:
    console.print(text)


def error(text: str) -> None:
    errors.print(f"[bold red]Error:[/] {text}")


def warning(text: str) -> None:
    """A warning on standard error (standard output stays machine-readable)."""
    errors.print(f"[bold yellow]Warning:[/] {text}")


def spinner(text: str, *, disable: bool = False) -> AbstractContextManager[Any]:
    """A spinner on standard error while long work runs (nothing when ``disable``)."""
    if disable:
        return nullcontext()
    return errors.status(text)
