"""API-gateway front: check the bearer token (RFC 6750), then stream the call to the upstream.

Each `[[gateway.routes]]` entry guards a path prefix. The token comes only in
`Authorization: Bearer`; the upstream never sees it, and gets the token's identity in
`<header_prefix>Subject`, `Client-Id`, `Scope` and `Meta-<Name>` headers instead.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

import anyio
import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from authgate.config import GatewayRoute, GatewaySettings
from authgate.endpoints.responses import oauth_json
from authgate.errors import OAuthError
from authgate.models import TokenRecord
from authgate.monitoring import Transaction, current_transaction
from authgate.services import Services
from authgate.tokens import digest

log = logging.getLogger("authgate.gateway")

# RFC 9110 section 7.6.1 plus the ones proxies have always dropped.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 section 2.1
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 1024 * 1024  # a form body is read whole to look for `access_token`


def bearer_error(code: str, description: str, status: int, scope: str = "") -> OAuthError:
    """RFC 6750 section 3: the code in the challenge and in the JSON body."""
    challenge = f'Bearer realm="authgate", error="{code}", error_description="{description}"'
    if scope:
        challenge += f', scope="{scope}"'
    return OAuthError(code, description, status, headers={"WWW-Authenticate": challenge})  # type: ignore[arg-type]  # code is one of the RFC 6750 codes


def _gateway_error(status: int, code: str, description: str) -> Response:
    return oauth_json({"error": code, "error_description": description}, status)


class Gateway:
    """The routes and the one pooled HTTP client every route forwards through."""

    def __init__(self, settings: GatewaySettings, services: Services) -> None:
        self.settings = settings
        self.services = services
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        self.client = httpx.AsyncClient(limits=limits, follow_redirects=False, trust_env=False)

    async def close(self) -> None:
        await self.client.aclose()

    async def authenticate(self, request: Request) -> TokenRecord:
        """Guard and load: the record of the request's bearer token, or a Bearer error."""
        if len(request.headers.getlist("authorization")) > 1:
            raise bearer_error("invalid_request", "more than one Authorization header", 400)
        if "access_token" in request.query_params:
            raise bearer_error("invalid_request", "the token must be sent in the header", 400)
        header = request.headers.get("authorization", "")
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise OAuthError(
                "invalid_request",
                "a bearer token is required",
                401,
                headers={"WWW-Authenticate": 'Bearer realm="authgate"'},
            )
        value = value.strip()
        if not _B64TOKEN.fullmatch(value):
            raise bearer_error("invalid_request", "the bearer token is malformed", 400)
        record = await self.services.tokens.get(digest(value))
        if (
            record is None
            or record.consumed
            or record.kind != "access_token"
            or record.is_expired(time.time())
        ):
            raise bearer_error("invalid_token", "the access token is invalid or expired", 401)
        return record

    @staticmethod
    def check_scope(record: TokenRecord, route: GatewayRoute) -> None:
        if any(scope not in record.scopes for scope in route.scopes):
            raise bearer_error(
                "insufficient_scope", "the token lacks a required scope", 403,
                " ".join(route.scopes),
            )

    async def forward(self, request: Request, route: GatewayRoute, record: TokenRecord,
                      body: bytes | None) -> Response:
        headers = upstream_headers(request, route, record)
        content: bytes | AsyncIterator[bytes] | None = body
        streamed = _Streamed(request)
        if body is None and _has_body(request):
            content = streamed.chunks()
        url = upstream_url(request, route)
        transaction = current_transaction()
        started = time.perf_counter()
        upstream = self.client.build_request(
            request.method,
            url,
            headers=headers,
            content=content,
            timeout=httpx.Timeout(route.timeout),
        )
        try:
            response = await self.client.send(upstream, stream=True)
        except httpx.TimeoutException as exc:
            _outbound(transaction, url, request.method, None, started, type(exc).__name__)
            return _gateway_error(504, "gateway_timeout", "the upstream did not answer in time")
        except httpx.TransportError as exc:
            _outbound(transaction, url, request.method, None, started, type(exc).__name__)
            return _gateway_error(502, "bad_gateway", "the upstream could not be reached")
        _outbound(transaction, url, request.method, response.status_code, started, None)
        body_read = content is None or isinstance(content, bytes) or streamed.is_done
        return StreamedResponse(response, watch_disconnect=body_read)


