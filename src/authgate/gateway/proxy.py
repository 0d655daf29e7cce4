"""API-gateway front: check the bearer token (RFC 6750), then stream the call to the upstream.

Each `[[gateway.routes]]` entry guards a path prefix. The token comes only in
`Authorization: Bearer`; the upstream never sees it, and gets the token's identity in
`<header_prefix>Subject`, `Client-Id`, `Scope` and `Meta-<Name>` headers instead.

This is the hot path of a gateway request, so it reads the raw ASGI scope once (no Starlette
`Request`) and forwards with `authgate.upstream`, not httpx.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from authgate.bearer import access_token_record, bearer_error, token_from_header
from authgate.certificates import (
    PeerCertificate,
    name_by_certificate,
    peer_certificate,
    same_thumbprint,
)
from authgate.config import GatewayRoute, GatewaySettings
from authgate.endpoints.responses import error_response, oauth_json
from authgate.errors import OAuthError
from authgate.gateway.connection import UpstreamError, UpstreamTimeout
from authgate.gateway.headers import (
    HEADER_NAME,
    Incoming,
    folded,
    forwarded_headers,
    header_value,
    response_headers,
)
from authgate.gateway.upstream import Target, UpstreamPool, UpstreamResponse
from authgate.models import TokenRecord
from authgate.monitoring import Transaction, clean_target, current_transaction
from authgate.paths import request_path
from authgate.services import Services

log = logging.getLogger("authgate.gateway")

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 1024 * 1024  # a form body is read whole to look for `access_token`
_FORWARDED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE"


def _gateway_error(status: int, code: str, description: str) -> Response:
    return oauth_json({"error": code, "error_description": description}, status)


class Gateway:
    """The routes' shared state: the services and the one pool every route forwards through."""

    def __init__(self, settings: GatewaySettings, services: Services) -> None:
        self.settings = settings
        self.services = services
        self.pool = UpstreamPool(max_connections=200)
        header = services.settings.server.client_certificate_header
        self.withheld = folded(header.encode("latin-1")) if header else b""

    async def close(self) -> None:
        await self.pool.close()

    async def authenticate(self, request: Incoming, query: bytes, *, has_form: bool) -> TokenRecord:
        """Guard and load: the record of the request's bearer token, or a Bearer error.
        Nothing of the body is read here (SPEC.md, Hardening)."""
        if len(request.authorization) > 1:
            raise bearer_error("invalid_request", "more than one Authorization header", 400)
        if _names_access_token(query):
            raise bearer_error("invalid_request", "the token must be sent in the header", 400)
        header = request.authorization[0].decode("latin-1") if request.authorization else ""
        if has_form and not header.strip().lower().startswith("bearer"):
            # The token may be in the form, which SPEC refuses with 400 rather than 401.
            # Finding out would mean reading a body before any token is checked, so a
            # form that comes without a bearer token is refused on its type alone.
            raise bearer_error(
                "invalid_request", "the token must be sent in the Authorization header", 400
            )
        # A JWT's signature is checked before the store is asked (RFC 9068 section 4).
        return await access_token_record(self.services, token_from_header(header))

    @staticmethod
    def check_binding(record: TokenRecord, certificate: PeerCertificate | None) -> bool:
        """RFC 8705 section 3: a bound token only with its certificate; whether it is bound."""
        bound = record.certificate_thumbprint
        if bound is None:
            return False
        if certificate is None or not same_thumbprint(bound, certificate.thumbprint):
            raise bearer_error(
                "invalid_token", "the access token is bound to another certificate", 401
            )
        return True

    @staticmethod
    def check_scope(record: TokenRecord, route: GatewayRoute) -> None:
        if any(scope not in record.scopes for scope in route.scopes):
            raise bearer_error(
                "insufficient_scope",
                "the token lacks a required scope",
                403,
                " ".join(route.scopes),
            )

    @staticmethod
    def upstream_for(proxy: RouteProxy, record: TokenRecord) -> Target:
        """Where the call goes: a portal sandbox key's token to the route's sandbox upstream,
        and nowhere (403) on a route without one; any other token to the upstream."""
        # The token says whether its client is a sandbox key (`tokens.mint` writes it from
        # the authenticated client), so the client is not read here. A record without the
        # mark is taken as not a sandbox key's, with no lookup to make sure: sandbox keys
        # came with the developer portal, in the same release as the mark, so no earlier
        # release issued a token for one. A key's environment never changes, and deleting
        # a key revokes its tokens. Only a build from between the two could have left an
        # unmarked sandbox access token, for at most its lifetime: its refresh tokens mint
        # marked ones. A fallback lookup for unmarked records would be a lookup for every
        # ordinary token, the cost this removes.
        if not record.is_sandbox:
            return proxy.target
        if proxy.sandbox_target is None:
            raise bearer_error(
                "insufficient_scope", "this route takes no sandbox keys' tokens", 403
            )
        return proxy.sandbox_target

    async def forward(
        self,
        proxy: RouteProxy,
        target: Target,
        scope: Scope,
        receive: Receive,
        request: Incoming,
        record: TokenRecord,
        body: bytes | None,
    ) -> Response | UpstreamRelay:
        method: str = scope["method"]
        if method == "CONNECT":
            # RFC 9110 section 9.3.6: a tunnel to an authority, which a route is not. Forwarded,
            # the upstream's 2xx would read as an open tunnel to the upstream client.
            refusal = {"error": "invalid_request", "error_description": "CONNECT is not forwarded"}
            return oauth_json(refusal, 405, {"Allow": _FORWARDED_METHODS})
        route = proxy.route
        headers = request.headers
        headers += forwarded_headers(scope, request)
        headers += proxy.identity_headers(record)
        path = proxy.upstream_path(scope)
        content: bytes | _BodyStream | None = body
        if body is None and request.has_body:
            content = _BodyStream(receive)
        logged = proxy.logged_upstream if target is proxy.target else proxy.logged_sandbox
        transaction = current_transaction()
        started = time.perf_counter()
        try:
            upstream = await self.pool.request(
                target,
                method.encode("latin-1"),
                path,
                headers,
                content,
                content_length=request.content_length,
                time_limit=route.timeout,
            )
        except UpstreamTimeout as exc:
            _outbound(transaction, logged, path, method, None, started, exc.kind)
            return _gateway_error(504, "gateway_timeout", "the upstream did not answer in time")
        except UpstreamError as exc:
            _outbound(transaction, logged, path, method, None, started, exc.kind)
            return _gateway_error(502, "bad_gateway", "the upstream could not be reached")
        _outbound(transaction, logged, path, method, upstream.status, started, None)
        body_read = not isinstance(content, _BodyStream) or content.is_done
        return UpstreamRelay(upstream, watch_disconnect=body_read, sandbox=route.sandbox)


