"""An upstream for the gateway routes of the drills: `python -m drills.upstream PORT`.

Every method and path answers 200 after reading the whole body, so any 5xx a drill sees
through the gateway is authgate's own; a path ending in `/big` streams 2 MiB in chunks, and
one ending in `/early` answers before reading the body.
"""

from __future__ import annotations

import asyncio
import sys

import uvicorn
from starlette.types import Receive, Scope, Send

CHUNK = b"x" * 65536


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path: str = scope["path"]
    if path.endswith("/early"):
        await _answer(send, b"answered before the body")
        return
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    if path.endswith("/big"):
        start = {"type": "http.response.start", "status": 200, "headers": []}
        await send(start)
        for _ in range(32):
            await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
            await asyncio.sleep(0.002)
        await send({"type": "http.response.body", "body": b""})
        return
    await _answer(send, b"upstream read %d bytes" % size)


async def _answer(send: Send, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
