"""`GET /.well-known/oauth-authorization-server` (RFC 8414), `/healthz`, `/readyz`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from authgate.clients import auth_methods
from authgate.errors import StoreUnavailable
from authgate.services import Services


async def server_document(request: Request) -> dict[str, Any]:
    """RFC 8414 section 2: every endpoint, and what each accepts."""
    services: Services = request.app.state.services
    issuer = services.issuer
    mutual_tls = bool(services.settings.server.tls_client_ca)
    methods = auth_methods(services.settings.client_auth, tls=mutual_tls)
    body = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth2/authorize",
        "token_endpoint": f"{issuer}/oauth2/token",
        "introspection_endpoint": f"{issuer}/oauth2/introspect",
        "revocation_endpoint": f"{issuer}/oauth2/revoke",
        "grant_types_supported": sorted(request.app.state.flows),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_methods_supported": [m for m in methods if m != "none"],
        "revocation_endpoint_auth_methods_supported": methods,
        "scopes_supported": await services.registry.all_scopes(),
        "authorization_response_iss_parameter_supported": True,
        "jwks_uri": f"{issuer}/oauth2/jwks",
        "userinfo_endpoint": f"{issuer}/oauth2/userinfo",
        "end_session_endpoint": f"{issuer}/oauth2/logout",
    }
    if mutual_tls:  # RFC 8705 section 3.3
        body["tls_client_certificate_bound_access_tokens"] = True
    return body


async def server_metadata(request: Request) -> Response:
    return JSONResponse(await server_document(request), headers={"Cache-Control": "max-age=60"})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    services: Services = request.app.state.services
    try:
        await services.ping()
        await services.users.ping()  # the LDAP directory; local and policy users add nothing
    except StoreUnavailable as exc:
        return JSONResponse(
            {
                "status": "unavailable",
                "error": "temporarily_unavailable",
                "error_description": f"{exc.what} is unavailable",
            },
            503,
        )
    return JSONResponse({"status": "ready"})