class UpstreamRelay:
    """The upstream's answer, passed on chunk by chunk and never held whole."""

    def __init__(
        self, upstream: UpstreamResponse, *, watch_disconnect: bool, sandbox: bool
    ) -> None:
        self.upstream = upstream
        # Only once the request body is read whole may `receive` be watched for a disconnect.
        self.watch_disconnect = watch_disconnect
        self.status_code = upstream.status
        self.raw_headers = response_headers(upstream.headers, sandbox=sandbox)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        upstream = self.upstream
        start = {
            "type": "http.response.start",
            "status": self.status_code,
            "headers": self.raw_headers,
        }
        if upstream.is_complete or scope["method"] == "HEAD":
            # All here already (the usual small answer): the connection goes back to the
            # pool before the client is even written to, and nothing needs watching.
            body = upstream.take() if scope["method"] != "HEAD" else b""
            upstream.close()
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return
        watcher = None
        try:
            await send(start)
            if self.watch_disconnect:
                watcher = asyncio.ensure_future(_abort_on_disconnect(receive, upstream))
            while chunk := await upstream.read():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        except UpstreamError as exc:
            if watcher is not None and watcher.done() and not watcher.cancelled():
                return  # the client left and the upstream was let go: nothing to finish
            # The status is already sent: all that is left is to cut the response short.
            log.warning("upstream failed mid-response: %s", exc.kind)
            raise
        finally:
            if watcher is not None:
                watcher.cancel()
            upstream.close()


async def _abort_on_disconnect(receive: Receive, upstream: UpstreamResponse) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    upstream.abort()  # the client left: stop reading the upstream


def _outbound(
    transaction: Transaction | None,
    logged: str,
    path: bytes,
    method: str,
    status: int | None,
    started: float,
    error: str | None,
) -> None:
    """Record the call: `logged` is the upstream as `clean_target` leaves it, and the path
    loses its query here, which is all that `clean_target` would do to the whole URL."""
    if transaction is not None and transaction.record_outbound:
        url = (logged + path.split(b"?", 1)[0].decode("latin-1"))[:500]
        duration = time.perf_counter() - started
        transaction.add_outbound("http", method, url, status, duration, error, is_clean=True)


