"""Time-ordered UUIDs (version 7, RFC 9562), generated in Python.

Ids are made here rather than by the database so that a row's id is known before it is
written (batches, idempotent retries) and is the same on SQLite and PostgreSQL. Within one
millisecond the 12-bit ``rand_a`` field is used as a counter (RFC 9562 §6.2, method 1), so ids
made by one process sort in creation order.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

__all__ = ["uuid7", "uuid7_many", "uuid7_time_ms"]

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def _tick() -> tuple[int, int]:
    """The next (millisecond, counter) pair; call with the lock held."""
    global _last_ms, _counter
    now_ms = time.time_ns() // 1_000_000
    if now_ms > _last_ms:
        _last_ms = now_ms
        _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF  # leave room to count
    else:
        _counter += 1
        if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
            _last_ms += 1
            _counter = 0
    return _last_ms, _counter


def _make(ms: int, counter: int, random: int) -> uuid.UUID:
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76 | counter << 64 | 0b10 << 62 | (random & ((1 << 62) - 1))
    return uuid.UUID(int=value)


def uuid7() -> uuid.UUID:
    """Return a new UUIDv7, monotonic within this process."""
    with _lock:
        ms, counter = _tick()
    return _make(ms, counter, int.from_bytes(os.urandom(8), "big"))


def uuid7_many(count: int) -> list[uuid.UUID]:
    """Return ``count`` new UUIDv7s in order, with one call for their random bits."""
    entropy = os.urandom(8 * count)
    with _lock:
        ticks = [_tick() for _ in range(count)]
    return [
        _make(ms, counter, int.from_bytes(entropy[8 * i : 8 * i + 8], "big"))
        for i, (ms, counter) in enumerate(ticks)
    ]


def uuid7_time_ms(value: uuid.UUID) -> int:
    """Return the Unix time in milliseconds stored in a UUIDv7."""
    return value.int >> 80
