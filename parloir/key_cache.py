"""A short-lived memory of the API keys that requests present.

A server reads the key of every request (:meth:`parloir.Store.peek_api_key`). Under load that
read is not the cost of one indexed row: on SQLite the driver lets go of the interpreter's
lock around every statement, and the request waits for the group-commit writer to hand it
back. :class:`KeyCache` keeps each key found for ``ttl`` seconds (``Settings.api_key_cache_ms``,
one second by default; 0 turns it off), so a busy caller's key is read about once a second.

What the cache may and may not keep:

* only keys found live (unknown, revoked or expired ones are read again each time);
* expiry is checked again at every use, against the store's clock;
* a revocation made through the same store empties it at once, and noting a key's use drops
  that key: a key revoked through the server is refused at its next request;
* a change made elsewhere (another worker, another process, SQL) is seen within ``ttl``.

Entries are keyed by the SHA-256 of the key, never the key itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from parloir.credentials import hash_secret
from parloir.schemas import ApiKeyRead

__all__ = ["KeyCache"]

MAX_KEYS = 10_000
"""Keys kept at most: past that, the cache starts over (a bound on unknown callers' cost)."""


class KeyCache:
    """Live API keys by the hash of their secret, each kept ``ttl`` seconds (see the module)."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[ApiKeyRead, float]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        """Read before a lookup and handed to :meth:`put`: an entry read before the last
        :meth:`clear` is not kept."""
        return self._generation

    def get(self, secret: str) -> ApiKeyRead | None:
        """The key kept for ``secret``, if it was read less than ``ttl`` seconds ago."""
        if self.ttl <= 0:
            return None
        entry = self._entries.get(hash_secret(secret))
        if entry is None or self._clock() - entry[1] >= self.ttl:
            return None
        return entry[0]

    def put(self, secret: str, key: ApiKeyRead, generation: int) -> None:
        """Keep ``key``, read while the cache was at ``generation``."""
        if self.ttl <= 0:
            return
        digest = hash_secret(secret)
        with self._lock:
            if generation != self._generation:
                return  # a revocation came between the read and now
            if len(self._entries) >= MAX_KEYS:
                self._entries.clear()
            self._entries[digest] = (key, self._clock())

    def forget(self, secret: str) -> None:
        """Drop ``secret``'s entry (its row changed), and refuse entries read before now."""
        with self._lock:
            self._generation += 1
            self._entries.pop(hash_secret(secret), None)

    def clear(self) -> None:
        """Drop every entry, and refuse entries read before now."""
        with self._lock:
            self._generation += 1
            self._entries.clear()