class _BodyStream:
    """The request body passed on chunk by chunk, remembering whether it was read to the end."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.is_done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while not self.is_done:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            self.is_done = not message.get("more_body", False)
            chunk: bytes = message.get("body", b"")
            if chunk:
                yield chunk


class RouteProxy:
    """The ASGI endpoint of one route: any method, the path and everything below it."""

    def __init__(self, route: GatewayRoute) -> None:
        self.route = route
        self.target = Target.parse(route.upstream)
        self.sandbox_target = (
            Target.parse(route.sandbox_upstream) if route.sandbox_upstream else None
        )
        # The upstreams as the traffic log shows them (no credentials), made once per route.
        self.logged_upstream = clean_target(route.upstream)
        self.logged_sandbox = clean_target(route.sandbox_upstream)
        self.prefix = folded(route.header_prefix.encode("latin-1"))
        names = {
            n: (route.header_prefix + n).encode("latin-1")
            for n in ("Subject", "Client-Id", "Scope", "Meta-")
        }
        self._subject, self._client_id, self._scope, self._meta = names.values()
        self._strip = route.path.encode() if route.strip_prefix and route.path != "/" else None

    def upstream_path(self, scope: Scope) -> bytes:
        """The request path (unchanged, or without the route's `path`) and query."""
        path = request_path(scope)
        if self._strip is not None:
            path = path[len(self._strip) :] if path.startswith(self._strip) else path
            path = path if path.startswith(b"/") else b"/" + path
        query: bytes = scope.get("query_string", b"")
        return path + b"?" + query if query else path

    def identity_headers(self, record: TokenRecord) -> list[tuple[bytes, bytes]]:
        headers = [
            (self._subject, header_value(record.subject or record.client_id)),
            (self._client_id, header_value(record.client_id)),
            (self._scope, header_value(" ".join(record.scopes))),
        ]
        for name, value in record.metadata.items():
            if HEADER_NAME.fullmatch(name):
                headers.append((self._meta + name.encode("latin-1"), header_value(value)))
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await self.handle(scope, receive)
        except ClientDisconnect:
            return  # gone while sending its body: nobody to answer
        except Exception as exc:
            response = error_response(exc, scope["path"])
        await response(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive) -> Response | UpstreamRelay:
        """Check the token and call the upstream: its answer, ready to send, or an error."""
        gateway: Gateway = scope["app"].state.gateway
        request = Incoming(scope["headers"], self.prefix, gateway.withheld)
        has_form = _has_form(scope, request)
        transaction = current_transaction()
        try:
            record = await gateway.authenticate(
                request, scope.get("query_string", b""), has_form=has_form
            )
            attributes = scope.setdefault("state", {})["attributes"] = {
                "authentication.subject.id": record.subject or record.client_id,
                "oauth.client.id": record.client_id,
            }
            certificate = peer_certificate(scope)
            if gateway.check_binding(record, certificate) and certificate is not None:
                name_by_certificate(attributes, record.client_id, certificate)
            gateway.check_scope(record, self.route)
            target = gateway.upstream_for(self, record)
            # Only a request whose own token passed gets its form read, bounded (RFC 6750
            # section 2.2 is refused: the token goes in the header alone).
            body = await _read_form(receive) if has_form else None
            if body is not None and _names_access_token(body):
                raise bearer_error("invalid_request", "the token must be sent in the header", 400)
        except OAuthError:
            if transaction is not None:
                transaction.mark("token", passed=False)
            raise
        if transaction is not None:
            transaction.mark("token", passed=True)
            transaction.token_client_id = record.client_id
            transaction.token_username = record.username
        response = await gateway.forward(self, target, scope, receive, request, record, body)
        if transaction is not None:
            transaction.mark(self.route.service_name, passed=response.status_code < 400)
        return response


def _names_access_token(form: bytes) -> bool:
    """Does a query string or form body name `access_token` (an empty value counts too)?"""
    return bool(form) and any(
        name == "access_token"
        for name, _ in parse_qsl(form.decode("latin-1"), keep_blank_values=True)
    )


def _has_form(scope: Scope, request: Incoming) -> bool:
    """Could the body be a form that carries `access_token` (RFC 6750 section 2.2)?"""
    if not request.content_type or scope["method"] in ("GET", "HEAD"):
        return False
    return request.content_type.split(b";", 1)[0].strip().lower() == FORM_TYPE.encode()


async def _read_form(receive: Receive) -> bytes:
    """A form body is read whole (up to 1 MiB) to refuse a token sent in it (RFC 6750 2.2)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in _BodyStream(receive):
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise OAuthError(
                "invalid_request", "a form body over 1 MiB cannot pass the gateway", 413
            )
        chunks.append(chunk)
    return b"".join(chunks)
