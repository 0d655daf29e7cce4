"""The JSON endpoints of the hot path (token, introspection, revocation) without the router
and middleware stack: the same handlers and error answers as through Starlette, but no route
matching, no middleware wrapping each `send`, the body read once and handed over as bytes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import Headers, State
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from authgate.endpoints.responses import oauth_error, oauth_json, server_error, unavailable
from authgate.errors import OAuthError, StoreUnavailable
from authgate.limits import read_body_or_refuse

log = logging.getLogger("authgate.endpoints")


class EndpointRequest:
    """What these endpoints read of a request: the body, already read whole; the headers; the
    app's state; and the request's `state`, where monitoring finds the form and attributes."""

    __slots__ = ("app_state", "body", "headers", "state")

    def __init__(self, scope: Scope, body: bytes) -> None:
        self.app_state: State = scope["app"].state
        self.body = body
        self.headers = Headers(scope=scope)
        self.state: dict[str, Any] = scope.setdefault("state", {})


Endpoint = Callable[[EndpointRequest], Awaitable[Response]]

_POST_ONLY = {"error": "invalid_request", "error_description": "this endpoint takes POST"}


def json_endpoint(endpoint: Endpoint) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI app answering `POST` with `endpoint` and every failure with RFC 6749 JSON."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await oauth_json(_POST_ONLY, 405, {"Allow": "POST"})(scope, receive, send)
            return
        body = await read_body_or_refuse(scope, receive, send)
        if body is None:
            return
        try:
            response = await endpoint(EndpointRequest(scope, body))
        except OAuthError as exc:
            response = oauth_error(exc)
        except StoreUnavailable as exc:
            response = unavailable(exc)
        except Exception as exc:
            log.error("unhandled error on %s", scope["path"], exc_info=exc)
            response = server_error()
        await response(scope, receive, send)

    return app
