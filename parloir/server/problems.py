"""Errors as RFC 9457 ``application/problem+json``: one schema, one mapping.

Every error answer has ``type``, ``title``, ``status``, ``detail``, a stable ``code``, the
``request_id``, and for input errors the list of ``errors`` naming the field and the rule.
Bodies never carry stack traces, SQL or the rejected input.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from parloir.errors import (
    BusyError,
    ConflictError,
    FieldError,
    InvalidInputError,
    NotFoundError,
    ParloirError,
    SchemaError,
)

__all__ = [
    "PROBLEM_TYPE",
    "FieldProblem",
    "Problem",
    "ProblemError",
    "clean",
    "from_parloir",
    "install_handlers",
    "problem_response",
    "responses",
]

PROBLEM_TYPE = "application/problem+json"
TYPE_BASE = "https://parloir.dev/problems/"
log = logging.getLogger("parloir.server")

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class FieldProblem(BaseModel):
    """One rejected field and the rule it broke."""

    field: str
    rule: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str | None = None
    errors: list[FieldProblem] | None = None


class ProblemError(Exception):
    """An error answered as a problem document with this status and code."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})


def problem_body(
    status: int,
    code: str,
    detail: str,
    *,
    errors: Sequence[FieldError] = (),
    request_id: str | None = None,
) -> bytes:
    problem: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id,
    }
    if errors:
        problem["errors"] = [
            {"field": clean(e.field), "rule": clean(e.rule), "message": clean(e.message)}
            for e in errors
        ]
    return json.dumps(problem, ensure_ascii=True, allow_nan=False).encode()


def clean(text: str) -> str:
    """``text`` safe to encode as UTF-8 (lone surrogates become ``?``)."""
    return text.encode("utf-8", "replace").decode("utf-8")


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
) -> Response:
    body = problem_body(status, code, detail, errors=errors, request_id=request_id)
    return Response(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def from_parloir(error: ParloirError) -> ProblemError:
    if isinstance(error, InvalidInputError):
        return ProblemError(422, "invalid_input", "the input was rejected", errors=error.errors)
    if isinstance(error, NotFoundError):
        return ProblemError(404, "not_found", f"{error.kind} not found")
    if isinstance(error, ConflictError):
        return ProblemError(409, "conflict", error.detail)
    if isinstance(error, SchemaError):
        return ProblemError(503, "schema_not_ready", "the database schema is not ready")
    if isinstance(error, BusyError):
        return ProblemError(503, "database_busy", error.detail, headers={"Retry-After": "1"})
    return ProblemError(500, "internal_error", "the request could not be completed")


_RULES = {"extra_forbidden": "unknown_field", "string_unicode": "no_lone_surrogates"}


def validation_errors(raw: Sequence[Any]) -> list[FieldError]:
    """FastAPI/pydantic errors as fields and rules (``body.`` and friends dropped)."""
    out = []
    for item in raw:
        loc = [str(part) for part in item.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            where, loc = loc[0], loc[1:]
            field = ".".join(loc) if loc else where
            if where in ("query", "header", "path"):
                field = f"{where}.{field}" if loc else where
        else:
            field = ".".join(loc) or "input"
        rule = _RULES.get(str(item.get("type")), str(item.get("type", "invalid")))
        out.append(FieldError(field=field, rule=rule, message=str(item.get("msg", "invalid"))))
    return out


def install_handlers(app: FastAPI) -> None:
    """Map every error to a problem document, once."""

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        return problem_response(
            exc.status,
            exc.code,
            exc.detail,
            errors=exc.errors,
            headers=exc.headers,
            request_id=_request_id(request),
        )

    async def on_parloir(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ParloirError)
        return await on_problem(request, from_parloir(exc))

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = validation_errors(exc.errors())
        bad_json = any(e.rule == "json_invalid" for e in errors)
        status, code = (400, "invalid_json") if bad_json else (422, "invalid_input")
        if request.url.path.rstrip("/").endswith("/v1/batch"):
            status, code = 400, "malformed_envelope"
        return await on_problem(
            request, ProblemError(status, code, "the input was rejected", errors=errors)
        )

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "")
        return await on_problem(
            request, ProblemError(exc.status_code, code, detail, headers=exc.headers)
        )

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return await on_problem(
            request, ProblemError(500, "internal_error", "the request could not be completed")
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(ParloirError, on_parloir)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_crash)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: the problem schema for each error status."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted({400, 401, 409, 413, 415, 422, *statuses}):
        out[status] = {
            "model": Problem,
            "description": TITLES.get(status, "Error"),
            "content": {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return out
