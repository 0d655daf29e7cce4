"""The gateway's upstream client against scripted HTTP/1.1 servers on loopback, on both event
loops authgate runs on (asyncio in the other e2e tests, uvloop under `authgate serve`)."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from authgate.gateway.connection import HIGH_WATER, UpstreamError, UpstreamTimeout
from authgate.gateway.upstream import Target, UpstreamPool, UpstreamResponse
from tests.e2e.server import free_port

# A hang fails its test within 20 seconds instead of stalling the suite.
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> object:
    """Every test on both loops: asyncio, and uvloop as `authgate serve` runs."""
    return request.param


Handler = Callable[["Scripted", asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


class Scripted:
    """A raw HTTP server: `handler(self, reader, writer, n)` serves the n-th connection."""

    def __init__(self, handler: Handler, *, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.connections = 0
        self.heads: list[bytes] = []

    async def __aenter__(self) -> Scripted:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        scheme = "https" if self.tls else "http"
        self.target = Target.parse(f"{scheme}://127.0.0.1:{self.port}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self.connections
        self.connections += 1
        try:
            await self.handler(self, reader, writer, number)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def head(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        return head


def answering(response: bytes) -> Handler:
    """Answer every request on the connection with `response`."""

    async def handler(
        up: Scripted, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        while True:
            await up.head(reader)
            writer.write(response)
            await writer.drain()

    return handler


async def get(
    pool: UpstreamPool,
    target: Target,
    path: bytes = b"/",
    *,
    method: bytes = b"GET",
    time_limit: float = 5,
) -> UpstreamResponse:
    return await pool.request(
        target,
        method,
        path,
        [(b"accept", b"*/*")],
        None,
        content_length=None,
        time_limit=time_limit,
    )


async def read_all(response: UpstreamResponse) -> bytes:
    parts = []
    while chunk := await response.read():
        parts.append(chunk)
    return b"".join(parts)


# Keep-alive and framing


async def test_keep_alive_reuses_one_connection():
    async with Scripted(answering(OK)) as up:
        pool = UpstreamPool()
        for _ in range(3):
            response = await get(pool, up.target)
            assert (response.status, await read_all(response)) == (200, b"ok")
        await pool.close()
        assert up.connections == 1


async def test_connection_close_from_upstream_is_not_reused():
    async def handler(up, reader, writer, n):
        await up.head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.5)  # the answer is complete without waiting for the close

    async with Scripted(handler) as up:
        pool = UpstreamPool()
        for _ in range(2):
            response = await get(pool, up.target)
            assert await read_all(response) == b"ok"
        await pool.close()
        assert up.connections == 2


async def test_request_head_is_written_by_hand():
    async with Scripted(answering(OK)) as up:
        target = Target.parse(f"http://u%40x:p%3Aw@127.0.0.1:{up.port}/base/")
        pool = UpstreamPool()
        response = await pool.request(
            target,
            b"POST",
            b"/items?a=1",
            [(b"x-a", b"1")],
            None,
            content_length=None,
            time_limit=5,
        )
        await read_all(response)
        await pool.close()
        assert up.heads == [
            b"POST /base/items?a=1 HTTP/1.1\r\nhost: 127.0.0.1:%d\r\n"
            b"authorization: Basic dUB4OnA6dw==\r\nx-a: 1\r\ncontent-length: 0\r\n\r\n" % up.port
        ]


@pytest.mark.parametrize("bad", [b"v\r\nx-injected: 1", b"v\nx", b"v\rx"])
async def test_line_break_in_a_header_is_refused(bad):
    async with Scripted(answering(OK)) as up:
        pool = UpstreamPool()
        with pytest.raises(ValueError, match="line break"):
            await pool.request(
                up.target, b"GET", b"/", [(b"x-a", bad)], None, content_length=None, time_limit=5
            )
        await pool.close()
        assert up.heads == []


async def test_chunked_response_is_decoded_and_connection_reused():
    async def handler(up, reader, writer, n):
        while True:
            await up.head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel")
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(b"lo\r\n6\r\n world\r\n0\r\n\r\n")
            await writer.drain()

    async with Scripted(handler) as up:
        pool = UpstreamPool()
        for _ in range(2):
            response = await get(pool, up.target)
            assert (b"transfer-encoding", b"chunked") in response.headers
            assert await read_all(response) == b"hello world"
        await pool.close()
        assert up.connections == 1


async def test_body_delimited_by_close():
    async def handler(up, reader, writer, n):
        await up.head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"def")

    async with Scripted(handler) as up:
        pool = UpstreamPool()
        for _ in range(2):
            assert await read_all(await get(pool, up.target)) == b"abcdef"
        await pool.close()
        assert up.connections == 2


async def test_informational_answer_is_skipped():
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok"
    async with Scripted(answering(answer)) as up:
        pool = UpstreamPool()
        for _ in range(2):
            response = await get(pool, up.target)
            assert (response.status, await read_all(response)) == (201, b"ok")
        await pool.close()
        assert up.connections == 1


async def test_head_answer_has_no_body_and_connection_is_reused():
    async def handler(up, reader, writer, n):
        while True:
            head = await up.head(reader)
            if head.startswith(b"HEAD "):
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
            else:
                writer.write(OK)
            await writer.drain()

    async with Scripted(handler) as up:
        pool = UpstreamPool()
        response = await get(pool, up.target, method=b"HEAD")
        assert response.is_complete
        assert (b"content-length", b"1000") in response.headers
        assert await read_all(response) == b""
        assert await read_all(await get(pool, up.target)) == b"ok"
        await pool.close()
        assert up.connections == 1


async def test_bytes_after_the_answer_end_the_connection():
    async with Scripted(answering(OK + b"HTTP/1.1 200 OK\r\n\r\n")) as up:
        pool = UpstreamPool()
        for _ in range(2):
            assert await read_all(await get(pool, up.target)) == b"ok"
        await pool.close()
        assert up.connections == 2


async def test_malformed_answer_is_a_protocol_error():
    async with Scripted(answering(b"HTTP/1.1 OK\r\nbroken\r\n\r\n")) as up:
        pool = UpstreamPool()
        with pytest.raises(UpstreamError) as caught:
            await get(pool, up.target)
        assert caught.value.kind == "RemoteProtocolError"
        await pool.close()


# Request bodies


async def test_streamed_request_body_chunked_or_with_its_length():
    received: list[bytes] = []

    async def handler(up, reader, writer, n):
        while True:
            head = await up.head(reader)
            if b"transfer-encoding: chunked" in head:
                received.append(await reader.readuntil(b"0\r\n\r\n"))
            else:
                received.append(await reader.readexactly(11))
            writer.write(OK)
            await writer.drain()

    async def body() -> AsyncIterator[bytes]:
        for part in (b"hello", b"", b" world"):
            await asyncio.sleep(0.01)
            yield part

    async with Scripted(handler) as up:
        pool = UpstreamPool()
        for length in (None, 11):
            response = await pool.request(
                up.target, b"PUT", b"/", [], body(), content_length=length, time_limit=5
            )
            assert await read_all(response) == b"ok"
        await pool.close()
        assert b"transfer-encoding: chunked\r\n" in up.heads[0]
        assert b"content-length: 11\r\n" in up.heads[1]
        assert received == [b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"]
        assert up.connections == 1


async def test_large_request_body_is_written_as_the_upstream_reads():
    block = b"y" * 65536
    sent = 0
    sent_while_not_read: list[int] = []

    async def handler(up, reader, writer, n):
        await up.head(reader)
        await asyncio.sleep(0.5)  # not reading: the client must wait, not buffer 64 MiB
        sent_while_not_read.append(sent)
        total = 0
        while total < 1024 * len(block):
            total += len(await reader.read(1 << 20))
        writer.write(OK)
        await writer.drain()

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(1024):
            sent += len(block)
            yield block

    async with Scripted(handler) as up:
        pool = UpstreamPool()
        response = await pool.request(
            up.target, b"POST", b"/", [], body(), content_length=1024 * len(block), time_limit=5
        )
        assert await read_all(response) == b"ok"
        await pool.close()
        assert sent_while_not_read[0] < 32 * 1024 * 1024


# Response bodies: flow control, and answers cut short


async def test_large_response_is_not_read_faster_than_it_is_consumed():
    block = b"z" * 65536
    total = 64 * 1024 * 1024
    sent = 0

    async def handler(up, reader, writer, n):
        nonlocal sent
        await up.head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % total)
        for _ in range(total // len(block)):
            writer.write(block)
            await writer.drain()
            sent += len(block)

    async with Scripted(handler) as up:
        pool = UpstreamPool()
        response = await get(pool, up.target)
        first = await response.read()
        await asyncio.sleep(0.5)
        assert sent < 32 * 1024 * 1024, "the client kept reading with nobody consuming"
        received = len(first)
        while chunk := await response.read():
            assert len(chunk) <= HIGH_WATER + 1024 * 1024
            received += len(chunk)
        assert received == total
        await pool.close()


async def test_partial_body_then_close_is_an_error_not_a_hang():
    async def handler(up, reader, writer, n):
        await up.head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
        await writer.drain()

    async with Scripted(handler) as up:
        pool = UpstreamPool()
        response = await get(pool, up.target)
        assert await response.read() == b"0123456789"
        with pytest.raises(UpstreamError) as caught:
            await response.read()
        assert caught.value.kind == "ReadError"
        await pool.close()


async def test_closed_before_answering_is_an_error():
    async def handler(up, reader, writer, n):
        await up.head(reader)

    async with Scripted(handler) as up:
        pool = UpstreamPool()
        with pytest.raises(UpstreamError) as caught:
            await get(pool, up.target)
        assert caught.value.kind == "ReadError"
        assert not isinstance(caught.value, UpstreamTimeout)
        assert up.connections == 1  # a fresh connection is not tried again
        await pool.close()


async def test_kept_alive_connection_dropped_by_upstream_is_retried_without_body():
    async def handler(up, reader, writer, n):
        await up.head(reader)
        writer.write(OK)
        await writer.drain()
        if n in (0, 2):
            await up.head(reader)  # the second request on it: dropped, never answered
            return
        while True:
            await up.head(reader)
            writer.write(OK)
            await writer.drain()

    async def streamed() -> AsyncIterator[bytes]:
        yield b"data"

    async with Scripted(handler) as up:
        pool = UpstreamPool()
        assert await read_all(await get(pool, up.target)) == b"ok"
        assert await read_all(await get(pool, up.target)) == b"ok"  # on a new connection
        assert up.connections == 2
        await pool.close()
        # A streamed body cannot be sent twice: the failure is the caller's to see.
        pool = UpstreamPool()
        assert await read_all(await get(pool, up.target)) == b"ok"
        with pytest.raises(UpstreamError) as caught:
            await pool.request(
                up.target, b"POST", b"/", [], streamed(), content_length=None, time_limit=5
            )
        assert caught.value.kind == "ReadError"
        assert up.connections == 3
        await pool.close()


# Timeouts, refusals, TLS, the pool bound


async def test_silent_upstream_times_out():
    async def handler(up, reader, writer, n):
        await up.head(reader)
        await asyncio.sleep(10)

    async with Scripted(handler) as up:
        pool = UpstreamPool()
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(UpstreamTimeout) as caught:
            await get(pool, up.target, time_limit=0.2)
        assert caught.value.kind == "ReadTimeout"
        assert loop.time() - started < 2
        await pool.close()


async def test_a_stalled_body_times_out_after_the_head():
    async def handler(up, reader, writer, n):
        await up.head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(10)

    async with Scripted(handler) as up:
        pool = UpstreamPool()
        loop = asyncio.get_running_loop()
        response = await get(pool, up.target, time_limit=0.3)
        assert await response.read() == b"abc"
        started = loop.time()
        with pytest.raises(UpstreamTimeout) as caught:
            await response.read()
        assert caught.value.kind == "ReadTimeout"
        assert 0.2 < loop.time() - started < 2
        await pool.close()


async def test_each_exchange_on_a_kept_alive_connection_has_its_own_time_limit():
    """A short limit after a long one still times out on time; a long one after a short one
    that has passed is not cut short by it."""
    delays = [0.0, 10.0, 0.0, 0.5]  # seconds before each answer, in order

    async def handler(up, reader, writer, n):
        while delays:
            await up.head(reader)
            await asyncio.sleep(delays.pop(0))
            writer.write(OK)
            await writer.drain()

    async with Scripted(handler) as up:
        pool = UpstreamPool()
        loop = asyncio.get_running_loop()
        assert await read_all(await get(pool, up.target, time_limit=30)) == b"ok"
        started = loop.time()
        with pytest.raises(UpstreamTimeout):  # the same connection, a limit of 0.2 s
            await get(pool, up.target, time_limit=0.2)
        assert loop.time() - started < 2
        assert up.connections == 1
        # A new connection: a short exchange, then a slower one with room for it.
        assert await read_all(await get(pool, up.target, time_limit=0.3)) == b"ok"
        assert await read_all(await get(pool, up.target, time_limit=5)) == b"ok"
        assert up.connections == 2
        await pool.close()


async def test_no_timer_is_made_for_each_exchange(monkeypatch):
    """One timer per connection, moved lazily: the hot path sets none per request."""
    loop = asyncio.get_running_loop()
    if not isinstance(loop, asyncio.BaseEventLoop):
        pytest.skip("counts the timers of asyncio's own loop (uvloop's are not patchable)")
    async with Scripted(answering(OK)) as up:
        pool = UpstreamPool()
        assert await read_all(await get(pool, up.target)) == b"ok"  # connected, timer set
        made = []
        call_at = loop.call_at

        def counting(when, callback, *args, **kwargs):
            made.append(callback)
            return call_at(when, callback, *args, **kwargs)

        monkeypatch.setattr(loop, "call_at", counting)
        for _ in range(20):
            assert await read_all(await get(pool, up.target)) == b"ok"
        monkeypatch.undo()
        assert made == []
        assert up.connections == 1
        await pool.close()


async def test_refused_connection_is_a_connect_error():
    pool = UpstreamPool()
    with pytest.raises(UpstreamError) as caught:
        await get(pool, Target.parse(f"http://127.0.0.1:{free_port()}"))
    assert caught.value.kind == "ConnectError"
    assert not isinstance(caught.value, UpstreamTimeout)
    await pool.close()


async def test_pool_is_bounded_per_origin():
    async def handler(up, reader, writer, n):
        while True:
            await up.head(reader)
            await asyncio.sleep(0.05)
            writer.write(OK)
            await writer.drain()

    async def one(pool: UpstreamPool, target: Target) -> bytes:
        return await read_all(await get(pool, target))

    async with Scripted(handler) as up:
        pool = UpstreamPool(max_connections=2)
        answers = await asyncio.gather(*(one(pool, up.target) for _ in range(6)))
        assert answers == [b"ok"] * 6
        assert up.connections == 2
        held = [await get(pool, up.target) for _ in range(2)]  # both in use, unread
        with pytest.raises(UpstreamTimeout) as caught:
            await get(pool, up.target, time_limit=0.2)
        assert caught.value.kind == "PoolTimeout"
        held[0].close()  # not read to the end: closed, and its slot freed
        assert await one(pool, up.target) == b"ok"
        assert up.connections == 3
        held[1].close()
        await pool.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_https_upstream_is_verified(certificate):
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    async with Scripted(answering(OK), tls=server_tls) as up:
        refusing = UpstreamPool()  # the system's trust store: a self-signed cert fails
        with pytest.raises(UpstreamError) as caught:
            await get(refusing, up.target)
        assert caught.value.kind == "ConnectError"
        await refusing.close()
        trusting = UpstreamPool(tls=ssl.create_default_context(cafile=str(cert)))
        for _ in range(2):
            assert await read_all(await get(trusting, up.target)) == b"ok"
        await trusting.close()
        assert up.connections == 1  # kept alive (a refused handshake never gets here)