class StreamedResponse(Response):
    """The upstream's answer, passed on chunk by chunk and never held whole."""

    def __init__(self, upstream: httpx.Response, *, watch_disconnect: bool) -> None:
        self.upstream = upstream
        # Only once the request body is read whole may `receive` be watched for a disconnect.
        self.watch_disconnect = watch_disconnect
        self.status_code = upstream.status_code
        self.background = None
        connection = {
            t.strip().lower() for t in upstream.headers.get("connection", "").split(",")
        }
        self.raw_headers = [
            (name.lower(), value)
            for name, value in upstream.headers.raw
            if name.decode("latin-1").lower() not in HOP_BY_HOP | connection
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.watch_disconnect:
            await self._relay(scope, send)
            return
        async with anyio.create_task_group() as group:

            async def relay() -> None:
                await self._relay(scope, send)
                group.cancel_scope.cancel()

            group.start_soon(relay)
            while (await receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()  # the client left: stop reading the upstream

    async def _relay(self, scope: Scope, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if scope["method"] == "HEAD":
                await send({"type": "http.response.body", "body": b""})
                return
            try:
                async for chunk in self.upstream.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except httpx.TransportError as exc:
                # The status is already sent: all that is left is to cut the response short.
                log.warning("upstream failed mid-response: %s", type(exc).__name__)
                raise
            await send({"type": "http.response.body", "body": b""})
        finally:
            with anyio.CancelScope(shield=True):  # close the upstream even when cancelled
                await self.upstream.aclose()


def _outbound(transaction: Transaction | None, url: str, method: str,
              status: int | None, started: float, error: str | None) -> None:
    if transaction is not None:  # the URL is cleaned of credentials and query there
        transaction.add_outbound("http", method, url, status, time.perf_counter() - started,
                                 error)


class _Streamed:
    """The request body passed on chunk by chunk, remembering whether it was read to the end."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.is_done = False

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self.request.stream():
            yield chunk
        self.is_done = True


def _has_body(request: Request) -> bool:
    return "content-length" in request.headers or "transfer-encoding" in request.headers


def upstream_url(request: Request, route: GatewayRoute) -> str:
    """The upstream base plus the request path (unchanged, or without `path`) and query."""
    raw: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    if route.strip_prefix and route.path != "/":
        path = path[len(route.path):] if path.startswith(route.path) else path
        path = path if path.startswith("/") else "/" + path
    query = request.scope.get("query_string", b"").decode("latin-1")
    return route.upstream + path + (f"?{query}" if query else "")


def upstream_headers(request: Request, route: GatewayRoute,
                     record: TokenRecord) -> list[tuple[bytes, bytes]]:
    prefix = route.header_prefix.lower().encode("latin-1")
    connection = {
        t.strip().lower().encode("latin-1")
        for t in request.headers.get("connection", "").split(",")
        if t.strip()
    }
    dropped = {n.encode() for n in HOP_BY_HOP} | connection | {b"authorization", b"host"}
    headers = [
        (name, value)
        for name, value in request.headers.raw
        if name.lower() not in dropped and not name.lower().startswith(prefix)
    ]
    client_host = request.client.host if request.client else ""
    forwarded_for = request.headers.get("x-forwarded-for")
    headers = [(n, v) for n, v in headers if not n.lower().startswith(b"x-forwarded-")]
    headers += [
        (b"x-forwarded-for", (f"{forwarded_for}, {client_host}" if forwarded_for
                              else client_host).encode("latin-1")),
        (b"x-forwarded-proto", request.url.scheme.encode("latin-1")),
        (b"x-forwarded-host", request.headers.get("host", "").encode("latin-1")),
    ]
    identity = {
        "Subject": record.subject or record.client_id,
        "Client-Id": record.client_id,
        "Scope": " ".join(record.scopes),
    }
    for name, value in record.metadata.items():
        if _HEADER_NAME.fullmatch(name):
            identity[f"Meta-{name}"] = value
    for name, value in identity.items():
        clean = value.replace("\r", " ").replace("\n", " ")
        headers.append(((route.header_prefix + name).encode("latin-1"), clean.encode("utf-8")))
    return headers


class RouteProxy:
    """The ASGI endpoint of one route: any method, the path and everything below it."""

    def __init__(self, route: GatewayRoute) -> None:
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        gateway: Gateway = request.app.state.gateway
        body = await _read_form(request)
        if body is not None and "access_token" in dict(parse_qsl(body.decode("latin-1"))):
            raise bearer_error("invalid_request", "the token must be sent in the header", 400)
        transaction = current_transaction()
        try:
            record = await gateway.authenticate(request)
            request.state.attributes = {
                "authentication.subject.id": record.subject or record.client_id,
                "oauth.client.id": record.client_id,
            }
            gateway.check_scope(record, self.route)
        except OAuthError:
            if transaction is not None:
                transaction.mark("token", passed=False)
            raise
        if transaction is not None:
            transaction.mark("token", passed=True)
        response = await gateway.forward(request, self.route, record, body)
        if transaction is not None:
            transaction.mark(self.route.service_name, passed=response.status_code < 400)
        return response


async def _read_form(request: Request) -> bytes | None:
    """A form body is read whole (up to 1 MiB) to refuse a token sent in it (RFC 6750 2.2)."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != FORM_TYPE or request.method in ("GET", "HEAD"):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise OAuthError("invalid_request", "a form body over 1 MiB cannot pass the gateway",
                             413)
        chunks.append(chunk)
    return b"".join(chunks)


def gateway_routes(settings: GatewaySettings) -> list[BaseRoute]:
    """Two routes per entry: the path itself and everything below it."""
    routes: list[BaseRoute] = []
    for route in settings.routes:
        proxy = RouteProxy(route)
        base = "" if route.path == "/" else route.path
        routes.append(Route(route.path, proxy, name=f"gateway:{route.service_name}"))
        routes.append(Route(base + "/{rest:path}", proxy, name=f"gateway:{route.service_name}/"))
    return routes
