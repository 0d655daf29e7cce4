"""Behind a TLS-terminating proxy: what the peers of `[server] forwarded_allow_ips` may say.

From such a peer, `X-Forwarded-For` and `X-Forwarded-Proto` name the client and the scheme it
used (uvicorn's own middleware reads them), and `client_certificate_header` carries the
client's certificate, a URL-encoded PEM as nginx's `$ssl_client_escaped_cert` gives it: the
request's certificate is then that one, or none when the header is absent or empty, never the
proxy's own. From any other peer these headers mean nothing. The gateway never forwards the
certificate header upstream (gateway/headers.py).
"""

from __future__ import annotations

from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from authgate.config import ServerSettings


def behind_proxies(server: ServerSettings, app: ASGIApp) -> ASGIApp:
    """`app` reading what the trusted proxies say; `app` itself when none is configured."""
    if not server.forwarded_allow_ips:
        return app
    trusting = ProxyHeadersMiddleware(app, trusted_hosts=server.forwarded_allow_ips)  # type: ignore[arg-type]  # uvicorn's own ASGI types
    if not server.client_certificate_header:
        return trusting  # type: ignore[return-value]
    return CertificateHeader(trusting, server.client_certificate_header, trusting.trusted_hosts)  # type: ignore[arg-type]


class CertificateHeader:
    """The client certificate from a trusted proxy's header, as the ASGI TLS extension."""

    def __init__(self, app: ASGIApp, header: str, trusted: object) -> None:
        self.app = app
        self.header = header.lower().encode("latin-1")
        self.trusted = trusted  # uvicorn's trusted hosts: `host in trusted`

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and client and client[0] in self.trusted:  # type: ignore[operator]
            values = [value for name, value in scope["headers"] if name == self.header]
            pem = unquote(values[0].decode("latin-1")) if len(values) == 1 else ""
            extensions = scope.setdefault("extensions", {})
            tls = dict(extensions.get("tls") or {})
            tls["client_cert_chain"] = [pem] if pem.strip() else []
            extensions["tls"] = tls
        await self.app(scope, receive, send)
