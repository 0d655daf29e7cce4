"""JSON answers of the OAuth endpoints: RFC 6749 section 5 headers on every one of them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
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


class OutageLog:
    """One warning a second at most per unavailable dependency, with how many it stands for.

    During an outage every request answers 503: a line each filled the log with thousands
    of copies a second (seen in the outage drill), burying everything else.
    """

    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}
        self._quiet: dict[str, int] = {}  # 503s not logged since the last line

    def answered_503(self, exc: StoreUnavailable) -> None:
        now = self.clock()
        last = self._last.get(exc.what)
        if last is not None and now - last < self.interval:
            self._quiet[exc.what] = self._quiet.get(exc.what, 0) + 1
            return
        self._last[exc.what] = now
        quiet = self._quiet.pop(exc.what, 0)
        more = f" (and {quiet} more since the last line)" if quiet else ""
        log.warning("answering 503: %s%s", exc, more)


OUTAGES = OutageLog()


def unavailable(exc: StoreUnavailable) -> Response:
    OUTAGES.answered_503(exc)
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
