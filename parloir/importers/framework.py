"""The import framework: options, the run context, layout detection and the runner.

A layout (one module per source schema) says whether it recognises a source from its tables,
how many rows it will read (for the progress bar), and reads the source chunk by chunk,
turning rows into parloir rows that :mod:`parloir.importers.writer` writes. Each chunk is
one transaction of the target; a dry run runs every chunk in one transaction that is rolled
back at the end, so its report is exact and nothing is written.
"""

from __future__ import annotations

import functools
import gc
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Connection, Engine

from parloir.db.engine import TENANT_OPTION
from parloir.db.errors import translate_db_errors
from parloir.errors import InvalidInputError
from parloir.importers import writer
from parloir.importers.report import ImportReport
from parloir.importers.sources import Row, Source, open_source
from parloir.importers.values import (
    Invalid,
    as_time,
    check_json,
    check_text,
    stable_id_with,
    tenant_hasher,
)
from parloir.messages import parse_command

__all__ = ["LAYOUTS", "Context", "ImportOptions", "Layout", "detect_layout", "run_import"]

Progress = Callable[[int], None]
ROLES = frozenset({"user", "assistant", "system", "tool"})
KEY_LENGTH = 255

COST_UNITS: dict[str, float | None] = {
    "milli": 1e-3,  # thousandths of the currency unit: cost=50 is 0.05
    "millicent": 1e-5,  # thousandths of a cent: cost=50 is 0.0005
    "cent": 1e-2,
    "unit": 1.0,
    "none": None,  # keep the original only; cost_nanos stays NULL
}


@dataclass(frozen=True)
class ImportOptions:
    """How to import; every field has a documented default.

    Attributes:
        chunk_size: source rows read and written per transaction.
        layout: force a layout by name instead of detecting it.
        cost_unit: how the LinkedIn layout (002) reads ``ai_interactions.cost`` (see
            ``COST_UNITS``; default ``milli``, as the seed's example ``cost=50 # 0.05€``).
        cost_rate_usd: USD per unit of the source currency for that cost (default 1.0).
        agent_name: name of the agent created for sources that have none.
    """

    chunk_size: int = 2000
    layout: str | None = None
    cost_unit: str = "milli"
    cost_rate_usd: float = 1.0
    agent_name: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.chunk_size <= 100_000:
            raise InvalidInputError.single("chunk_size", "range", "must be 1 to 100000")
        if self.cost_unit not in COST_UNITS:
            units = ", ".join(COST_UNITS)
            raise InvalidInputError.single("cost_unit", "choice", f"must be one of {units}")


