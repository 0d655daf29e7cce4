"""`POST /oauth2/revoke` (RFC 7009): a client revokes its own access or refresh token."""

from __future__ import annotations

from starlette.responses import Response

from authgate.endpoints.client_request import read_client_request
from authgate.endpoints.fast_lane import EndpointRequest
from authgate.endpoints.responses import oauth_json
from authgate.errors import OAuthError
from authgate.services import Services
from authgate.tokens import digest


async def revoke(request: EndpointRequest) -> Response:
    services: Services = request.app_state.services
    # RFC 7009 section 2.1: the client authenticates as at the token endpoint; a public
    # client identifies itself with its client_id.
    form, client, _ = await read_client_request(request, services, ("token", "token_type_hint"))
    token = form.get("token")
    if token is None:
        raise OAuthError("invalid_request", "token is required")
    # token_type_hint is only a hint (section 2.1): both kinds are looked up by digest alike.
    key = digest(token)
    record = await services.tokens.get(key)
    # Section 2.2: an unknown token, or one issued to another client, still answers 200 (the
    # latter is not revoked: a client may revoke only its own tokens).
    if record is None or record.kind == "authorization_code":
        return oauth_json({})
    if record.client_id != client.client_id:
        services.events.emit("token.revoke_refused", client_id=client.client_id)
        return oauth_json({})
    if record.kind == "refresh_token":
        # Section 2.1: revoking a refresh token revokes the access tokens of its grant.
        await services.tokens.revoke_grant(record.grant_id)
    else:
        await services.tokens.delete(key)
    services.events.emit(
        "token.revoked", client_id=client.client_id, kind=record.kind, grant_id=record.grant_id
    )
    return oauth_json({})
