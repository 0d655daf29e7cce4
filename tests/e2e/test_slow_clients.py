"""SPEC.md Hardening, slow clients: read deadlines, idle keep-alive, the connection cap.

The deadlines are shortened in the configuration so the tests take seconds, not minutes.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e import raw_http
from tests.e2e.server import RunningServer, run_server

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.5
MAX_CONNECTIONS = 20


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = {
        "server.header_timeout": str(HEADER_TIMEOUT),
        "server.body_timeout": str(BODY_TIMEOUT),
        "server.max_connections": str(MAX_CONNECTIONS),
    }
    with run_server(tmp_path_factory.mktemp("slow"), config) as server:
        yield server


def closed_after(sock: socket.socket, limit: float) -> tuple[float, bytes]:
    """Seconds until the server closes `sock` (at most `limit`), and what it sent before."""
    started = time.monotonic()
    sock.settimeout(limit)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return time.monotonic() - started, received


def test_headers_sent_a_byte_at_a_time_are_cut_off_at_header_timeout(slow):
    head = f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: {'a' * 100}\r\n".encode()
    with raw_http.connect(slow.url) as sock:
        started = time.monotonic()
        sock.settimeout(0.1)
        received = b""
        for byte in head:  # a trickle: each byte well within any idle timeout
            try:
                sock.sendall(bytes([byte]))
                received += sock.recv(65536)
                break  # the server answered or closed: it did not wait for the rest
            except TimeoutError:
                continue
            except OSError:
                break
        took = time.monotonic() - started
    assert HEADER_TIMEOUT - 0.2 < took < HEADER_TIMEOUT + 1.5
    assert received.startswith(b"HTTP/1.1 408")


def test_a_client_that_sends_nothing_is_closed_at_header_timeout(slow):
    with raw_http.connect(slow.url) as sock:
        took, received = closed_after(sock, HEADER_TIMEOUT + 3)
    assert HEADER_TIMEOUT - 0.2 < took < HEADER_TIMEOUT + 1.5
    assert received.startswith(b"HTTP/1.1 408")


def test_a_body_that_stops_is_cut_off_at_body_timeout(slow):
    with raw_http.connect(slow.url) as sock:
        sock.sendall(
            b"POST /oauth2/token HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
            b"grant_type="
        )
        took, received = closed_after(sock, BODY_TIMEOUT + 3)
    assert BODY_TIMEOUT - 0.2 < took < BODY_TIMEOUT + 1.5
    assert received.startswith(b"HTTP/1.1 408")


def test_the_deadlines_start_again_for_each_request_on_a_connection(slow):
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with raw_http.connect(slow.url) as sock:
        for _ in range(3):
            time.sleep(HEADER_TIMEOUT * 0.7)  # within the keep-alive limit, past a stale deadline
            sock.sendall(request)
            assert raw_http.read_one_answer(sock).status == 200


def test_an_idle_kept_alive_connection_is_closed_after_5_seconds(slow):
    with raw_http.connect(slow.url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert raw_http.read_one_answer(sock).status == 200
        took, received = closed_after(sock, 8)
    assert (4.5 < took < 6.5, received) == (True, b"")


@contextlib.contextmanager
def idle_connections(server: RunningServer, count: int) -> Iterator[list[socket.socket]]:
    """`count` kept-alive connections, each after one answered request, left idle."""
    sockets = []
    try:
        for _ in range(count):
            sock = raw_http.connect(server.url)
            sockets.append(sock)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert raw_http.read_one_answer(sock).status == 200
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def test_past_max_connections_a_new_connection_gets_503(slow):
    with idle_connections(slow, MAX_CONNECTIONS):
        answer = raw_http.request(slow.url, "GET", b"/healthz")
        assert answer.status == 503
    time.sleep(0.3)  # the server sees the idle connections close
    assert raw_http.request(slow.url, "GET", b"/healthz").status == 200


def test_connections_past_the_cap_do_not_refuse_a_connection_opened_before(slow):
    # The cap refuses new connections; it used to refuse every request, on every connection,
    # while more than max_connections were open (uvicorn's limit_concurrency counts them at
    # each request). Found by the slow clients drill: 1,000 silent connections and one more
    # made every other client's request a 503.
    with raw_http.connect(slow.url) as first:
        first.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert raw_http.read_one_answer(first).status == 200
        silent = [raw_http.connect(slow.url) for _ in range(MAX_CONNECTIONS)]
        try:
            time.sleep(0.3)  # the server has taken every connection in
            first.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert raw_http.read_one_answer(first).status == 200
            assert raw_http.request(slow.url, "GET", b"/healthz").status == 503
        finally:
            for sock in silent:
                sock.close()
    time.sleep(0.3)
    assert raw_http.request(slow.url, "GET", b"/healthz").status == 200


def test_max_connections_connections_are_served(slow):
    with idle_connections(slow, MAX_CONNECTIONS - 1):
        assert raw_http.request(slow.url, "GET", b"/healthz").status == 200


def test_many_idle_connections_do_not_delay_a_request(tmp_path):
    with run_server(tmp_path) as server, httpx.Client() as client:
        quiet = min(_timed(client, server) for _ in range(20))
        with idle_connections(server, 300):
            busy = sorted(_timed(client, server) for _ in range(50))
    assert busy[len(busy) // 2] < quiet + 0.1


def _timed(client: httpx.Client, server: RunningServer) -> float:
    started = time.perf_counter()
    assert client.get(f"{server.url}/healthz").status_code == 200
    return time.perf_counter() - started
