"""`POST /oauth2/introspect` (RFC 7662), for confidential clients registered with
`--introspect`."""

from __future__ import annotations

from starlette.responses import Response

from authgate.clients import invalid_client
from authgate.endpoints.client_request import read_client_request
from authgate.endpoints.fast_lane import EndpointRequest
from authgate.endpoints.responses import oauth_json
from authgate.errors import OAuthError
from authgate.models import TokenRecord
from authgate.services import Services
from authgate.tokens import digest

INACTIVE = {"active": False}


def describe(record: TokenRecord) -> dict[str, object]:
    """RFC 7662 section 2.2 members for an active token."""
    body: dict[str, object] = {
        "active": True,
        "scope": " ".join(record.scopes),
        "client_id": record.client_id,
        "token_type": record.token_type,
        "exp": record.expires_at,
        "iat": record.issued_at,
        "metadata": record.metadata,
    }
    if record.subject:
        body["sub"] = record.subject
    if record.username:
        body["username"] = record.username
    if record.cnf:
        body["cnf"] = record.cnf  # RFC 8705 section 3.2
    return body


async def introspect(request: EndpointRequest) -> Response:
    services: Services = request.app_state.services
    form, client, credentials = await read_client_request(
        request, services, ("token", "token_type_hint")
    )
    if not client.may_introspect:
        raise invalid_client("client may not introspect", via_header=credentials.via_header)
    token = form.get("token")
    if token is None:
        raise OAuthError("invalid_request", "token is required")
    record = await services.tokens.get(digest(token))
    if record is None or record.consumed or record.kind == "authorization_code":
        return oauth_json(INACTIVE)
    return oauth_json(describe(record))
