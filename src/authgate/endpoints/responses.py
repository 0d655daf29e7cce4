"""JSON answers of the OAuth endpoints: RFC 6749 section 5 headers on every one of them."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.responses import Response

from authgate.errors import OAuthError, StoreUnavailable

log = logging.getLogger("authgate.endpoints")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers=NO_STORE | (headers or {}),
    )


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


def server_error() -> Response:
    return oauth_json(
        {"error": "server_error", "error_description": "the server failed to answer"}, 500
    )
