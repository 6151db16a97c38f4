"""Unknown query parameters are refused, as unknown body fields are.

A misspelt filter (``?chanel=web``) would otherwise be ignored and the answer would look
right while it is not. The parameters a route accepts are read from the application's own
OpenAPI document, the contract clients see; a request whose query string names another one
is answered 422 (``invalid_input``, rule ``unknown_field``, field ``query.<name>``) before it
reaches the route. Requests without a query string (every write of a bot) skip the check.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from parloir.errors import FieldError
from parloir.server.middleware import ASGIApp, Receive, Scope, Send, reject

__all__ = ["QueryGuardMiddleware"]

_METHODS = ("get", "put", "post", "delete", "patch", "options", "head")


class QueryGuardMiddleware:
    """Answer 422 to a request whose query string names a parameter its route does not take.

    ``api`` is the FastAPI application (its OpenAPI document); only paths under ``prefix`` are
    checked (not the probes, nor the documentation pages), except those starting with one of
    ``exempt`` (a webhook must never be refused for its URL).
    """

    def __init__(
        self, app: ASGIApp, *, api: Any, prefix: str = "/v1/", exempt: tuple[str, ...] = ()
    ) -> None:
        self.app = app
        self._api = api
        self._prefix = prefix
        self._exempt = exempt
        self._allowed: Operations | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            path: str = scope["path"]
            checked = path.startswith(self._prefix) and not path.startswith(self._exempt)
            unknown = self._unknown(scope) if checked else []
            if unknown:
                errors = [_error(name) for name in unknown]
                request_id = scope.get("state", {}).get("request_id")
                detail = "the input was rejected"
                await reject(send, 422, "invalid_input", detail, request_id, errors)
                return
        await self.app(scope, receive, send)

    def _unknown(self, scope: Scope) -> list[str]:
        """The names in the query string that the matched operation does not declare."""
        method = scope["method"].lower()
        for pattern, methods in self._operations():
            if pattern.fullmatch(scope["path"]) and method in methods:
                given = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
                return sorted({name for name, _value in given} - methods[method])
        return []  # not an operation of the document: the router answers (404, 405, docs)

    def _operations(self) -> Operations:
        if self._allowed is None:
            self._allowed = operations(self._api.openapi())
        return self._allowed


Operations = list[tuple[re.Pattern[str], dict[str, frozenset[str]]]]


def operations(document: dict[str, Any]) -> Operations:
    """The paths of an OpenAPI document, in its order (the router's), as patterns, with the
    query parameters each of their methods declares."""
    out: Operations = []
    for path, item in document.get("paths", {}).items():
        shared = item.get("parameters", [])
        methods: dict[str, frozenset[str]] = {}
        for method in _METHODS:
            operation = item.get(method)
            if operation is not None:
                parameters = [*shared, *operation.get("parameters", [])]
                methods[method] = frozenset(p["name"] for p in parameters if p.get("in") == "query")
        out.append((_pattern(path), methods))
    return out


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def _error(name: str) -> FieldError:
    field = f"query.{name}".encode("utf-8", "replace").decode()
    return FieldError(field=field, rule="unknown_field", message="this parameter is not accepted")
