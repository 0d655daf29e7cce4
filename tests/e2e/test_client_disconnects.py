"""Clients that leave before their answers: nothing of it reaches the log as a traceback, and
the server keeps answering. `authgate serve` runs as a process of its own, on uvloop as in
production, and its log is read."""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

import httpx

from tests.e2e.processes import serve, write_config

PIPELINE = b"GET /manager/login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 5


def leave_early(port: int, request: bytes, after: float) -> None:
    """Send, and close with a reset `after` seconds, without reading a byte of the answers."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        time.sleep(after)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_a_client_that_closes_under_pipelined_requests_leaves_no_traceback(tmp_path: Path):
    # uvicorn marks only the request in progress as disconnected when its client goes: the
    # requests pipelined behind it still wrote to the closed transport, which uvloop refuses
    # with a RuntimeError, logged as an unhandled error (and again by uvicorn).
    config = write_config(tmp_path / "authgate.toml", "")
    with serve(config) as server:
        for attempt in range(300):
            leave_early(server.port, PIPELINE, (0, 0.001, 0.003)[attempt % 3])
        time.sleep(0.5)
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        log = server.log.read_text()
    assert "Traceback" not in log, log[-3000:]
