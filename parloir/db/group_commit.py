"""Group commit on SQLite: many small writes from many callers share one transaction.

A durable SQLite commit costs the same whether it carries one message or fifty: every page
the transaction changed (the conversation's row, the statistics rows, the full-text index
segments, the index pages) goes to the write-ahead log once, then one ``fsync``. A server
whose requests each append one message pays that per request; under load they queue behind
the one writer and the queue only grows. :class:`GroupCommitter` gives the writer a thread of
its own. Callers hand it *jobs* and get a :class:`concurrent.futures.Future`; the thread takes
every job waiting, runs them in one ``BEGIN IMMEDIATE`` transaction, each inside a
``SAVEPOINT`` of its own, commits once, and only then resolves the futures. Under light load a
group is one job; under heavy load groups grow and each write gets cheaper.

What each caller sees is what it would see alone, in the order the jobs ran:

* a job that raises is rolled back to its savepoint and its future gets the exception; the
  other jobs of the group are not affected;
* nothing is resolved before the commit: a caller that got a result has it on disk
  (``synchronous=FULL``);
* if the transaction itself fails (begin, commit, or an error that makes SQLite roll the whole
  transaction back), every job of the group gets that error and nothing of the group is kept.

The thread checks the writer connection out of the write pool (one connection) for each group,
so other writes of the process keep taking turns with it.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Connection, Engine

from parloir.db.driver import driver_transaction

__all__ = ["GroupCommitter", "Job"]

Job = Callable[[Connection], Any]
"""A write: statements through ``parloir.db.bulk`` on the connection it is given."""

MAX_GROUP = 64
"""Most jobs in one transaction (a bound on how long the first of them waits)."""

_STOP = object()


class GroupCommitter:
    """A writer thread that runs submitted jobs in shared transactions (see the module)."""

    def __init__(self, engine: Engine, translate: Callable[[], Any]) -> None:
        self._engine = engine
        self._translate = translate
        """A context manager factory turning driver errors into ``ParloirError``."""
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, job: Job) -> Future[Any]:
        """Queue ``job``; its future resolves after the commit of the group that ran it."""
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the store is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="parloir-group-commit", daemon=True
                )
                self._thread.start()
            self._queue.put((job, future))
        return future

    def close(self) -> None:
        """Run what is queued, then stop the thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _run(self) -> None:
        while True:
            group = [self._queue.get()]
            while len(group) < MAX_GROUP:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = _STOP in group
            jobs = [item for item in group if item is not _STOP]
            if jobs:
                self._commit(jobs)
            if stop:
                return

    def _commit(self, jobs: list[tuple[Job, Future[Any]]]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self._translate(), driver_transaction(self._engine) as connection:
                raw = connection.connection.driver_connection
                assert isinstance(raw, sqlite3.Connection)
                for job, _ in jobs:
                    outcomes.append(_run_job(raw, connection, job))
        except BaseException as error:  # the group as a whole failed: nothing of it is kept
            for _, future in jobs:
                future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for (_, future), (ok, value) in zip(jobs, outcomes, strict=True):
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


def _run_job(raw: sqlite3.Connection, connection: Connection, job: Job) -> tuple[bool, Any]:
    """Run one job inside a savepoint: (True, result), or (False, its exception) with its
    writes undone. Raises if the error ended the whole transaction."""
    raw.execute("SAVEPOINT parloir_job")
    try:
        result = job(connection)
    except Exception as error:
        if not raw.in_transaction:
            raise  # SQLite rolled the transaction back (disk full, I/O error...)
        raw.execute("ROLLBACK TO parloir_job")
        raw.execute("RELEASE parloir_job")
        return False, error
    raw.execute("RELEASE parloir_job")
    return True, result
