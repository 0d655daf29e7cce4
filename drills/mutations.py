"""Raw HTTP/1.1 requests for the fuzz drill: valid ones of each endpoint, mutated in their
request line, headers and body, and sent over a plain socket (no client library tidies them)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

Mutation = Callable[[bytes, random.Random], bytes]
GARBAGE = [b"\x00", b"\r", b"\n", b"\r\n", b" ", b":", b"%", b"%00", b"\xff", b"\xc3\x28", b"\t"]


def bases(app: dict[str, Any]) -> list[bytes]:
    """Valid requests, one per endpoint, that the mutations start from."""
    basic = app["basic"]
    token = app["access_token"]
    cid = quote(app["client_id"])

    def request(method: str, path: str, headers: list[str], body: str = "") -> bytes:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers]
        if body or method == "POST":
            lines += ["Content-Type: application/x-www-form-urlencoded"]
            lines += [f"Content-Length: {len(body.encode())}"]
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    auth = [f"Authorization: Basic {basic}"]
    return [
        request("POST", "/oauth2/token", auth, "grant_type=client_credentials&scope=read"),
        request("POST", "/oauth2/token", auth, "grant_type=password&username=alice&password=x"),
        request("POST", "/oauth2/introspect", auth, f"token={token}"),
        request("POST", "/oauth2/revoke", auth, "token=nothing-known"),
        request(
            "GET",
            f"/oauth2/authorize?response_type=code&client_id={cid}"
            "&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&state=s&scope=read",
            [],
        ),
        request("POST", "/manager/login", ["Origin: http://127.0.0.1"], "username=a&password=b"),
        request("GET", "/.well-known/oauth-authorization-server", []),
        request("GET", "/api/items?x=1", [f"Authorization: Bearer {token}"]),
        request("POST", "/api/items", [f"Authorization: Bearer {token}"], "a=1&b=2"),
    ]


def _split(raw: bytes) -> tuple[list[bytes], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.split(b"\r\n"), body


def _join(lines: list[bytes], body: bytes, *, fix_length: bool = True) -> bytes:
    if fix_length:
        lines = [
            b"Content-Length: %d" % len(body)
            if line.lower().startswith(b"content-length:")
            else line
            for line in lines
        ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def flip_bytes(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def insert_garbage(raw: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(raw))
    return raw[:at] + rng.choice(GARBAGE) * rng.randint(1, 20) + raw[at:]


def cut(raw: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(raw))
    return raw[:at] + raw[at + rng.randint(1, 30) :]


def request_line(raw: bytes, rng: random.Random) -> bytes:
    lines, body = _split(raw)
    method, _, rest = lines[0].partition(b" ")
    path, _, version = rest.rpartition(b" ")
    choice = rng.randrange(5)
    if choice == 0:
        method = rng.choice([b"GETT", b"get", b"CONNECT", b"TRACE", b"X" * 300, b"PRI", b""])
    elif choice == 1:
        version = rng.choice([b"HTTP/1.0", b"HTTP/2.0", b"HTTP/9.9", b"HTTP/1.1x", b"", b"ICY"])
    elif choice == 2:
        path += rng.choice([b"/../admin", b"/%2e%2e/x", b"%00", b"//x", b"/%2f", b"/\xff\xfe"])
    elif choice == 3:
        path = b"/" + b"a" * rng.choice([1000, 9000, 70000])
    else:
        path = rng.choice([b"*", b"http://evil.example/x", b"", b"?", b"#", b"/oauth2/token?" * 50])
    lines[0] = b" ".join(p for p in (method, path, version))
    return _join(lines, body)


def headers(raw: bytes, rng: random.Random) -> bytes:
    lines, body = _split(raw)
    choice = rng.randrange(7)
    if choice == 0 and len(lines) > 1:
        lines.insert(rng.randrange(1, len(lines) + 1), rng.choice(lines[1:]))  # a duplicate
    elif choice == 1:
        lines.append(b"X-Long: " + b"v" * rng.choice([1000, 20000, 100000]))
    elif choice == 2:
        lines += [b"X-Many-%d: v" % i for i in range(rng.choice([50, 200, 1000]))]
    elif choice == 3:
        lines.append(rng.choice([b"NoColon", b": empty-name", b"Bad Name: v", b"X:\x00", b" fold"]))
    elif choice == 4:
        lines.append(rng.choice([b"X_Authgate_Subject: root", b"Cookie: authgate_session=x"]))
    elif choice == 5:
        lines = [ln for ln in lines if not ln.lower().startswith(b"content-length")]
        lines.append(
            rng.choice([b"Content-Length: -1", b"Content-Length: abc", b"Content-Length: 1, 2"])
        )
        return _join(lines, body, fix_length=False)
    else:
        lines = [ln for ln in lines if not ln.lower().startswith(b"content-length")]
        lines.append(
            b"Transfer-Encoding: " + rng.choice([b"chunked", b"gzip, chunked", b"xchunked"])
        )
        chunk = rng.choice(
            [b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body), b"zz\r\n" + body, b"0\r\n"]
        )
        return _join(lines, chunk, fix_length=False)
    return _join(lines, body)


def body(raw: bytes, rng: random.Random) -> bytes:
    lines, old = _split(raw)
    choice = rng.randrange(5)
    if choice == 0:
        new = rng.randbytes(rng.randint(1, 300))
    elif choice == 1:
        new = old + b"&" + old  # every parameter repeated
    elif choice == 2:
        new = b"x=" + b"a" * rng.choice([60_000, 70_000, 200_000])
    elif choice == 3:
        new = old.replace(b"=", b"=%", 1) + b"%zz%" + rng.choice(GARBAGE)
    else:
        new = b'{"grant_type": "client_credentials"}'
    if not any(line.lower().startswith(b"content-length") for line in lines):
        lines.append(b"Content-Length: 0")
    return _join(lines, new)


MUTATIONS: list[Mutation] = [flip_bytes, insert_garbage, cut, request_line, headers, body]


def raw_requests(app: dict[str, Any], count: int, rng: random.Random) -> list[bytes]:
    starts = bases(app)
    found = []
    for _ in range(count):
        raw = rng.choice(starts)
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            raw = rng.choice(MUTATIONS)(raw, rng)
        found.append(raw)
    return found


async def leave_early(port: int, raw: bytes, after: float) -> None:
    """Send `raw` and reset the connection `after` seconds later, reading nothing."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return
    with contextlib.suppress(OSError):
        writer.write(raw)
        await writer.drain()
        await asyncio.sleep(after)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


async def send_raw(port: int, raw: bytes, hang_seconds: float) -> int | None:
    """The status of the answer; 0 if the server closed without one; None if it did neither
    within `hang_seconds` once the client had nothing more to send."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return 0
    try:
        with contextlib.suppress(OSError):
            writer.write(raw)
            await writer.drain()
        try:
            first = await asyncio.wait_for(reader.read(64), 1.0)
        except TimeoutError:
            # Maybe the server waits for the rest of a body: say there is no more.
            with contextlib.suppress(OSError):
                writer.write_eof()
            try:
                first = await asyncio.wait_for(reader.read(64), hang_seconds)
            except TimeoutError:
                return None
        except OSError:
            return 0
        if first.startswith(b"HTTP/1.") and len(first) >= 12 and first[9:12].isdigit():
            return int(first[9:12])
        return 0
    except OSError:
        return 0
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