@dataclass
class Context:
    """What a layout works with during one run."""

    source: Source
    connection: Connection
    sink: writer.Sink
    options: ImportOptions
    layout: str
    dry_run: bool
    progress: Progress = field(default=lambda n: None)

    @property
    def report(self) -> ImportReport:
        return self.sink.report

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.sink.tenant_id

    @contextmanager
    def chunk(self) -> Iterator[writer.Sink]:
        """One chunk's transaction (inside the run's transaction on a dry run)."""
        if self.dry_run:
            yield self.sink
            return
        with self.connection.begin():
            yield self.sink

    def read(self, sql: str) -> Iterator[list[Row]]:
        """The rows of ``sql`` in chunks; the progress bar advances as they are handed out."""
        for rows in self.source.rows(sql, self.options.chunk_size):
            yield rows
            self.progress(len(rows))

    def id(self, when: datetime | None, *parts: object) -> uuid.UUID:
        """The deterministic id of a source row (see :func:`stable_id`).

        ``when`` is the row's source time; the import's own time (what :meth:`time` falls
        back to) is not used, so that the id is the same at every run.
        """
        if when is self.sink.now:
            when = None
        return stable_id_with(self._hasher, when, (self.layout, *parts))

    @functools.cached_property
    def _hasher(self) -> Any:
        return tenant_hasher(self.tenant_id)

    def time(self, value: Any, fallback: datetime | None = None) -> datetime:
        return as_time(value) or fallback or self.sink.now

    def key(self, value: Any) -> str | None:
        """A source id as an external id or idempotency key (text, at most 255 characters)."""
        if value is None:
            return None
        text = str(value)
        check_text(text, KEY_LENGTH, "key")
        return text

    def message(
        self,
        *,
        row_id: uuid.UUID,
        conversation_id: uuid.UUID,
        role: Any,
        content: Any,
        created_at: datetime,
        **extra: Any,
    ) -> Row:
        """A message row checked as an append would check it (role, text, length)."""
        if role not in ROLES:
            raise Invalid("bad_role")
        text = "" if content is None else str(content)
        check_text(text, self.sink.max_content_length)
        command, args = parse_command(text) if role == "user" else (None, None)
        meta = check_json(extra.pop("metadata", None) or {})
        row = _MESSAGE_TEMPLATE.copy()  # every column, in the table's order
        row["id"] = row_id
        row["tenant_id"] = self.tenant_id
        row["conversation_id"] = conversation_id
        row["role"] = role
        row["direction"] = "in" if role == "user" else "out"
        row["content"] = text
        row["content_length"] = len(text)
        row["command"] = command
        row["command_args"] = args
        row["metadata"] = meta
        row["created_at"] = created_at
        if extra:
            row.update(extra)
        return row

    def row(self, table: Any, **values: Any) -> Row:
        """A row of ``table``: every column (NULL unless given), this tenant, metadata ``{}``."""
        row = _template(table).copy()
        row["tenant_id"] = self.tenant_id
        row.update(values)
        row["metadata"] = check_json(row.get("metadata") or {})
        if "created_at" in row and row["created_at"] is None:
            row["created_at"] = self.sink.now
        if "updated_at" in row and row["updated_at"] is None and table.name != "messages":
            row["updated_at"] = row["created_at"]
        return row

    def llm_call(self, **values: Any) -> Row:
        """An ``llm_calls`` row: counts 0, operation ``chat``, success, unless given."""
        from parloir.db.tables import LLM_CALLS

        row = self.row(
            LLM_CALLS,
            operation="chat",
            input_tokens=0,
            output_tokens=0,
            cached_tokens=0,
            reasoning_tokens=0,
            total_tokens=0,
            is_success=True,
        )
        row.update(values)
        row["model"] = (row["model"] or "unknown")[:200]
        row["total_tokens"] = max(
            row["total_tokens"] or 0, (row["input_tokens"] or 0) + (row["output_tokens"] or 0)
        )
        row["metadata"] = check_json(row["metadata"] or {})
        check_text(row["error_message"], None, "error")
        if not self.sink.capture_prompts:  # PARLOIR_CAPTURE_PROMPTS=false: not kept
            row["prompt"] = row["response"] = None
        for name in ("prompt", "response"):
            row[name] = check_json(row[name], name)
        return row

    def agent(self, key: str, name: str, **fields: Any) -> uuid.UUID:
        """The agent standing for a source's bot (created at the first import)."""
        from parloir.db.tables import AGENTS

        agent_id = self.id(None, "agent", key)
        row = self.row(
            AGENTS,
            id=agent_id,
            name=self.options.agent_name or name,
            is_active=True,
            external_id=f"import:{self.layout}:{key}",
            **fields,
        )
        with self.chunk() as sink:
            return writer.write_agents(sink, [row])[0][agent_id]


@functools.cache
def _template(table: Any) -> Row:
    """A row of ``table`` with every column NULL (copied for each new row)."""
    return dict.fromkeys(table.c.keys())


from parloir.db.tables import MESSAGES  # noqa: E402

_MESSAGE_TEMPLATE = _template(MESSAGES)


