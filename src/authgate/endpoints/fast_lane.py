"""The JSON endpoints of the hot path (token, introspection, revocation) as plain ASGI apps:
the same handlers and error answers as through Starlette, but no router matching and no
Starlette `Request`; the body is read whole, under the 64 KiB limit, and handed over as
bytes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import Headers, State
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from authgate.certificates import peer_certificate
from authgate.endpoints.responses import error_response, oauth_json
from authgate.limits import read_body_or_refuse


class EndpointRequest:
    """What these endpoints read of a request: the body, read whole; the headers; the
    client certificate; the app's state; and the request's `state`, where monitoring finds
    the form and attributes."""

    __slots__ = ("app_state", "body", "certificate", "headers", "state")

    def __init__(self, scope: Scope, body: bytes) -> None:
        self.app_state: State = scope["app"].state
        self.body = body
        self.headers = Headers(scope=scope)
        self.certificate = peer_certificate(scope)
        self.state: dict[str, Any] = scope.setdefault("state", {})


Endpoint = Callable[[EndpointRequest], Awaitable[Response]]

_POST_ONLY = {"error": "invalid_request", "error_description": "this endpoint takes POST"}


def json_endpoint(endpoint: Endpoint) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI app answering `POST` with `endpoint` and every failure with RFC 6749 JSON.

    The body is read whole under the 64 KiB limit before the endpoint sees any of it
    (limits.read_body_or_refuse answers 413 past it)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await oauth_json(_POST_ONLY, 405, {"Allow": "POST"})(scope, receive, send)
            return
        body = await read_body_or_refuse(scope, receive, send)
        if body is None:
            return  # too large (answered) or the client is gone
        try:
            response = await endpoint(EndpointRequest(scope, body))
        except Exception as exc:
            response = error_response(exc, scope["path"])
        await response(scope, receive, send)

    return app
