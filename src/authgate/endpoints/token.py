"""`POST /oauth2/token`: parse, authenticate the client, run the grant's flow."""

from __future__ import annotations

from starlette.responses import Response

from authgate.certificates import name_by_certificate
from authgate.endpoints.client_request import read_client_request
from authgate.endpoints.fast_lane import EndpointRequest
from authgate.endpoints.responses import oauth_json
from authgate.errors import OAuthError
from authgate.flows import Flow, TokenRequest
from authgate.services import Services


async def token(request: EndpointRequest) -> Response:
    services: Services = request.app_state.services
    flows: dict[str, Flow] = request.app_state.flows
    form, client, _ = await read_client_request(request, services, ("grant_type", "scope"))
    grant_type = form.get("grant_type")
    if grant_type is None:
        raise OAuthError("invalid_request", "grant_type is required")
    flow = flows.get(grant_type)
    if flow is None:
        raise OAuthError("unsupported_grant_type", "grant_type is not supported")
    form.reject_repeated(flow.parameters)
    certificate = request.certificate
    req = TokenRequest(
        client,
        form,
        {"oauth.client.id": client.client_id},
        certificate_thumbprint=certificate.thumbprint if certificate else None,
    )
    request.state["attributes"] = req.attributes
    grant = await flow.run(req)
    if certificate is not None and client.auth_method != "secret":
        name_by_certificate(req.attributes, client.client_id, certificate)
    return oauth_json(grant.response())
