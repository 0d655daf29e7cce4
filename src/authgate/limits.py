"""The 64 KiB limit on request bodies of every OAuth endpoint and page.

The app reads such a body whole, under the limit, before any handler acts on part of it
(routing.RouteMatch.streams_body says which requests: gateway routes stream bodies of any
size to their upstream instead).
"""

from __future__ import annotations

import json

from starlette.types import Message, Receive, Scope, Send

from authgate.forms import MAX_BODY_BYTES

_TOO_LARGE = json.dumps(
    {"error": "invalid_request", "error_description": "the request body is over 64 KiB"}
).encode()


class BodyTooLarge(Exception):
    """The declared or received body is over MAX_BODY_BYTES."""


class ClientGone(Exception):
    """The client disconnected before its body arrived."""


async def read_body(scope: Scope, receive: Receive) -> bytes:
    """The whole (small) body, read before any endpoint acts on part of it."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = MAX_BODY_BYTES + 1
            if declared > MAX_BODY_BYTES:
                raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks) if len(chunks) != 1 else chunks[0]


async def read_body_or_refuse(scope: Scope, receive: Receive, send: Send) -> bytes | None:
    """The body, or None once a 413 is sent (too large) or the client is gone."""
    try:
        return await read_body(scope, receive)
    except BodyTooLarge:
        await refuse_too_large(send)
    except ClientGone:
        pass
    return None


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands over `body` once, then whatever the client sends next."""
    delivered = False

    async def replayed() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def refuse_too_large(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"cache-control", b"no-store"),
                (b"pragma", b"no-cache"),
                (b"content-length", str(len(_TOO_LARGE)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _TOO_LARGE})
