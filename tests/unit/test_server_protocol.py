"""authgate.server_protocol: each answer leaves the server in one write, and the HTTP/1.1
rules a connection keeps (pipelining, chunks, close, errors, a client that leaves).

Driven through the real protocol, with a transport that records what the server writes (a
socket could not tell one write from two). The deadlines and the connection cap are tested
over real sockets in tests/e2e/test_slow_clients.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.lifespan.off import LifespanOff
from uvicorn.server import ServerState

from authgate.server_protocol import HttpProtocol

pytestmark = pytest.mark.anyio


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        self.writes.append(b"".join(list_of_data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


LEFT: list[str] = []  # what /wait's receive said once the body was read


async def hello(scope: Any, receive: Any, send: Any) -> None:
    path = scope["path"]
    if path == "/upload":
        await receive()  # the body, after `100 Continue`
    elif path == "/echo":
        body = b""
        while True:
            message = await receive()
            body += message["body"]
            if not message["more_body"]:
                break
        start = {"type": "http.response.start", "status": 200, "headers": []}
        await send(start)  # no content-length: the answer goes in chunks
        await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    elif path == "/wait":
        await receive()
        LEFT.append((await receive())["type"])  # waits for the client to leave
        return
    elif path == "/fail":
        raise RuntimeError("the app failed")
    elif path in ("/fail-late", "/unfinished"):
        headers = [(b"content-length", b"5")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if path == "/fail-late":
            raise RuntimeError("the app failed after its head")
        return  # an answer begun and never ended
    elif path == "/inject":
        headers = [(b"location", b"/a\r\nset-cookie: x=1")]
        await send({"type": "http.response.start", "status": 302, "headers": headers})
        return
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"5")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if scope["path"] == "/slow":
        await asyncio.sleep(0.05)  # the body comes later, as from a streamed upstream
    await send({"type": "http.response.body", "body": b"hello"})


def connected() -> tuple[HttpProtocol, RecordingTransport]:
    config = Config(app=hello, log_level="error")
    config.load()
    protocol = HttpProtocol(
        config,
        ServerState(),
        LifespanOff(config).state,
        asyncio.get_running_loop(),
        header_timeout=10,
        body_timeout=30,
        max_connections=10,
    )
    transport = RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def answered(protocol: HttpProtocol, request: bytes) -> None:
    protocol.data_received(request)
    for _ in range(100):
        await asyncio.sleep(0.01)
        if protocol.answering is None and not protocol.tasks:
            return


async def test_the_head_and_the_body_leave_in_one_write() -> None:
    protocol, transport = connected()
    await answered(protocol, b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.writes[0].endswith(b"\r\n\r\nhello")


async def test_a_head_answer_is_written_though_no_body_follows() -> None:
    protocol, transport = connected()
    await answered(protocol, b"HEAD / HTTP/1.1\r\nhost: a\r\n\r\n")
    assert len(transport.writes) == 1
    assert transport.writes[0].endswith(b"content-length: 5\r\n\r\n")


async def test_the_head_goes_out_before_a_body_that_comes_later() -> None:
    protocol, transport = connected()
    protocol.data_received(b"GET /slow HTTP/1.1\r\nhost: a\r\n\r\n")
    await asyncio.sleep(0.02)  # the answer has started, its body not yet
    assert [w[:15] for w in transport.writes] == [b"HTTP/1.1 200 OK"]
    await answered(protocol, b"")
    assert transport.writes[1:] == [b"hello"]


async def test_100_continue_is_written_at_once_and_alone() -> None:
    protocol, transport = connected()
    protocol.data_received(
        b"POST /upload HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\nexpect: 100-continue\r\n\r\n"
    )
    await asyncio.sleep(0.02)
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    await answered(protocol, b"abc")
    assert len(transport.writes) == 2
    assert transport.writes[1].endswith(b"\r\n\r\nhello")


async def test_keep_alive_answers_each_leave_in_one_write() -> None:
    protocol, transport = connected()
    for _ in range(3):
        await answered(protocol, b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
    assert len(transport.writes) == 3
    assert not transport.closed


async def test_pipelined_requests_are_answered_in_order() -> None:
    protocol, transport = connected()
    await answered(
        protocol,
        b"GET /slow HTTP/1.1\r\nhost: a\r\n\r\n"
        b"POST /echo HTTP/1.1\r\nhost: a\r\ncontent-length: 6\r\n\r\nsecond",
    )
    await answered(protocol, b"")
    answers = b"".join(transport.writes)
    assert answers.index(b"hello") < answers.index(b"second")
    assert answers.count(b"HTTP/1.1 200 OK") == 2


async def test_an_answer_without_a_length_goes_in_chunks() -> None:
    protocol, transport = connected()
    await answered(
        protocol,
        b"POST /echo HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    )
    answer = b"".join(transport.writes)
    assert b"\r\ntransfer-encoding: chunked\r\n" in answer
    assert answer.endswith(b"\r\n\r\n5\r\nabcde\r\n0\r\n\r\n")


async def test_a_client_that_says_close_is_closed_after_its_answer() -> None:
    protocol, transport = connected()
    await answered(protocol, b"GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
    assert b"\r\nconnection: close\r\n" in transport.writes[0]
    assert transport.closed


async def test_an_http_1_0_request_is_answered_and_closed() -> None:
    protocol, transport = connected()
    await answered(protocol, b"GET / HTTP/1.0\r\n\r\n")
    assert transport.writes[0].endswith(b"hello")
    assert transport.closed


async def test_an_app_that_fails_gets_500_and_the_connection_closes() -> None:
    protocol, transport = connected()
    await answered(protocol, b"GET /fail HTTP/1.1\r\nhost: a\r\n\r\n")
    assert transport.writes[0].startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert transport.writes[0].endswith(b"\r\n\r\nInternal Server Error")
    assert transport.closed


@pytest.mark.parametrize("path", ["/fail-late", "/unfinished"])
async def test_an_answer_cut_short_after_its_head_closes_the_connection_unsaid(path: str) -> None:
    """Its head is still held (it leaves with the body): a 200 without its body would be a
    lie, and a 500 can no longer be said, so nothing is written and the connection ends."""
    protocol, transport = connected()
    await answered(protocol, f"GET {path} HTTP/1.1\r\nhost: a\r\n\r\n".encode())
    assert transport.writes == []
    assert transport.closed


async def test_a_header_that_would_split_the_answer_is_refused() -> None:
    protocol, transport = connected()
    await answered(protocol, b"GET /inject HTTP/1.1\r\nhost: a\r\n\r\n")
    answer = b"".join(transport.writes)
    assert b"set-cookie" not in answer
    assert answer.startswith(b"HTTP/1.1 500 ")


async def test_after_the_body_receive_waits_for_the_client_to_leave() -> None:
    protocol, _ = connected()
    LEFT.clear()
    protocol.data_received(b"POST /wait HTTP/1.1\r\nhost: a\r\ncontent-length: 2\r\n\r\nok")
    await asyncio.sleep(0.02)
    assert LEFT == []  # the whole body was read: the second receive waits
    protocol.connection_lost(None)
    await asyncio.sleep(0.02)
    assert LEFT == ["http.disconnect"]


async def test_a_request_that_is_not_http_gets_400_and_the_connection_closes() -> None:
    protocol, transport = connected()
    protocol.data_received(b"\x16\x03\x01 not http at all\r\n\r\n")
    assert transport.writes[0].startswith(b"HTTP/1.1 400 ")
    assert transport.closed


async def test_an_upgrade_request_is_answered_as_http_and_the_connection_closes() -> None:
    """No upgrade is offered: the request gets its plain answer, and the bytes after its head,
    of another protocol, are never read as a request."""
    protocol, transport = connected()
    await answered(
        protocol,
        b"GET / HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n"
        b"GET /fail HTTP/1.1\r\nhost: a\r\n\r\n",
    )
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.writes[0].endswith(b"hello")
    assert transport.closed
