"""Translate driver errors into the parloir error tree, once, at the service boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc

from parloir.errors import BusyError, ConflictError, InvalidInputError, ParloirError

__all__ = ["is_lock_conflict", "translate_db_errors"]

_RETRYABLE = {"40P01", "40001"}  # deadlock_detected, serialization_failure


def is_lock_conflict(error: BaseException) -> bool:
    """True for a PostgreSQL deadlock or serialization failure: the whole transaction was
    rolled back, and running it again is safe."""
    return isinstance(error, exc.OperationalError) and (
        getattr(error.orig, "sqlstate", None) in _RETRYABLE
    )


@contextmanager
def translate_db_errors() -> Iterator[None]:
    """Turn integrity and data errors raised inside the block into ``ParloirError``."""
    try:
        yield
    except ParloirError:
        raise
    except exc.IntegrityError as error:
        message = str(error.orig).splitlines()[0] if error.orig else "integrity error"
        if "FOREIGN KEY" in message.upper() or "foreign key" in message:
            raise InvalidInputError.single(
                "reference", "exists", f"a referenced row does not exist ({message})"
            ) from error
        raise ConflictError(f"conflict: {message}") from error
    except exc.DataError as error:
        message = str(error.orig).splitlines()[0] if error.orig else "data error"
        raise InvalidInputError.single("value", "storable", message) from error
    except exc.ProgrammingError as error:
        # insufficient_privilege: row-level security refused a row of another tenant, or the
        # store's role lacks a grant. Either is a bug below the API, never a user's mistake.
        if getattr(error.orig, "sqlstate", None) != "42501":
            raise
        message = str(error.orig).splitlines()[0]
        raise ParloirError(f"refused by the database's access rules: {message}") from error
    except exc.OperationalError as error:
        # SQLITE_BUSY after busy_timeout: other writers kept the lock (BEGIN IMMEDIATE waits
        # for it, so this means overload, not a deadlock). Nothing was written.
        if not getattr(error.orig, "sqlite_errorname", "").startswith("SQLITE_BUSY"):
            raise
        raise BusyError("the database stayed locked by other writers; try again") from error
