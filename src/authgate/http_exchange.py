"""One request on an HTTP/1.1 connection and its answer: the `receive` and `send` of the ASGI
app's call (the connection itself is authgate.server_protocol).

Each answer leaves in one write: the head is held until the first part of the body (or, for
an answer whose body comes later, such as a streamed upstream, the event loop's next turn) and
both go out in one `writev`. `100 Continue` goes out at once, when the app first asks for a
body that is still to come. An answer without a length goes in chunks; a header that is not
HTTP (a CR or LF in a value would split the answer) fails the app's `send`, so the client gets
500, not what the header would have made of the answer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

# uvicorn's status lines and its checks of a field name (token characters only) and value.
from uvicorn.protocols.http.httptools_impl import HEADER_RE, HEADER_VALUE_RE, STATUS_LINE

if TYPE_CHECKING:
    from authgate.server_protocol import HttpProtocol

log = logging.getLogger("authgate.server")


def plain_answer(status: int, text: bytes) -> bytes:
    """A whole answer that closes the connection: for what is refused before any app runs."""
    return b"".join(
        [
            STATUS_LINE[status],
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(text),
            b"connection: close\r\n\r\n",
            text,
        ]
    )


_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_SERVER_ERROR_TEXT = b"Internal Server Error"
_SERVER_ERROR_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", b"%d" % len(_SERVER_ERROR_TEXT)),
    (b"connection", b"close"),
]
_BAD_NAME = HEADER_RE.search
_BAD_VALUE = HEADER_VALUE_RE.search
_NO_BODY_STATUS = frozenset({204, 304})


def release(waiter: asyncio.Future[None] | None) -> None:
    """Let whoever awaits `waiter` go on (a future nobody cancelled yet)."""
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class Exchange:
    """One request and its answer: the `receive` and `send` of the app's call."""

    __slots__ = (
        "body",
        "body_delivered",
        "chunked",
        "connection",
        "disconnected",
        "head",
        "is_complete",
        "is_head_request",
        "is_started",
        "keep_alive",
        "more_body",
        "remaining",
        "scope",
        "waiter",
        "waiting_for_continue",
    )

    def __init__(
        self,
        connection: HttpProtocol,
        scope: dict[str, Any],
        *,
        keep_alive: bool,
        expects_continue: bool,
    ) -> None:
        self.connection = connection
        self.scope = scope
        self.keep_alive = keep_alive
        self.waiting_for_continue = expects_continue
        self.is_head_request = scope["method"] == "HEAD"
        self.body = b""  # received, not yet handed to the app
        self.more_body = True  # the request's body has not ended
        self.body_delivered = False  # the app has had its last part
        self.waiter: asyncio.Future[None] | None = None  # a `receive` waiting for data
        self.disconnected = False
        self.is_started = False
        self.is_complete = False
        self.head: bytes | None = None  # the answer's head, held for its first body write
        self.chunked = False
        self.remaining = 0  # bytes the announced content-length still expects

    async def run(self, app: Any) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except Exception as exc:
            log.error("unhandled error answering %s", self.scope["path"], exc_info=exc)
            if not self.is_started:
                await self.send_server_error()
            else:  # the head may be out: nothing can be said
                self.abandon()
        except BaseException:  # cancelled (the server stops): the connection ends with it
            self.abandon()
            raise
        else:
            if self.disconnected:
                return
            if not self.is_started:
                log.error("no answer to %s", self.scope["path"])
                await self.send_server_error()
            elif not self.is_complete:
                log.error("unfinished answer to %s", self.scope["path"])
                self.abandon()

    def abandon(self) -> None:
        """End the connection with nothing more written, not even a head still held."""
        self.head = None
        self.connection.transport.close()

    async def send_server_error(self) -> None:
        start = {"type": "http.response.start", "status": 500, "headers": _SERVER_ERROR_HEADERS}
        await self.send(start)
        await self.send({"type": "http.response.body", "body": _SERVER_ERROR_TEXT})

    def wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        release(waiter)

    async def receive(self) -> dict[str, Any]:
        connection = self.connection
        if self.waiting_for_continue:
            self.waiting_for_continue = False
            if not connection.transport.is_closing():
                connection.transport.write(_CONTINUE)
        # Wait for a part of the body; once all of it was handed over, for the end of the
        # answer or of the connection (how an app learns that its client has gone).
        while not (self.disconnected or self.is_complete) and (
            self.body_delivered or (self.more_body and not self.body)
        ):
            connection.resume_reading()
            waiter = self.waiter = connection.loop.create_future()
            await waiter
        if self.disconnected or self.is_complete:
            return {"type": "http.disconnect"}
        body = self.body
        self.body = b""
        more_body = self.more_body
        if not more_body:
            self.body_delivered = True
        else:
            connection.resume_reading()
        return {"type": "http.request", "body": body, "more_body": more_body}

    async def send(self, message: dict[str, Any]) -> None:
        connection = self.connection
        if connection.writable is not None and not self.disconnected:
            await connection.writable  # the client reads slower than the app writes
        if self.disconnected:
            return
        kind = message["type"]
        if not self.is_started:
            if kind != "http.response.start":
                raise RuntimeError(f"expected http.response.start, got {kind!r}")
            self.start(message["status"], message.get("headers", ()))
            return
        if self.is_complete:
            raise RuntimeError(f"{kind!r} after the answer was complete")
        if kind != "http.response.body":
            raise RuntimeError(f"expected http.response.body, got {kind!r}")
        body = message.get("body", b"")
        more_body = message.get("more_body", False)
        if self.is_head_request:
            data = b""
        elif self.chunked:
            data = b"%x\r\n%b\r\n" % (len(body), body) if body else b""
            if not more_body:
                data += b"0\r\n\r\n"
        else:
            self.remaining -= len(body)
            if self.remaining < 0:
                raise RuntimeError("answer longer than its content-length")
            data = body
        self.write(data)
        if not more_body:
            if self.remaining and not self.is_head_request:
                raise RuntimeError("answer shorter than its content-length")
            self.is_complete = True
            self.wake()
            if not self.keep_alive:
                connection.transport.close()
            connection.answered()

    def start(self, status: int, headers: Any) -> None:
        """The answer's head, held until its body (or the loop's next turn). A header that
        is not HTTP raises before anything is set, so the app's failure can still be a 500."""
        lines = [STATUS_LINE[status]]
        for name, value in self.connection.server_state.default_headers:
            lines += (name, b": ", value, b"\r\n")
        length: int | None = None
        chunked = says_close = False
        for name, value in headers:
            if _BAD_NAME(name) or _BAD_VALUE(value):
                raise RuntimeError(f"invalid header {name!r} in the answer")
            name = name.lower()
            if name == b"content-length":
                if length is None:
                    length = int(value)
            elif name == b"transfer-encoding":
                chunked = chunked or value.lower() == b"chunked"
            elif name == b"connection":
                says_close = says_close or b"close" in value.lower()
            lines += (name, b": ", value, b"\r\n")
        if not chunked:
            if length is not None:
                self.remaining = length
            elif not self.is_head_request and status not in _NO_BODY_STATUS:
                chunked = True  # neither a length nor chunks announced: chunks
                lines.append(b"transfer-encoding: chunked\r\n")
        if says_close:
            self.keep_alive = False
        elif not self.keep_alive:
            lines.append(b"connection: close\r\n")
        lines.append(b"\r\n")
        self.chunked = chunked
        self.is_started = True
        self.waiting_for_continue = False
        self.head = b"".join(lines)
        self.connection.loop.call_soon(self.flush)

    def write(self, data: bytes) -> None:
        transport = self.connection.transport
        if transport.is_closing():
            # The client is gone; a write to a closed uvloop transport is a RuntimeError.
            self.head = None
            return
        head = self.head
        if head is not None:
            self.head = None
            if data:
                transport.writelines((head, data))  # one writev
            else:
                transport.write(head)
        elif data:
            transport.write(data)

    def flush(self) -> None:
        """The head of an answer whose body has not come in the same turn."""
        if self.head is not None:
            self.write(b"")
