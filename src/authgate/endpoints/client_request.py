"""The first step of the token, introspection and revocation endpoints: read the form and
authenticate the client (RFC 6749 section 2.3, RFC 7009 section 2.1, RFC 7662 section 2.1)."""

from __future__ import annotations

from collections.abc import Iterable

from authgate.clients import ClientCredentials, read_credentials
from authgate.endpoints.fast_lane import EndpointRequest
from authgate.forms import Form, parse_form_body
from authgate.models import Client
from authgate.services import Services


async def read_client_request(
    request: EndpointRequest, services: Services, parameters: Iterable[str]
) -> tuple[Form, Client, ClientCredentials]:
    """The parsed form (none of `parameters` repeated), the client, and how it authenticated."""
    form = parse_form_body(request.body, request.headers)
    request.state["form"] = form  # monitoring names the token endpoint's service by grant_type
    form.reject_repeated(parameters)
    credentials = read_credentials(
        request.headers, form, services.settings.client_auth, request.certificate
    )
    client = await services.clients.authenticate(credentials)
    return form, client, credentials
