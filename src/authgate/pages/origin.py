"""Whether a form post comes from authgate's own pages: the defence, with the CSRF token bound
to the session, against login CSRF and forged consent or manager actions."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_same_origin(request: Request, issuer: str) -> bool:
    """Fetch Metadata first, then `Origin`; a post with neither is left to the CSRF token."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() != "same-origin":
        return False  # the browser says the form was on another site or origin
    origin = request.headers.get("origin")
    if origin is None or origin.strip().lower() == "null":
        # Under `Referrer-Policy: no-referrer` browsers send `Origin: null` even for our own
        # forms; then Fetch Metadata (above) and the CSRF token decide.
        return True
    ours = {_origin(issuer)}
    host = request.headers.get("host")
    if host:
        ours.add(_origin(f"{request.url.scheme}://{host}"))
    return _origin(origin) in ours - {None}


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) with the default port spelled out, or None for no origin."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not parts.hostname or scheme not in _DEFAULT_PORTS:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]
