"""The gateway's headers: what it reads of a request, and what it sends on either way.

A request's raw headers are read once (`Incoming`): the client's credentials and hop-by-hop
headers are kept back, identity headers a client sent are dropped however it spelt their
names (they come only from the token), so is a TLS-terminating proxy's client-certificate
header (`[server] client_certificate_header`: no upstream may take it for proof), and
`X-Forwarded-*` is rewritten from what the gateway saw. The upstream's answer loses its
hop-by-hop headers before it goes back.
"""

from __future__ import annotations

import re

from starlette.types import Scope

from authgate.pages.cookies import OWN_COOKIE_NAMES

# RFC 9110 section 7.6.1 plus the ones proxies have always dropped (names in lower case).
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Never forwarded from the client: its credentials, and what the upstream client sets itself.
_DROPPED = _HOP_BY_HOP | {b"authorization", b"host", b"content-length"}
_SANDBOX = (b"content-security-policy", b"sandbox")
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token


class Incoming:
    """What the gateway needs of a request, from one pass over its raw headers."""

    __slots__ = (
        "authorization",
        "content_length",
        "content_type",
        "forwarded_for",
        "has_body",
        "headers",
        "host",
    )

    def __init__(
        self, raw: list[tuple[bytes, bytes]], prefix: bytes, withheld: bytes = b""
    ) -> None:
        """`prefix`: the route's header prefix, `folded`; `withheld`: one more header name,
        `folded`, never sent on (the proxy's client-certificate header)."""
        authorization: list[bytes] = []
        connection: list[bytes] = []
        headers: list[tuple[bytes, bytes]] = []
        host = content_type = b""
        forwarded_for = content_length = None
        has_body = False
        for name, value in raw:
            lower = name.lower()
            if lower in _DROPPED:
                if lower == b"authorization":
                    authorization.append(value)
                elif lower == b"host":
                    host = host or value
                elif lower == b"connection":
                    connection.append(value)
                elif lower == b"content-length":
                    content_length = content_length or value
                    has_body = True
                elif lower == b"transfer-encoding":
                    has_body = True
                continue
            # Identity headers come only from the token. `_` counts as `-`: WSGI and CGI
            # upstreams read both as one HTTP_X_AUTHGATE_... variable.
            fold = folded(lower)
            if fold.startswith(prefix) or fold == withheld:
                continue
            if lower.startswith(b"x-forwarded-"):  # rewritten below, from what we saw
                if lower == b"x-forwarded-for" and forwarded_for is None:
                    forwarded_for = value
                continue
            if lower == b"content-type" and not content_type:
                content_type = value
            elif lower == b"cookie":
                value = without_own_cookies(value)
                if not value:
                    continue
            headers.append((name, value))
        if connection:  # RFC 9110 section 7.6.1: the headers it names are hop-by-hop too
            named = {t.strip().lower() for v in connection for t in v.split(b",")}
            headers = [(n, v) for n, v in headers if n.lower() not in named]
        self.authorization = authorization
        self.headers = headers
        self.host = host
        self.forwarded_for = forwarded_for
        self.content_type = content_type
        self.content_length = int(content_length) if content_length is not None else None
        self.has_body = has_body


def folded(name: bytes) -> bytes:
    """A header name as CGI-style servers see it: case and `_` versus `-` do not count."""
    return name.lower().replace(b"_", b"-")


def without_own_cookies(value: bytes) -> bytes:
    """A `Cookie` header without authgate's own cookies: unchanged where it has none."""
    pairs = value.split(b";")
    kept = [pair for pair in pairs if _cookie_name(pair) not in OWN_COOKIE_NAMES]
    if len(kept) == len(pairs):
        return value
    return b"; ".join(pair.strip() for pair in kept if pair.strip())


def _cookie_name(pair: bytes) -> bytes:
    return pair.split(b"=", 1)[0].strip()


def response_headers(
    headers: list[tuple[bytes, bytes]], *, sandbox: bool
) -> list[tuple[bytes, bytes]]:
    """The upstream's headers (names arrive in lower case) without hop-by-hop ones and without
    a `Set-Cookie` of authgate's own names; with `sandbox`, the upstream's content runs in a
    unique origin, unable to read authgate's pages or to use their cookies."""
    kept = [
        (name, value)
        for name, value in headers
        if name not in _HOP_BY_HOP
        and (name != b"set-cookie" or _cookie_name(value) not in OWN_COOKIE_NAMES)
    ]
    named = {
        t.strip().lower()
        for name, value in headers
        if name == b"connection"
        for t in value.split(b",")
    }
    if named:
        kept = [(name, value) for name, value in kept if name not in named]
    if sandbox:  # added to the upstream's own policies, if any: a browser enforces them all
        kept.append(_SANDBOX)
    return kept


def forwarded_headers(scope: Scope, request: Incoming) -> list[tuple[bytes, bytes]]:
    client = scope.get("client")
    client_host = client[0].encode("latin-1") if client else b""
    forwarded_for = request.forwarded_for
    return [
        (b"x-forwarded-for", forwarded_for + b", " + client_host if forwarded_for else client_host),
        (b"x-forwarded-proto", scope.get("scheme", "http").encode("latin-1")),
        (b"x-forwarded-host", request.host),
    ]


def header_value(value: str) -> bytes:
    """A token's value as a header value: a line break in it could start a header of its own."""
    return value.replace("\r", " ").replace("\n", " ").encode("utf-8")
