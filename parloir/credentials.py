"""Login tokens, login failures, idempotency records and widget tokens (service functions).

Secrets (login tokens, widget tokens) are random, shown once and stored as SHA-256 hashes;
lookups compare the hashes in constant time. These back the REST server's authentication,
its login rate limit and its ``Idempotency-Key`` replay, and live in the database so that
several server processes share them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, delete, func, select, update

from parloir.accounts import _hash_key, _lookup_prefix
from parloir.db.bulk import fetch_rows
from parloir.db.tables import API_KEYS, USERS
from parloir.db.tables_server import AUTH_TOKENS, IDEMPOTENCY_RECORDS, LOGIN_FAILURES, WIDGET_TOKENS
from parloir.ids import uuid7
from parloir.schemas import ApiKeyRead
from parloir.scope import Scope

__all__ = [
    "TOKEN_PREFIX",
    "IdempotencyState",
    "LoginToken",
    "TokenOwner",
    "hash_secret",
    "is_live",
]

TOKEN_PREFIX = "pls_"
WIDGET_PREFIX = "plw_"


def hash_secret(secret: str) -> str:
    """The SHA-256 hex digest under which a secret is stored."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class LoginToken:
    """A new login token: the secret (shown once) and when it expires."""

    id: uuid.UUID
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class TokenOwner:
    """Who a valid login token belongs to."""

    token_id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    username: str
    role: str
    expires_at: datetime


@dataclass(frozen=True)
class IdempotencyState:
    """What to do with a request carrying an idempotency key.

    ``outcome``: ``new`` (do the work, then :func:`finish_idempotent`), ``replay`` (answer with
    the stored status and body), ``mismatch`` (the key was used for another request) or
    ``pending`` (the first request is still running).
    """

    outcome: str
    status_code: int | None = None
    content_type: str | None = None
    body: bytes | None = None


def create_login_token(scope: Scope, user_id: uuid.UUID, ttl: timedelta) -> LoginToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = scope.now()
    token_id, expires_at = uuid7(), now + ttl
    row = {
        "id": token_id,
        "tenant_id": scope.tenant_id,
        "user_id": user_id,
        "token_hash": hash_secret(token),
        "created_at": now,
        "expires_at": expires_at,
        "revoked_at": None,
    }
    scope.session.execute(AUTH_TOKENS.insert().values(row))
    return LoginToken(id=token_id, token=token, expires_at=expires_at)


