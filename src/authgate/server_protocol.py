"""uvicorn's httptools protocol with read deadlines (SPEC.md, Hardening: slow clients).

uvicorn closes a keep-alive connection left idle, but it waits for ever for the rest of a
request that has started: a client that sends its headers or its body a byte at a time holds
a connection, and the memory of a request, as long as it likes (slowloris). Here the headers
must be complete `header_timeout` seconds after the connection opens or the next request's
first byte arrives, and the body `body_timeout` seconds after the headers; a trickle of bytes
does not move either deadline. Past one, the client gets 408 (when no answer has begun) and
the connection is closed.

The connection cap (`max_connections`) is decided once per connection, when it opens: past the
cap, the connection's first request gets 503 and the connection is closed. Connections already
admitted are served whatever arrives after them (uvicorn's `limit_concurrency` instead refuses
every request on every connection while too many are open).

Both deadlines, and the close of a connection left idle between requests (uvicorn's
`timeout_keep_alive`), share one timer per connection that is armed once and moved lazily: a
request only writes down when its deadline falls, and the timer, when it fires early, re-arms
itself for the deadline of the moment. uvicorn arms and cancels a timer for each of these
events, three timers per request on a kept-alive connection (about 4 % of a token request).

Each answer leaves in one write: uvicorn writes the status line and headers, then the body,
each with its own `send` system call (and, with no Nagle delay, its own TCP segment, which the
client reads separately). Here the head of the answer is held until the first body write
(`_OneWriteTransport`), or at the latest until the event loop's next turn.

Over HTTPS each request's scope carries the ASGI TLS extension, with the client certificate
of the connection (`scope["extensions"]["tls"]`, see authgate.server_tls).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.server import ServerState

from authgate.server_tls import tls_extension

_TIMED_OUT = b"request timed out"
_REQUEST_TIMEOUT = b"".join(
    [
        STATUS_LINE[408],
        b"content-type: text/plain; charset=utf-8\r\n",
        b"content-length: %d\r\n" % len(_TIMED_OUT),
        b"connection: close\r\n\r\n",
        _TIMED_OUT,
    ]
)


_UNAVAILABLE_TEXT = b"Service Unavailable"
_UNAVAILABLE = b"".join(
    [
        STATUS_LINE[503],
        b"content-type: text/plain; charset=utf-8\r\n",
        b"content-length: %d\r\n" % len(_UNAVAILABLE_TEXT),
        b"connection: close\r\n\r\n",
        _UNAVAILABLE_TEXT,
    ]
)


class _OneWriteTransport:
    """The transport as one request's cycle sees it: the head of the answer waits for the
    first part of the body (or the loop's next turn) and both leave in one system call.

    Only a write made once the answer has started is the head: `100 Continue`, written while
    the request body is awaited, goes out at once. Once the client is gone, writes go nowhere.
    """

    __slots__ = ("cycle", "held", "is_head_next", "loop", "transport")

    def __init__(
        self,
        transport: asyncio.Transport,
        cycle: RequestResponseCycle,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.transport = transport
        self.cycle = cycle
        self.loop = loop  # asyncio.get_running_loop() is a getpid() system call each time
        self.held: bytes | None = None
        self.is_head_next = True

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport.is_closing():
            # The client is gone. uvicorn marks only the request in progress as disconnected:
            # the requests pipelined behind it still answer, and uvloop refuses a write to a
            # closed transport with a RuntimeError, an unhandled error of the request.
            self.held = None
            return
        held = self.held
        if held is not None:
            self.held = None
            transport.writelines((held, data))  # one writev
        elif self.is_head_next and self.cycle.response_started:
            self.is_head_next = False
            self.held = data
            # An answer whose body comes later (a streamed upstream) sends its head anyway.
            self.loop.call_soon(self.flush)
        else:
            transport.write(data)

    def flush(self) -> None:
        held = self.held
        if held is not None:
            self.held = None
            if not self.transport.is_closing():
                self.transport.write(held)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class DeadlineHttpProtocol(HttpToolsProtocol):
    """One HTTP/1.1 connection whose requests must arrive within their deadlines."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        header_timeout: float,
        body_timeout: float,
        max_connections: int,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.max_connections = max_connections
        self.is_admitted = False
        # When the connection is closed unless the request (or, when idle, the next one)
        # arrives; None: no deadline. The timer fires at the latest at that time.
        self.deadline: float | None = None
        self.is_idle = False  # the deadline is the keep-alive one: a close, not a 408
        self.timer: asyncio.TimerHandle | None = None
        self.tls: dict[object, object] | None = None  # uvicorn's type of an extension

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn narrows the transport the same way
        admitted = sum(1 for c in self.connections if getattr(c, "is_admitted", False))
        self.is_admitted = admitted < self.max_connections
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:  # the handshake is over: its client certificate is known
            self.tls = tls_extension(ssl_object)
        self._set_deadline(self.header_timeout)  # the first request's headers

    def connection_lost(self, exc: Exception | None) -> None:
        self.deadline = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.tls is not None:
            self.scope["extensions"] = {"tls": self.tls}
        if self.deadline is None or self.is_idle:  # the next request on a kept-alive connection
            self._set_deadline(self.header_timeout)

    def on_headers_complete(self) -> None:
        if not self.is_admitted:
            self.deadline = None
            self.transport.write(_UNAVAILABLE)
            self.transport.close()
            return
        self._set_deadline(self.body_timeout)
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not previous:  # a new request's cycle (not an upgrade)
            cycle.transport = _OneWriteTransport(self.transport, cycle, self.loop)  # type: ignore[assignment]  # the cycle only writes, closes and asks is_closing

    def on_body(self, body: bytes) -> None:
        if self.is_admitted:  # a refused request has no cycle to take its body
            super().on_body(body)

    def on_message_complete(self) -> None:
        self.deadline = None
        if self.is_admitted:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        """uvicorn's, with the keep-alive close as this connection's deadline, not a timer."""
        transport = self.cycle.transport
        if isinstance(transport, _OneWriteTransport):
            transport.flush()  # a HEAD answer's head, which no body write follows
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:  # the requests pipelined behind this one, in order
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        elif self.deadline is None:  # else the next request has begun: its deadline holds
            self._set_deadline(self.timeout_keep_alive, idle=True)

    def _set_deadline(self, seconds: float, *, idle: bool = False) -> None:
        loop = self.loop
        deadline = self.deadline = loop.time() + seconds
        self.is_idle = idle
        timer = self.timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self.timer = loop.call_at(deadline, self._deadline_reached)

    def _deadline_reached(self) -> None:
        self.timer = None
        deadline = self.deadline
        if deadline is None:
            return
        if self.loop.time() < deadline:  # moved since the timer was armed: wait for it
            self.timer = self.loop.call_at(deadline, self._deadline_reached)
            return
        self.deadline = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        cycle = self.cycle
        # A 408 only where it cannot land in the middle of an answer already under way.
        if not self.is_idle and (
            cycle is None or cycle.response_complete or not cycle.response_started
        ):
            transport.write(_REQUEST_TIMEOUT)
        transport.close()
