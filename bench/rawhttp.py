"""A lean HTTP/1.1 client for the load generator: keep-alive connections on asyncio streams.

A general client (httpx) spends about 1.5 ms of CPU per request in Python; on a 2-core
machine the load generator would then take a core from the server it measures. This one
writes a prepared request and reads the status line, the headers and a ``Content-Length``
body: what ``parloir serve`` answers, and nothing more (no chunked bodies, no redirects, no
TLS). Every connection is to loopback.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

__all__ = ["Answer", "Pool"]

Answer = tuple[int, bytes]
"""Status code and body."""

IDLE_LIMIT_S = 4.0
"""An idle connection older than this is closed rather than reused: uvicorn closes a
keep-alive connection after 5 s without a request, and a request written to a connection the
server is closing is lost."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = time.monotonic()

    def reusable(self) -> bool:
        """Whether the server may still read a request from this idle connection."""
        fresh = time.monotonic() - self.idle_since < IDLE_LIMIT_S
        return fresh and not self.reader.at_eof() and not self.writer.is_closing()

    async def exchange(self, request: bytes) -> Answer:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        self.writer.close()


class Pool:
    """Up to ``size`` keep-alive connections to ``host:port``; a request takes the most
    recently used idle one or opens a new one. A connection that fails, that the server has
    closed, or that has been idle too long, is dropped."""

    def __init__(self, host: str, port: int, headers: dict[str, str], size: int) -> None:
        self.host = host
        self.port = port
        fixed = [f"Host: {host}:{port}", "Content-Type: application/json"]
        fixed += [f"{name}: {value}" for name, value in headers.items()]
        self._fixed = "\r\n".join(fixed)
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(size)

    def request(self, method: str, path: str, body: Any) -> bytes:
        """The bytes of one request with a JSON body."""
        payload = json.dumps(body, separators=(",", ":")).encode()
        head = f"{method} {path} HTTP/1.1\r\n{self._fixed}\r\n"
        return f"{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload

    async def send(self, request: bytes, timeout: float) -> Answer:
        """Send a prepared request; raise on a connection error or after ``timeout`` s."""
        async with self._slots:
            connection = await self._take()
            try:
                answer = await asyncio.wait_for(connection.exchange(request), timeout)
            except BaseException:
                connection.close()
                raise
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
            return answer

    async def _take(self) -> _Connection:
        """The most recently used idle connection still reusable, or a new one."""
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable():
                return connection
            connection.close()
        return await self._open()

    async def _open(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return _Connection(reader, writer)

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()
