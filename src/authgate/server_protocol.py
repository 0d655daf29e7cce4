"""authgate's HTTP/1.1 connection: requests parsed by httptools, answered by the ASGI app.

uvicorn runs the server (sockets, workers, lifespan, signals, TLS); each connection it accepts
is served here. uvicorn's own httptools protocol cost more per request than it needs to: on
one core a bare ASGI app answered 32,500 requests/s through it and 46,700 through this one,
and authgate's token endpoints took a quarter less CPU per request (a scope, a task and two
coroutine calls per request; no `asyncio.Event`, no timer per request, no access-log branches).

Read deadlines (SPEC.md, Hardening: slow clients). The headers must be complete
`header_timeout` seconds after the connection opens or the next request's first byte arrives,
and the body `body_timeout` seconds after the headers; a trickle of bytes does not move either
deadline. Past one, the client gets 408 (when no answer has begun) and the connection is
closed. An idle kept-alive connection is closed after uvicorn's `timeout_keep_alive`. All three
share one timer per connection that is armed once and moved lazily: a request only writes down
when its deadline falls, and the timer, when it fires early, re-arms itself for the deadline of
the moment.

The connection cap (`max_connections`) is decided once per connection, when it opens: past the
cap, the connection's first request gets 503 and the connection is closed. Connections already
admitted are served whatever arrives after them.

Each request is an Exchange (authgate.http_exchange): its answer leaves in one write.

Over HTTPS each request's scope carries the ASGI TLS extension, with the client certificate
of the connection (`scope["extensions"]["tls"]`, see authgate.server_tls).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any
from urllib.parse import unquote

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.utils import get_local_addr, get_remote_addr, is_ssl
from uvicorn.server import ServerState

from authgate.http_exchange import Exchange, plain_answer, release
from authgate.server_tls import tls_extension

_REQUEST_TIMEOUT = plain_answer(408, b"request timed out")
_UNAVAILABLE = plain_answer(503, b"Service Unavailable")
_BAD_REQUEST = plain_answer(400, b"Invalid HTTP request received.")


class HttpProtocol(asyncio.Protocol):
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
        if not config.loaded:
            config.load()
        self.app = config.loaded_app
        self.loop = _loop or asyncio.get_event_loop()
        self.root_path: str = config.root_path
        self.asgi = {"version": config.asgi_version, "spec_version": "2.3"}
        self.timeout_keep_alive: float = config.timeout_keep_alive
        self.app_state = app_state
        self.server_state = server_state
        self.connections: set[Any] = server_state.connections
        self.tasks: set[asyncio.Task[None]] = server_state.tasks
        self.parser = httptools.HttpRequestParser(self)
        # Answer the first of pipelined requests even when a later one says `close`.
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.max_connections = max_connections
        self.is_admitted = False
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set when made
        self.server: tuple[str, int | None] | None = None
        self.client: tuple[str, int] | None = None
        self.scheme = "http"
        self.tls: dict[object, object] | None = None  # uvicorn's type of an extension
        # The request being read (its body goes here), the one being answered, and those
        # read while it was answered, in order.
        self.reading: Exchange | None = None
        self.answering: Exchange | None = None
        self.pipeline: deque[Exchange] = deque()
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.expects_continue = False
        self.read_paused = False
        self.writable: asyncio.Future[None] | None = None  # set while writing is paused
        # When the connection is closed unless the request (or, when idle, the next one)
        # arrives; None: no deadline. The timer fires at the latest at that time.
        self.deadline: float | None = None
        self.is_idle = False  # the deadline is the keep-alive one: a close, not a 408
        self.timer: asyncio.TimerHandle | None = None

    # The transport's calls.

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # a stream server's (uvloop's is no asyncio.Transport subclass)
        admitted = sum(1 for c in self.connections if getattr(c, "is_admitted", False))
        self.is_admitted = admitted < self.max_connections
        self.connections.add(self)
        self.transport = transport
        self.server = get_local_addr(transport)
        self.client = get_remote_addr(transport)
        if is_ssl(transport):
            self.scheme = "https"
            ssl_object = transport.get_extra_info("ssl_object")
            if ssl_object is not None:  # the handshake is over: its client certificate is known
                self.tls = tls_extension(ssl_object)
        self._set_deadline(self.header_timeout)  # the first request's headers

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self.deadline = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for exchange in (self.answering, self.reading):
            if exchange is not None and not exchange.is_complete:
                exchange.disconnected = True
                exchange.wake()
        self.pipeline.clear()
        self.resume_writing()
        if exc is None:
            self.transport.close()

    def eof_received(self) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # No upgrade is offered (no WebSocket): the request was answered as plain HTTP;
            # what follows its head is not HTTP and is not read.
            exchange = self.reading
            if exchange is not None:
                exchange.keep_alive = False
                if exchange.more_body:
                    exchange.more_body = False
                    exchange.wake()
            self.pause_reading()
        except httptools.HttpParserError:
            if self.answering is None or self.answering.is_complete:
                self.transport.write(_BAD_REQUEST)
            self.transport.close()

    def pause_writing(self) -> None:
        if self.writable is None:
            self.writable = self.loop.create_future()

    def resume_writing(self) -> None:
        writable, self.writable = self.writable, None
        release(writable)

    # The parser's calls.

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.expects_continue = False
        if self.deadline is None or self.is_idle:  # the next request on a kept-alive connection
            self._set_deadline(self.header_timeout)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        value = value.rstrip(b" \t")  # llhttp keeps trailing whitespace (RFC 9110 5.5)
        if name == b"expect" and value.lower() == b"100-continue":
            self.expects_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if not self.is_admitted:
            self.deadline = None
            self.transport.write(_UNAVAILABLE)
            self.transport.close()
            return
        self._set_deadline(self.body_timeout)
        parser = self.parser
        http_version = parser.get_http_version()
        url = httptools.parse_url(self.url)
        raw_path = url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = unquote(path)
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": self.asgi,
            "http_version": http_version,
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "method": parser.get_method().decode("ascii"),
            "root_path": self.root_path,
            "path": self.root_path + path,
            "raw_path": self.root_path.encode("ascii") + raw_path,
            "query_string": url.query or b"",
            "headers": self.headers,
            "state": self.app_state.copy(),
        }
        if self.tls is not None:
            scope["extensions"] = {"tls": self.tls}
        exchange = self.reading = Exchange(
            self,
            scope,
            keep_alive=http_version != "1.0" and parser.should_keep_alive(),
            expects_continue=self.expects_continue,
        )
        if self.answering is None:
            self._answer(exchange)
        else:  # pipelined behind the request being answered: read no further meanwhile
            self.pause_reading()
            self.pipeline.append(exchange)

    def on_body(self, body: bytes) -> None:
        exchange = self.reading  # None on a refused connection: it is given no exchange
        if exchange is None or exchange.is_complete:
            return
        exchange.body += body
        if len(exchange.body) > HIGH_WATER_LIMIT:  # the app reads slower: stop reading
            self.pause_reading()
        exchange.wake()

    def on_message_complete(self) -> None:
        self.deadline = None
        exchange = self.reading
        if exchange is None or exchange.is_complete:
            return
        exchange.more_body = False
        exchange.wake()

    # The answers.

    def _answer(self, exchange: Exchange) -> None:
        self.answering = exchange
        task = self.loop.create_task(exchange.run(self.app))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def answered(self) -> None:
        """An answer is complete: the next pipelined request, or the keep-alive deadline."""
        self.server_state.total_requests += 1
        self.answering = None
        if self.transport.is_closing():
            return
        self.resume_reading()
        if self.pipeline:
            self._answer(self.pipeline.popleft())
        elif self.deadline is None:  # else the next request has begun: its deadline holds
            self._set_deadline(self.timeout_keep_alive, idle=True)

    def shutdown(self) -> None:
        """The server is stopping: close now when idle, else after the answer under way."""
        exchange = self.answering
        if exchange is None:
            self.transport.close()
        else:
            exchange.keep_alive = False

    def pause_reading(self) -> None:
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    # The deadlines.

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
        if transport.is_closing():
            return
        # A 408 only where it cannot land in the middle of an answer already under way.
        exchange = self.answering
        if not self.is_idle and (exchange is None or not exchange.is_started):
            transport.write(_REQUEST_TIMEOUT)
        transport.close()
