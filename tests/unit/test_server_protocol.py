"""authgate.server_protocol: each answer leaves the server in one write.

Driven through the real protocol and uvicorn's request cycle, with a transport that records
what the server writes (a socket could not tell one write from two).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.lifespan.off import LifespanOff
from uvicorn.server import ServerState

from authgate.server_protocol import DeadlineHttpProtocol

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


async def hello(scope: Any, receive: Any, send: Any) -> None:
    if scope["path"] == "/upload":
        await receive()  # the body, after `100 Continue`
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"5")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if scope["path"] == "/slow":
        await asyncio.sleep(0.05)  # the body comes later, as from a streamed upstream
    await send({"type": "http.response.body", "body": b"hello"})


def connected() -> tuple[DeadlineHttpProtocol, RecordingTransport]:
    config = Config(app=hello, log_level="error")
    config.load()
    protocol = DeadlineHttpProtocol(
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


async def answered(protocol: DeadlineHttpProtocol, request: bytes) -> None:
    protocol.data_received(request)
    for _ in range(100):
        await asyncio.sleep(0.01)
        if protocol.cycle.response_complete and not protocol.tasks:
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
