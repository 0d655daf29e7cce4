"""One keep-alive socket to an upstream and the HTTP/1.1 exchange under way on it.

The response is parsed by httptools (llhttp, in C) as bytes arrive; the socket stops being read
while `HIGH_WATER` response bytes wait for the gateway, and a request body is written no faster
than the upstream reads it. authgate.upstream pools these connections per origin.
"""

from __future__ import annotations

import asyncio
from typing import cast

import httptools

HIGH_WATER = 256 * 1024  # response bytes held before the upstream socket stops being read


class UpstreamError(Exception):
    """The upstream could not be used. `kind` names what failed, in httpx's words
    (ConnectError, ReadError, RemoteProtocolError...), for logs and the traffic monitor."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


class UpstreamTimeout(UpstreamError):
    """Connecting, writing, or waiting for the upstream took longer than the route allows."""


class Connection(asyncio.Protocol):
    """One socket to the upstream, and the state of the exchange under way on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser: httptools.HttpResponseParser | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.error: UpstreamError | None = None
        self.is_closed = False
        self.exchanges = 0
        self.idle_since = 0.0
        self.write_paused = False
        self.reading_paused = False
        # The time limit of the wait under way, watched by one timer that is moved lazily:
        # a timer made and cancelled for every wait cost more than the rest of the wait.
        self._deadline = 0.0
        self._timeout_kind = ""
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0
        self._reset(is_head=False)

    def _reset(self, *, is_head: bool) -> None:
        self.is_head = is_head
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.has_headers = False
        self.is_complete = False
        self.keep_alive = False
        self.got_bytes = False
        self.must_close = False  # the request body was cut short: the upstream may still read

    def start(self, *, is_head: bool) -> None:
        """Get ready for the next exchange (a fresh parser: llhttp cannot be told about HEAD)."""
        self._reset(is_head=is_head)
        self.exchanges += 1
        self.parser = httptools.HttpResponseParser(self)

    @property
    def is_usable(self) -> bool:
        transport = self.transport
        return not self.is_closed and transport is not None and not transport.is_closing()

    def close(self) -> None:
        self.is_closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.transport.close()

    def fail(self, error: UpstreamError) -> None:
        if self.error is None:
            self.error = error
        self.close()
        self._wake()

    async def wait(self, time_limit: float, kind: str) -> None:
        """Until the socket has news (data, end, room to write), or UpstreamTimeout(kind)."""
        loop = self.loop
        waiter = loop.create_future()
        self.waiter = waiter
        deadline = loop.time() + time_limit
        self._deadline = deadline
        self._timeout_kind = kind
        # The timer may stay set for a later time than this wait needs: it fires, finds the
        # deadline not yet reached and moves itself. Only an earlier deadline resets it.
        if self._timer is None or deadline < self._timer_due:
            self._set_timer(deadline)
        try:
            await waiter
        finally:
            self.waiter = None

    def _set_timer(self, due: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_at(due, self._on_timer)
        self._timer_due = due

    def _on_timer(self) -> None:
        self._timer = None
        waiter = self.waiter
        if waiter is None or waiter.done():
            return  # nothing waits: the next wait sets the timer again
        if self.loop.time() < self._deadline:
            self._set_timer(self._deadline)  # a later wait moved the deadline
            return
        waiter.set_exception(UpstreamTimeout(self._timeout_kind, "the upstream took too long"))

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's do not derive from asyncio.Transport).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        parser = self.parser
        if parser is None:  # nothing was asked: a server may not speak first
            self.fail(UpstreamError("RemoteProtocolError", "bytes outside an exchange"))
            return
        self.got_bytes = True
        try:
            parser.feed_data(data)
        except Exception as exc:  # malformed, a 101 nobody asked for, bytes after the answer
            if self.is_complete:
                self.close()  # the answer stands, the connection is not trusted again
            else:
                self.fail(UpstreamError("RemoteProtocolError", f"malformed answer: {exc!r}"))

    def eof_received(self) -> bool:
        self._end_of_stream()
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.is_closed = True
        self._end_of_stream()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake()

    def _end_of_stream(self) -> None:
        if self.parser is None or self.is_complete:
            self.close()
            return
        if self.has_headers and not any(
            name in (b"content-length", b"transfer-encoding") for name, _ in self.headers
        ):
            self._complete(keep_alive=False)  # a body delimited by the end of the connection
            self.close()
            return
        stage = "in the body" if self.has_headers else "before the answer"
        self.fail(UpstreamError("ReadError", f"the upstream closed the connection {stage}"))

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self.has_headers:  # the answer is complete: more is a second, unasked one
            raise ValueError("bytes after the answer")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        assert self.parser is not None  # noqa: S101 - only called while parsing
        status = self.parser.get_status_code()
        if status < 200:  # 100 Continue, 103 Early Hints: the real answer follows
            self.headers = []
            return
        self.status = status
        self.has_headers = True
        if self.is_head:
            self._complete(keep_alive=self.parser.should_keep_alive())
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.is_complete:  # a body after a HEAD answer: do not trust the connection again
            self.keep_alive = False
            return
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self.reading_paused and self.transport:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if not self.has_headers or self.is_complete:  # the end of a 1xx, or of a HEAD answer
            return
        assert self.parser is not None  # noqa: S101 - only called while parsing
        self._complete(keep_alive=self.parser.should_keep_alive())

    def _complete(self, *, keep_alive: bool) -> None:
        self.is_complete = True
        self.keep_alive = keep_alive
        self.parser = None
        self._wake()
