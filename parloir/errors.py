"""The one error vocabulary of parloir.

Every error the library raises on purpose is a :class:`ParloirError`; driver exceptions are
translated at the service boundary (``parloir.db.errors``) and never cross into callers::

    ParloirError                  base; carries .detail
    ├── ConfigError               bad or missing settings
    │   └── MissingDependencyError  an optional extra is not installed
    ├── SchemaError               database not at head, or newer than this code
    ├── NotFoundError             unknown tenant / agent / conversation / message / ...
    ├── ConflictError             a unique key is taken, or an idempotency key is reused
    ├── BusyError                 other writers held the database past the busy timeout
    └── InvalidInputError         well-typed but invalid input; lists field and rule

The REST server maps them once (404, 409, 422, 503, ...); the CLI prints them and exits 1.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BusyError",
    "ConfigError",
    "ConflictError",
    "FieldError",
    "InvalidInputError",
    "MissingDependencyError",
    "NotFoundError",
    "ParloirError",
    "SchemaError",
]


class ParloirError(Exception):
    """Base of every error parloir raises on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ConfigError(ParloirError):
    """A setting is missing or invalid."""


class MissingDependencyError(ConfigError):
    """An optional dependency is needed for this feature."""

    def __init__(self, package: str, *, extra: str) -> None:
        super().__init__(f"{package} is required: run pip install 'parloir[{extra}]'")
        self.package = package
        self.extra = extra


class SchemaError(ParloirError):
    """The database schema is not the one this code expects."""


class NotFoundError(ParloirError):
    """The object does not exist in the caller's tenant."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key} not found")
        self.kind = kind
        self.key = key


class ConflictError(ParloirError):
    """A unique key is already taken, or a key is reused with different content."""


class BusyError(ParloirError):
    """SQLite: other connections held the write lock longer than ``busy_timeout_ms``. The
    transaction was rolled back and wrote nothing; trying again later is safe."""


@dataclass(frozen=True)
class FieldError:
    """One rejected field: where it is, which rule it broke, and a readable message."""

    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message} ({self.rule})"


class InvalidInputError(ParloirError):
    """Input was rejected before anything was written."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("invalid input: " + "; ".join(str(e) for e in errors))
        self.errors = errors

    @classmethod
    def single(cls, field: str, rule: str, message: str) -> InvalidInputError:
        """Build the error for one field."""
        return cls([FieldError(field=field, rule=rule, message=message)])
