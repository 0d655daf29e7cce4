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

Over HTTPS each request's scope carries the ASGI TLS extension, with the client certificate
of the connection (`scope["extensions"]["tls"]`, see authgate.server_tls).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
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
        self.read_deadline: asyncio.TimerHandle | None = None
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
        self._clear_deadline()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.tls is not None:
            self.scope["extensions"] = {"tls": self.tls}
        if self.read_deadline is None:  # the next request on a kept-alive connection
            self._set_deadline(self.header_timeout)

    def on_headers_complete(self) -> None:
        if not self.is_admitted:
            self._clear_deadline()
            self.transport.write(_UNAVAILABLE)
            self.transport.close()
            return
        self._set_deadline(self.body_timeout)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self.is_admitted:  # a refused request has no cycle to take its body
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._clear_deadline()
        if self.is_admitted:
            super().on_message_complete()

    def _set_deadline(self, seconds: float) -> None:
        self._clear_deadline()
        self.read_deadline = self.loop.call_later(seconds, self._deadline_passed)

    def _clear_deadline(self) -> None:
        if self.read_deadline is not None:
            self.read_deadline.cancel()
            self.read_deadline = None

    def _deadline_passed(self) -> None:
        self.read_deadline = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        cycle = self.cycle
        # A 408 only where it cannot land in the middle of an answer already under way.
        if cycle is None or cycle.response_complete or not cycle.response_started:
            transport.write(_REQUEST_TIMEOUT)
        transport.close()