class Layout:
    """A source schema parloir can import."""

    name: ClassVar[str]
    description: ClassVar[str]

    def detect(self, tables: set[str], source: Source) -> bool:
        raise NotImplementedError

    def total(self, source: Source) -> int:
        """Rows the run will read (for the progress bar)."""
        raise NotImplementedError

    def run(self, ctx: Context) -> None:
        raise NotImplementedError


LAYOUTS: list[Layout] = []


def register(layout: type[Layout]) -> type[Layout]:
    LAYOUTS.append(layout())
    return layout


def detect_layout(source: Source, name: str | None = None) -> Layout:
    """The layout of ``source`` (or the one named ``name``)."""
    from parloir.importers import layouts  # noqa: F401  (registers them)

    if name is not None:
        for layout in LAYOUTS:
            if layout.name == name:
                return layout
        known = ", ".join(layout.name for layout in LAYOUTS)
        raise InvalidInputError.single("layout", "choice", f"unknown layout; known: {known}")
    tables = source.tables()
    for layout in LAYOUTS:
        if layout.detect(tables, source):
            return layout
    raise InvalidInputError.single(
        "source", "layout", f"no known layout in {source.location!r} (tables: {sorted(tables)})"
    )


def run_import(
    engine: Engine,
    location: str,
    *,
    admin_engine: Engine | None = None,
    tenant_id: uuid.UUID,
    now: datetime,
    max_content_length: int,
    capture_prompts: bool = True,
    dry_run: bool = False,
    options: ImportOptions | None = None,
    progress: Progress | None = None,
    on_total: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import ``location`` into the database behind ``engine`` (see :meth:`Store.import_source`)."""
    options = options or ImportOptions()
    source = open_source(location)
    started = time.perf_counter()
    try:
        layout = detect_layout(source, options.layout)
        report = ImportReport(source=_redacted(location), layout=layout.name, dry_run=dry_run)
        if on_total is not None:
            on_total(layout.total(source))
        with translate_db_errors(), ExitStack() as stack:
            stack.enter_context(_fewer_collections())
            connection = stack.enter_context(engine.connect())
            # On PostgreSQL row-level security shows and accepts only this tenant's rows.
            connection.execution_options(**{TENANT_OPTION: str(tenant_id)})
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql("PRAGMA cache_size=-65536")  # 64 MiB for the run
                connection.commit()
                # Staged messages (parloir.db.bulk) stay in memory, never in a temporary file
                # (set outside any transaction, straight on the driver).
                _driver(connection).execute("PRAGMA temp_store=MEMORY")
            sink = writer.Sink(
                connection, tenant_id, now, max_content_length, report, capture_prompts
            )
            if admin_engine is not None and admin_engine is not engine:
                sink.across_tenants = stack.enter_context(admin_engine.connect())
            ctx = Context(source, connection, sink, options, layout.name, dry_run)
            if progress is not None:
                ctx.progress = progress
            if dry_run:
                with connection.begin() as transaction:
                    layout.run(ctx)
                    transaction.rollback()
            else:
                layout.run(ctx)
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql("PRAGMA cache_size=-2000")
                connection.commit()
                _driver(connection).execute("PRAGMA temp_store=DEFAULT")  # drops the staging
    finally:
        source.close()
    report.seconds = time.perf_counter() - started
    return report


GC_THRESHOLD = 50_000
"""Allocations between two young-generation collections during an import (CPython's default:
700). A chunk allocates tens of thousands of short-lived rows, freed by reference counting;
at the default, the collector scans them over and over, and promotes each chunk's rows into
older generations, which triggers full collections: a tenth of an import's time."""


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Collect garbage less often for the duration of an import (cycles are still collected)."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], GC_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _driver(connection: Connection) -> Any:
    """The DB-API connection under ``connection``."""
    raw = connection.connection.driver_connection
    assert raw is not None
    return raw


def _redacted(location: str) -> str:
    """A source location without its password."""
    if "://" in location and "@" in location:
        scheme, rest = location.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}@{host}" if ":" in credentials else location
    return location