def find_login_token(scope: Scope, token: str) -> TokenOwner | None:
    """The owner of a live token of an active user (in any tenant), or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = hash_secret(token)
    t, u = AUTH_TOKENS.c, USERS.c
    row = scope.session.execute(
        select(t.id, t.tenant_id, t.user_id, t.token_hash, t.expires_at, t.revoked_at)
        .add_columns(u.username, u.role, u.is_active)
        .join(USERS, and_(u.id == t.user_id, u.tenant_id == t.tenant_id))
        .where(t.token_hash == digest)
    ).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    if row.revoked_at is not None or row.expires_at <= scope.now() or not row.is_active:
        return None
    return TokenOwner(
        token_id=row.id,
        tenant_id=row.tenant_id,
        user_id=row.user_id,
        username=row.username,
        role=row.role,
        expires_at=row.expires_at,
    )


def revoke_login_token(scope: Scope, token_id: uuid.UUID) -> None:
    t = AUTH_TOKENS.c
    scope.session.execute(
        update(AUTH_TOKENS)
        .where(t.id == token_id, t.tenant_id == scope.tenant_id, t.revoked_at.is_(None))
        .values(revoked_at=scope.now())
    )


def login_retry_after(
    scope: Scope,
    username: str,
    address: str,
    limits: tuple[tuple[int, timedelta], tuple[int, timedelta]],
) -> int | None:
    """Seconds to wait before another login of ``username`` from ``address``, or None.

    ``limits`` are (max failures, window) per user of this tenant, then per address.
    """
    f = LOGIN_FAILURES.c
    now = scope.now()
    wait: int | None = None
    conditions = (
        and_(f.tenant_id == scope.tenant_id, f.username == username),
        f.address == address,
    )
    for (limit, window), condition in zip(limits, conditions, strict=True):
        query = select(func.count(), func.min(f.created_at)).where(
            condition, f.created_at > now - window
        )
        count, oldest = scope.session.execute(query).one()
        if count >= limit:
            seconds = max(1, int((oldest + window - now).total_seconds()) + 1)
            wait = max(wait or 0, seconds)
    return wait


def record_login_failure(scope: Scope, username: str, address: str, keep: timedelta) -> None:
    """Note one failed login; drop failures older than ``keep``."""
    now = scope.now()
    scope.session.execute(delete(LOGIN_FAILURES).where(LOGIN_FAILURES.c.created_at < now - keep))
    scope.session.execute(
        LOGIN_FAILURES.insert().values(
            id=uuid7(),
            tenant_id=scope.tenant_id,
            username=username[:150],
            address=address[:64],
            created_at=now,
        )
    )


def begin_idempotent(
    scope: Scope, caller: str, key: str, request_hash: str, ttl: timedelta
) -> IdempotencyState:
    """Reserve ``key`` for this caller, or say how the first request with it went."""
    r = IDEMPOTENCY_RECORDS.c
    now = scope.now()
    where = (r.tenant_id == scope.tenant_id, r.caller == caller, r.key == key)
    scope.session.execute(delete(IDEMPOTENCY_RECORDS).where(*where, r.expires_at <= now))
    row = {
        "id": uuid7(),
        "tenant_id": scope.tenant_id,
        "caller": caller,
        "key": key,
        "request_hash": request_hash,
        "status_code": None,
        "content_type": None,
        "body": None,
        "created_at": now,
        "expires_at": now + ttl,
    }
    stmt = scope.insert(IDEMPOTENCY_RECORDS).values(row).on_conflict_do_nothing()
    if scope.session.execute(stmt.returning(r.id)).first() is not None:
        return IdempotencyState("new")
    stored = scope.session.execute(select(IDEMPOTENCY_RECORDS).where(*where)).first()
    if stored is None:  # removed between the two statements: the caller may retry
        return IdempotencyState("pending")
    if not hmac.compare_digest(stored.request_hash, request_hash):
        return IdempotencyState("mismatch")
    if stored.status_code is None:
        return IdempotencyState("pending")
    return IdempotencyState("replay", stored.status_code, stored.content_type, stored.body)


def finish_idempotent(
    scope: Scope, caller: str, key: str, status_code: int, content_type: str, body: bytes
) -> None:
    r = IDEMPOTENCY_RECORDS.c
    scope.session.execute(
        update(IDEMPOTENCY_RECORDS)
        .where(r.tenant_id == scope.tenant_id, r.caller == caller, r.key == key)
        .values(status_code=status_code, content_type=content_type[:100], body=body)
    )


def abandon_idempotent(scope: Scope, caller: str, key: str) -> None:
    r = IDEMPOTENCY_RECORDS.c
    scope.session.execute(
        delete(IDEMPOTENCY_RECORDS).where(
            r.tenant_id == scope.tenant_id,
            r.caller == caller,
            r.key == key,
            r.status_code.is_(None),
        )
    )


def purge_expired(scope: Scope) -> int:
    """Delete expired login tokens and idempotency records of every tenant."""
    now = scope.now()
    removed = scope.session.execute(delete(AUTH_TOKENS).where(AUTH_TOKENS.c.expires_at <= now))
    records = scope.session.execute(
        delete(IDEMPOTENCY_RECORDS).where(IDEMPOTENCY_RECORDS.c.expires_at <= now)
    )
    return int(removed.rowcount or 0) + int(records.rowcount or 0)


def create_widget_token(scope: Scope, conversation_id: uuid.UUID, api_key_id: uuid.UUID) -> str:
    token = WIDGET_PREFIX + secrets.token_urlsafe(24)
    scope.session.execute(
        WIDGET_TOKENS.insert().values(
            id=uuid7(),
            tenant_id=scope.tenant_id,
            conversation_id=conversation_id,
            api_key_id=api_key_id,
            token_hash=hash_secret(token),
            created_at=scope.now(),
        )
    )
    return token


def check_widget_token(
    scope: Scope, conversation_id: uuid.UUID, api_key_id: uuid.UUID, token: str
) -> bool:
    """True if ``token`` was given to this key when it opened this conversation."""
    if not token.startswith(WIDGET_PREFIX) or len(token) > 200:
        return False
    digest = hash_secret(token)
    w = WIDGET_TOKENS.c
    row = scope.session.execute(
        select(w.token_hash).where(
            w.token_hash == digest,
            w.tenant_id == scope.tenant_id,
            w.conversation_id == conversation_id,
            w.api_key_id == api_key_id,
        )
    ).first()
    return row is not None and hmac.compare_digest(row.token_hash, digest)


_KEY_BY_PREFIX = select(API_KEYS).where(API_KEYS.c.prefix == bindparam("prefix"))
_KEY_COLUMNS = tuple(column.name for column in API_KEYS.c)


def peek_api_key(scope: Scope, key: str) -> ApiKeyRead | None:
    """The live API key matching ``key`` in any tenant, or None, without writing anything.

    Every request made with a key runs this: the statement is built once and runs through
    ``parloir.db.bulk``, so ``scope`` may be a driver connection (``Store._quick_admin_read``).
    """
    if not key or len(key) > 512:
        return None
    rows = fetch_rows(scope.session, _KEY_BY_PREFIX, {"prefix": _lookup_prefix(key)})
    if not rows:
        return None
    row = dict(zip(_KEY_COLUMNS, rows[0], strict=True))
    if not hmac.compare_digest(row["key_hash"], _hash_key(key)):
        return None
    found = ApiKeyRead.model_validate(row)
    return found if is_live(found, scope.now()) else None


def is_live(key: ApiKeyRead, now: datetime) -> bool:
    """Whether ``key`` is neither revoked nor expired at ``now``."""
    return key.revoked_at is None and (key.expires_at is None or key.expires_at > now)
