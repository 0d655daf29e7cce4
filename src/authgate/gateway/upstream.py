"""The gateway's upstream client: HTTP/1.1 over keep-alive connections pooled per origin.

httpx and its pure-Python parser (h11) cost more than the rest of a gateway request together.
This client does only what the gateway needs: one request at a time per connection, the
request head written by hand, the response parsed by httptools (llhttp, in C), and both bodies
streamed with flow control: a request body is written no faster than the upstream reads it,
and the upstream socket stops being read while `HIGH_WATER` response bytes wait for the caller.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import ssl
from collections.abc import AsyncIterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from authgate.gateway.connection import Connection, UpstreamError, UpstreamTimeout

IDLE_SECONDS = 30.0  # an idle connection older than this is closed rather than reused
STALE_RETRIES = 2  # fresh tries for a bodiless request whose kept-alive connection was dead
_BODY_METHODS = frozenset({b"POST", b"PUT", b"PATCH"})  # get `content-length: 0` (as httpx)

Body = bytes | AsyncIterable[bytes] | None


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Target:
    """An upstream base URL, split once: where to connect and what goes before each path."""

    origin: Origin
    base_path: bytes  # b"" or b"/base", never ending in "/"
    host_header: bytes
    authorization: bytes | None  # Basic credentials from the URL's user info (httpx sends them)

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        default = 443 if parts.scheme == "https" else 80
        port = parts.port or default
        host = parts.hostname
        shown = f"[{host}]" if ":" in host else host
        host_header = shown if port == default else f"{shown}:{port}"
        authorization = None
        if parts.username is not None or parts.password is not None:
            pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
            authorization = b"Basic " + base64.b64encode(pair.encode())
        return cls(
            Origin(parts.scheme, host, port),
            parts.path.rstrip("/").encode("latin-1"),
            host_header.encode("ascii" if host_header.isascii() else "idna"),
            authorization,
        )


class UpstreamResponse:
    """Status and headers of an answer whose body is read with `read()` until b""."""

    __slots__ = ("_closed", "_conn", "_pool", "_timeout", "headers", "status")

    def __init__(self, pool: _OriginPool, conn: Connection, time_limit: float) -> None:
        self._pool = pool
        self._conn = conn
        self._timeout = time_limit
        self._closed = False
        self.status = conn.status
        self.headers = conn.headers  # names in lower case, in the upstream's order

    @property
    def is_complete(self) -> bool:
        """The whole body has arrived: `take()` returns it all, with no waiting."""
        return self._conn.is_complete

    def take(self) -> bytes:
        """The body bytes that have arrived and not been taken yet."""
        conn = self._conn
        chunks = conn.chunks
        if not chunks:
            return b""
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        conn.chunks = []
        conn.buffered = 0
        if conn.reading_paused:
            conn.reading_paused = False
            if conn.transport is not None:
                conn.transport.resume_reading()
        return data

    async def read(self) -> bytes:
        """The next part of the body; b"" at its end (the connection goes back to the pool)."""
        conn = self._conn
        while True:
            if conn.chunks:
                return self.take()
            if conn.is_complete:
                self.close()
                return b""
            if conn.error is not None:
                self.close()
                raise conn.error
            try:
                await conn.wait(self._timeout, "ReadTimeout")
            except BaseException:
                self.abort()
                raise

    def close(self) -> None:
        """Done with the answer: the connection is reused if it was read to its end cleanly."""
        if not self._closed:
            self._closed = True
            self._pool.release(self._conn)

    def abort(self) -> None:
        """Stop now (the client left): the connection is closed, a `read()` under way fails."""
        if not self._closed:  # once closed, the connection may already serve someone else
            self._conn.fail(UpstreamError("ReadError", "aborted"))
            self.close()


class _OriginPool:
    """Connections to one origin: idle ones reused last-in first-out, at most `limit` open."""

    def __init__(self, origin: Origin, limit: int, tls: ssl.SSLContext | None) -> None:
        self.loop = asyncio.get_running_loop()
        self.origin = origin
        self.limit = limit
        self.tls = tls
        self.idle: list[Connection] = []
        self.size = 0  # open connections, idle or in use
        self.waiters: collections.deque[asyncio.Future[Connection | None]] = collections.deque()
        self.is_closed = False

    async def acquire(self, time_limit: float) -> Connection:
        loop = self.loop
        now = loop.time()
        while self.idle:
            conn = self.idle.pop()
            if conn.is_usable and now - conn.idle_since < IDLE_SECONDS:
                return conn
            self._discard(conn)
        if self.size < self.limit:
            self.size += 1
            return await self._connect(time_limit)
        waiter: asyncio.Future[Connection | None] = loop.create_future()
        self.waiters.append(waiter)
        timer = loop.call_later(time_limit, _expire_pool, waiter)
        try:
            given = await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._hand_back(waiter.result())  # cancelled just as a connection came
            raise
        finally:
            timer.cancel()
        if given is None:  # a slot was freed for this waiter: it opens the connection
            return await self._connect(time_limit)
        return given

    def _hand_back(self, conn: Connection | None) -> None:
        if conn is None:
            self.size -= 1
            self._free_slot()
        else:
            self.release(conn)

    async def _connect(self, time_limit: float) -> Connection:
        """Open a connection for a slot already counted in `size` (given back on failure)."""
        loop = self.loop
        origin = self.origin
        try:
            async with asyncio.timeout(time_limit):
                _, conn = await loop.create_connection(
                    lambda: Connection(loop),
                    origin.host,
                    origin.port,
                    ssl=self.tls,
                    server_hostname=origin.host if self.tls else None,
                )
        except BaseException as exc:
            self.size -= 1
            self._free_slot()
            if isinstance(exc, TimeoutError):
                raise UpstreamTimeout("ConnectTimeout", "connecting took too long") from None
            if isinstance(exc, OSError):  # refused, unreachable, name unknown, TLS refused
                raise UpstreamError("ConnectError", str(exc) or type(exc).__name__) from exc
            raise
        return conn

    def release(self, conn: Connection) -> None:
        """An exchange is over: keep the connection if it may carry another one."""
        if (
            self.is_closed
            or not conn.is_complete
            or not conn.keep_alive
            or conn.must_close
            or conn.chunks
            or not conn.is_usable
        ):
            self._discard(conn)
            return
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        conn.idle_since = conn.loop.time()
        self.idle.append(conn)

    def _discard(self, conn: Connection) -> None:
        conn.close()
        self.size -= 1
        self._free_slot()

    def _free_slot(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                self.size += 1
                waiter.set_result(None)
                return

    def close(self) -> None:
        self.is_closed = True
        for conn in self.idle:
            conn.close()
        self.size -= len(self.idle)
        self.idle.clear()


def _expire_pool(waiter: asyncio.Future[Connection | None]) -> None:
    if not waiter.done():
        waiter.set_exception(UpstreamTimeout("PoolTimeout", "no free upstream connection"))


class UpstreamPool:
    """Keep-alive HTTP/1.1 connections to every upstream the gateway calls."""

    def __init__(self, *, max_connections: int = 100, tls: ssl.SSLContext | None = None) -> None:
        self.max_connections = max_connections  # per origin
        self._pools: dict[Origin, _OriginPool] = {}
        self._tls = tls  # default: ssl.create_default_context(), made on the first https call

    def _pool(self, origin: Origin) -> _OriginPool:
        pool = self._pools.get(origin)
        if pool is None:
            tls = None
            if origin.scheme == "https":
                if self._tls is None:
                    self._tls = ssl.create_default_context()
                    self._tls.set_alpn_protocols(["http/1.1"])
                tls = self._tls
            pool = self._pools[origin] = _OriginPool(origin, self.max_connections, tls)
        return pool

    async def request(
        self,
        target: Target,
        method: bytes,
        path: bytes,
        headers: list[tuple[bytes, bytes]],
        body: Body,
        *,
        content_length: int | None,
        time_limit: float,
    ) -> UpstreamResponse:
        """Send one request and wait for the head of its answer.

        `path` is the request target (path and query, already encoded); `headers` must not
        hold `host` nor framing (`content-length`, `transfer-encoding`): a `bytes` body is
        sent with its length, a stream with `content_length` if given, else chunked.
        """
        head = _head(target, method, path, headers, body, content_length)
        pool = self._pool(target.origin)
        can_retry = body is None or isinstance(body, bytes)
        for attempt in range(STALE_RETRIES + 1):
            conn = await pool.acquire(time_limit)
            was_used = conn.exchanges > 0
            conn.start(is_head=method == b"HEAD")
            try:
                await _send(conn, head, body, content_length, time_limit)
                while not conn.has_headers:
                    if conn.error is not None:
                        raise conn.error
                    await conn.wait(time_limit, "ReadTimeout")
            except UpstreamError as exc:
                pool._discard(conn)
                stale = was_used and not conn.got_bytes and not isinstance(exc, UpstreamTimeout)
                if stale and can_retry and attempt < STALE_RETRIES:
                    continue  # the upstream had closed it while idle: try a fresh connection
                raise
            except BaseException:
                pool._discard(conn)
                raise
            return UpstreamResponse(pool, conn, time_limit)
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


def _head(
    target: Target,
    method: bytes,
    path: bytes,
    headers: list[tuple[bytes, bytes]],
    body: Body,
    content_length: int | None,
) -> bytes:
    lines = [
        method,
        b" ",
        target.base_path,
        path,
        b" HTTP/1.1\r\nhost: ",
        target.host_header,
        b"\r\n",
    ]
    count = 2  # line breaks so far: the request line and `host`
    if target.authorization is not None:
        lines += (b"authorization: ", target.authorization, b"\r\n")
        count += 1
    for name, value in headers:
        lines += (name, b": ", value, b"\r\n")
    count += len(headers)
    if isinstance(body, bytes):
        lines += (b"content-length: ", str(len(body)).encode(), b"\r\n")
        count += 1
    elif body is not None:
        if content_length is None:
            lines.append(b"transfer-encoding: chunked\r\n")
        else:
            lines += (b"content-length: ", str(content_length).encode(), b"\r\n")
        count += 1
    elif method in _BODY_METHODS:
        lines.append(b"content-length: 0\r\n")
        count += 1
    lines.append(b"\r\n")
    head = b"".join(lines)
    # One line per header and nothing else: a CR or LF inside a name, value or path would
    # let the caller's bytes start a header of their own (request smuggling).
    if head.count(b"\n") != count + 1 or head.count(b"\r") != count + 1:
        raise ValueError("a line break in the request line or a header")
    return head


async def _send(
    conn: Connection, head: bytes, body: Body, content_length: int | None, time_limit: float
) -> None:
    """Write the request; stop early (no error) if the upstream answers before the end."""
    transport = conn.transport
    if transport is None or not conn.is_usable:
        raise conn.error or UpstreamError("WriteError", "the connection is closed")
    if body is None or isinstance(body, bytes):
        transport.write(head + body if body else head)
        return
    transport.write(head)
    chunked = content_length is None
    sent = 0
    async for chunk in body:
        if not chunk:
            continue
        if conn.has_headers or conn.error is not None:
            break
        sent += len(chunk)
        if chunked:
            transport.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
        else:
            transport.write(chunk)
        while conn.write_paused and conn.error is None and not conn.has_headers:
            await conn.wait(time_limit, "WriteTimeout")
    if conn.has_headers:  # answered early: the rest of the body is not sent, so no reuse
        conn.must_close = True
        return
    if conn.error is not None:
        raise conn.error
    if chunked:
        transport.write(b"0\r\n\r\n")
    elif sent != content_length:
        error = UpstreamError("WriteError", f"a body of {sent} bytes, not {content_length}")
        conn.fail(error)
        raise error
