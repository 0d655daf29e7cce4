"""Gateway test kit: a real upstream API (Starlette under uvicorn in a thread), a route table
and helpers that mint tokens straight into the store."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from authgate.models import TokenKind, TokenRecord
from authgate.tokens import digest, generate_token, new_grant_id
from tests.e2e.server import RunningServer, free_port, serve_in_thread

CHUNK = b"x" * 65536


@dataclass
class Upstream:
    url: str
    calls: list[dict[str, Any]] = field(default_factory=list)


def _app(upstream: Upstream) -> Starlette:
    async def echo(request: Request) -> Response:
        digest = hashlib.sha256()
        size = 0
        async for chunk in request.stream():
            digest.update(chunk)
            size += len(chunk)
        call = {
            "method": request.method,
            "raw_path": request.scope["raw_path"].decode("latin-1"),
            "query": request.scope["query_string"].decode("latin-1"),
            "headers": [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
            "body_size": size,
            "body_sha256": digest.hexdigest(),
        }
        upstream.calls.append(call)
        answer = JSONResponse(
            call,
            status_code=int(request.query_params.get("status", "200")),
            headers={"X-Upstream": "yes"},
        )
        for cookie in request.query_params.getlist("set_cookie"):
            answer.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))
        return answer

    async def big(request: Request) -> Response:
        size = int(request.query_params.get("mb", "50")) * 1024 * 1024

        call: dict[str, Any] = {
            "method": request.method,
            "raw_path": "/big",
            "sent": 0,
            "left": False,
        }

        async def body() -> AsyncIterator[bytes]:
            for index in range(size // len(CHUNK)):
                if index % 16 == 0 and await request.is_disconnected():
                    call["left"] = True  # the gateway hung up
                    return
                yield CHUNK
                call["sent"] += len(CHUNK)

        upstream.calls.append(call)
        return StreamingResponse(
            body(), media_type="application/octet-stream", headers={"Content-Length": str(size)}
        )

    async def slow(request: Request) -> Response:
        upstream.calls.append({"method": request.method, "raw_path": "/slow"})
        await asyncio.sleep(3)
        return Response("late")

    return Starlette(
        routes=[
            Route("/big", big),
            Route("/slow/{rest:path}", slow),
            Route("/{rest:path}", echo, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
        ]
    )


@contextlib.contextmanager
def run_upstream() -> Iterator[Upstream]:
    port = free_port()
    upstream = Upstream(url=f"http://127.0.0.1:{port}")
    with serve_in_thread(_app(upstream), port, lifespan="off"):
        yield upstream


def routes(upstream: str, **extra: Any) -> str:
    refused = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    table = [
        {
            "path": "/api/photos",
            "upstream": upstream,
            "scopes": ["photos.read"],
            "service": "photos",
            "composite": "media",
        },
        {
            "path": "/api/videos",
            "upstream": upstream,
            "scopes": ["videos.read"],
            "service": "videos",
            "composite": "media",
        },
        {
            "path": "/api/strip",
            "upstream": upstream + "/base",
            "strip_prefix": True,
            "service": "strip",
            "header_prefix": "X-Gw-",
        },
        {
            "path": "/api/slow",
            "upstream": upstream + "/slow",
            "strip_prefix": True,
            "timeout": 0.5,
            "service": "slow",
        },
        {"path": "/api/down", "upstream": refused, "service": "down"},
        {"path": "/big", "upstream": upstream, "service": "big"},
        {"path": "/api/open", "upstream": upstream, "service": "open", "sandbox": False},
    ]
    return json.dumps(table)


def issue(
    server: RunningServer,
    *,
    subject: str | None = "alice",
    client_id: str = "app",
    scopes: tuple[str, ...] = ("photos.read",),
    metadata: dict[str, str] | None = None,
    expires_in: int = 3600,
    kind: TokenKind = "access_token",
    is_sandbox: bool = False,
) -> str:
    value = generate_token(54)
    issued = int(time.time())
    record = TokenRecord(
        kind=kind,
        client_id=client_id,
        grant_id=new_grant_id(),
        scopes=scopes,
        issued_at=issued,
        expires_at=issued + expires_in,
        subject=subject,
        username=subject,
        metadata=metadata or {},
        is_sandbox=is_sandbox,
    )
    server.run(server.services.tokens.put([(digest(value), record)]))
    return value


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def flush(server: RunningServer) -> None:
    # The record of a request is handed over after its response is sent: wait for both.
    server.run(server._app.state.monitor.settle())
