"""JSON answers of the OAuth endpoints: RFC 6749 section 5 headers on every one of them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from authgate.errors import OAuthError, StoreUnavailable

log = logging.getLogger("authgate.endpoints")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


_NO_STORE_RAW = [
    (b"content-type", b"application/json"),
    *((name.lower().encode(), value.encode()) for name, value in NO_STORE.items()),
]


class OAuthJSON(Response):
    """A JSON answer with the section 5 headers, its raw header list built in one step:
    Starlette's Response.__init__ renders, then scans and re-encodes its headers, on every
    token, introspection and revocation answer."""

    media_type = "application/json"

    def __init__(
        self, body: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        self.status_code = status
        self.background = None
        self.body = orjson.dumps(body)
        self.raw_headers = [*_NO_STORE_RAW, (b"content-length", b"%d" % len(self.body))]
        if headers:
            self.raw_headers += [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in headers.items()
            ]


def oauth_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return OAuthJSON(body, status, headers)


def oauth_error(exc: OAuthError) -> Response:
    if exc.detail:
        log.info("%s: %s", exc.code, exc.detail)
    return oauth_json(exc.as_dict(), exc.status, exc.headers)


def unavailable(exc: StoreUnavailable) -> Response:
    log.warning("answering 503: %s", exc)
    return oauth_json(
        {"error": "temporarily_unavailable", "error_description": f"{exc.what} is unavailable"},
        503,
        {"Retry-After": "5"},
    )


def error_response(exc: Exception, path: str) -> Response:
    """The one mapping of a failure to its answer, for every path of the application."""
    if isinstance(exc, OAuthError):
        return oauth_error(exc)
    if isinstance(exc, StoreUnavailable):
        return unavailable(exc)
    log.error("unhandled error on %s", path, exc_info=exc)
    return server_error()


def server_error() -> Response:
    return oauth_json(
        {"error": "server_error", "error_description": "the server failed to answer"}, 500
    )
