"""`GET` and `POST /oauth2/userinfo` (OpenID Connect Core 1.0 section 5.3), with the access
token as a Bearer token (RFC 6750 section 2.1); errors per RFC 6750 section 3."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authgate.bearer import access_token_record, bearer_error, token_from_header
from authgate.endpoints.responses import oauth_json
from authgate.oidc import OPENID
from authgate.services import Services


async def userinfo(request: Request) -> Response:
    services: Services = request.app.state.services
    headers = request.headers.getlist("authorization")
    if len(headers) > 1:
        raise bearer_error("invalid_request", "more than one Authorization header", 400)
    record = await access_token_record(services, token_from_header(headers[0] if headers else ""))
    if OPENID not in record.scopes:  # section 5.3: the token was issued for OpenID Connect
        raise bearer_error("insufficient_scope", "the token lacks the openid scope", 403, OPENID)
    body = {"sub": record.subject or record.client_id}
    if record.username:
        body["preferred_username"] = record.username
    return oauth_json(body)
