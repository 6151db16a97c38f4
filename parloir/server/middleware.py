"""ASGI middleware: request ids, and the guard every request body passes before any route.

The body guard reads at most the size limit (whatever ``Content-Length`` says, chunked or not:
413 beyond it), requires JSON, and parses it once with the rules the library applies to stored
values: strict UTF-8 (400), no NaN or Infinity (422), bounded nesting (422), no NUL and no lone
surrogate in any key or string (422). A rejected body never reaches a route, so nothing is
written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from parloir.errors import FieldError
from parloir.ids import uuid7
from parloir.server.problems import problem_body
from parloir.server.settings import ServerSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class RequestIdMiddleware:
    """Accept a sane ``X-Request-ID`` or make one; keep it in ``request.state``; echo it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, REQUEST_ID_HEADER)
        request_id = given.decode() if given and _SANE_ID.match(given) else uuid7().hex
        scope.setdefault("state", {})["request_id"] = request_id
        encoded = request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] != REQUEST_ID_HEADER]
                message["headers"] = [*headers, (REQUEST_ID_HEADER, encoded)]
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodyGuardMiddleware:
    """Bound, type-check and sanity-check request bodies before they reach a route."""

    def __init__(
        self,
        app: ASGIApp,
        settings: ServerSettings,
        lenient_paths: list[str] | None = None,
        raw_paths: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.settings = settings
        self.raw_paths = raw_paths
        """Path prefixes whose routes read and judge the raw body themselves (the Telegram
        webhook acknowledges and quarantines whatever arrives, after checking its secret)."""
        self.lenient_paths = lenient_paths if lenient_paths is not None else []
        """Path prefixes whose routes check the values themselves (they answer per item, or
        must acknowledge whatever arrives, like a webhook): only size, media type, UTF-8,
        JSON syntax and depth are checked for them. The list may grow after start-up."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in _BODY_METHODS
            or scope["path"].startswith(self.raw_paths)
        ):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        batch = path.rstrip("/").endswith("/batch")
        lenient = batch or any(path.startswith(prefix) for prefix in self.lenient_paths)
        s = self.settings
        limit = s.max_batch_body_bytes if batch else s.max_body_bytes
        request_id = scope.get("state", {}).get("request_id")
        body = await _read_body(scope, receive, limit)
        if body is None:
            await reject(send, 413, "body_too_large", f"the body exceeds {limit} bytes", request_id)
            return
        if body:
            content_type = _header(scope, b"content-type")
            # A batch checks the values of each item apart, and answers per item (207).
            problem = _check_body(content_type, body, s.max_json_depth, values=not lenient)
            if problem is not None:
                status, code, detail, errors = problem
                await reject(send, status, code, detail, request_id, errors)
                return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return None


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it is longer than ``limit``."""
    declared = _header(scope, b"content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


Problem = tuple[int, str, str, list[FieldError]]


def _check_body(
    content_type: bytes | None, body: bytes, max_depth: int, *, values: bool
) -> Problem | None:
    media = (content_type or b"").split(b";")[0].strip().lower()
    if media != b"application/json" and not media.endswith(b"+json"):
        return 415, "unsupported_media_type", "the body must be application/json", []
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return 400, "invalid_utf8", "the body is not valid UTF-8", []
    try:
        value = json.loads(text)  # NaN and Infinity become floats the walk below rejects
    except RecursionError:
        return 400, "invalid_json", "the JSON nests too deeply to be read", []
    except ValueError:
        return 400, "invalid_json", "the body is not valid JSON", []
    found = _walk(value, max_depth, values=values)
    if found is not None:
        return 422, "invalid_input", "the input was rejected", [found]
    return None


def _text_error(value: str) -> str | None:
    if "\x00" in value:
        return "no_nul"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "no_lone_surrogates"
    return None


_MESSAGES = {
    "no_nul": "must not contain NUL characters",
    "no_lone_surrogates": "must not contain lone surrogate code points",
    "finite_number": "must be a finite number",
    "max_depth": "nests too deeply",
}


def _walk(root: Any, max_depth: int, *, values: bool = True) -> FieldError | None:
    """The first string, key, number or nesting that breaks the rules, with its path."""
    stack: list[tuple[Any, str, int]] = [(root, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        rule: str | None = None
        if isinstance(value, str):
            rule = _text_error(value) if values else None
        elif isinstance(value, float) and values:
            rule = None if value - value == 0 else "finite_number"
        elif isinstance(value, dict | list):
            if depth >= max_depth:
                rule = "max_depth"
            elif isinstance(value, dict):
                for key, item in value.items():
                    key_rule = _text_error(key) if values else None
                    if key_rule is not None:
                        return _field(path or "body", key_rule)
                    stack.append((item, f"{path}.{key}" if path else key, depth + 1))
            else:
                stack.extend(
                    (item, f"{path}.{i}" if path else str(i), depth + 1)
                    for i, item in enumerate(value)
                )
        if rule is not None:
            return _field(path or "body", rule)
    return None


def _field(path: str, rule: str) -> FieldError:
    return FieldError(
        field=path.encode("utf-8", "replace").decode(), rule=rule, message=_MESSAGES[rule]
    )


async def reject(
    send: Send,
    status: int,
    code: str,
    detail: str,
    request_id: str | None,
    errors: list[FieldError] | None = None,
) -> None:
    body = problem_body(status, code, detail, errors=errors or [], request_id=request_id)
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status == 413:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
