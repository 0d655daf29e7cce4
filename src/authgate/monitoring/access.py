"""Who may read `/metrics` (SPEC.md, "Hardening"): it names services and clients, usernames
among them, so it is no public page.

Without `[monitoring] metrics_token`, only a loopback peer (127.0.0.0/8, ::1) is answered,
the Prometheus agent on the same host; any other peer gets 403. With a token, any peer that
sends `Authorization: Bearer <token>` is answered, and no one else (401, with a Bearer
challenge), loopback included. The peer is the connection's (uvicorn takes
`X-Forwarded-For` only from a proxy on loopback): a reverse proxy on the same host that does
not set it makes every client a loopback peer, so set a token behind one.
"""

from __future__ import annotations

import hmac
import ipaddress

from pydantic import SecretStr
from starlette.requests import Request

from authgate.errors import BEARER_CHALLENGE as CHALLENGE
from authgate.errors import OAuthError


def is_loopback(host: str | None) -> bool:
    """Whether `host` is a loopback address (an IPv4-mapped IPv6 one too)."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False  # a Unix socket's peer, or no peer: not a loopback address
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def check_metrics_access(request: Request, token: SecretStr) -> None:
    """Return if the peer may read the metrics; else raise the answer (401 or 403)."""
    expected = token.get_secret_value()
    if not expected:
        if is_loopback(request.client.host if request.client else None):
            return
        raise OAuthError("access_denied", "metrics are served to loopback peers only", 403)
    scheme, _, sent = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), expected.encode()):
        return
    if scheme.lower() == "bearer":
        raise OAuthError(
            "invalid_token",
            "the metrics token is not valid",
            401,
            headers={"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'},
        )
    raise OAuthError(
        "invalid_request",
        "a bearer token is required",
        401,
        headers={"WWW-Authenticate": CHALLENGE},
    )
