"""`GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0) and `/oauth2/jwks`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from authgate.endpoints.metadata import server_document
from authgate.oidc import OPENID
from authgate.services import Services

# Every claim an id token or the UserInfo answer may carry.
CLAIMS = (
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "azp",
    "preferred_username",
)
# Seconds a client may cache the JWKS; a key rotated in meanwhile is found by its unknown `kid`,
# on which relying-party libraries fetch the set again.
JWKS_MAX_AGE = 60


async def openid_configuration(request: Request) -> Response:
    """The RFC 8414 document, with what OpenID Connect Discovery 1.0 section 3 adds."""
    services: Services = request.app.state.services
    body = await server_document(request)
    body["scopes_supported"] = sorted({OPENID, *body["scopes_supported"]})
    body |= {
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [services.settings.oidc.signing_alg],
        "claims_supported": list(CLAIMS),
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "prompt_values_supported": ["none", "login", "consent"],
    }
    return JSONResponse(body, headers={"Cache-Control": "max-age=60"})


async def jwks(request: Request) -> Response:
    """The published public keys, each with `kid`, `use` and `alg` (RFC 7517 section 5)."""
    services: Services = request.app.state.services
    body = await services.oidc.ring.jwks()
    return JSONResponse(body, headers={"Cache-Control": f"max-age={JWKS_MAX_AGE}"})
