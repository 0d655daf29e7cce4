"""HTTP/1.1 over a bare socket, for what httpx will not send: raw paths, partial requests."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]  # names in lower case; the last one of a repeated name
    body: bytes


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def connect(url: str, timeout: float = 10) -> socket.socket:
    return socket.create_connection(address(url), timeout=timeout)


def read_answer(sock: socket.socket) -> RawAnswer:
    """Read until the server closes: send requests with `Connection: close`."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return parse(data)


def read_one_answer(sock: socket.socket) -> RawAnswer:
    """Read one answer with a Content-Length, leaving the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += _more(sock)
    answer = parse(data)
    size = int(answer.headers.get("content-length", "0"))
    while len(answer.body) < size:
        answer.body += _more(sock)
    return answer


def _more(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("the server closed the connection")
    return chunk


def parse(data: bytes) -> RawAnswer:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawAnswer(int(lines[0].split()[1]), headers, body)


def request(
    url: str, method: str, path: bytes, headers: dict[str, str] | None = None, body: bytes = b""
) -> RawAnswer:
    """One request with `path` exactly as given, on a connection of its own."""
    host = urlsplit(url).netloc
    lines = [f"{method} ".encode() + path + b" HTTP/1.1", f"Host: {host}".encode()]
    lines += [f"{name}: {value}".encode("latin-1") for name, value in (headers or {}).items()]
    lines += (
        [b"Connection: close", b"Content-Length: %d" % len(body)]
        if body
        else [b"Connection: close"]
    )
    with connect(url) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        return read_answer(sock)
