"""Bearer access tokens where a resource reads them (RFC 6750): the gateway and UserInfo.

A JWT access token (RFC 9068) is checked against the key ring first, so a forged or expired
one is refused without a store lookup; then every token, JWT or opaque, must be live in the
store, which is how a revoked JWT stays refused.
"""

from __future__ import annotations

import re

from authgate.errors import BEARER_CHALLENGE as CHALLENGE
from authgate.errors import OAuthError
from authgate.models import TokenRecord
from authgate.oidc import InvalidToken
from authgate.services import Services
from authgate.tokens import digest

B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 section 2.1


def looks_like_jwt(value: str) -> bool:
    """An opaque token is [A-Za-z0-9] only: a dot means a JWS compact serialisation."""
    return "." in value


def bearer_error(
    code: str, description: str, status: int, scope: str = "", *, detail: str | None = None
) -> OAuthError:
    """RFC 6750 section 3: the code in the challenge and in the JSON body."""
    challenge = f'{CHALLENGE}, error="{code}", error_description="{description}"'
    if scope:
        challenge += f', scope="{scope}"'
    headers = {"WWW-Authenticate": challenge}
    return OAuthError(code, description, status, detail=detail, headers=headers)  # type: ignore[arg-type]  # code is one of the RFC 6750 codes


def token_from_header(header: str) -> str:
    """The token of an `Authorization: Bearer` header; 401 with a bare challenge without one."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise OAuthError(
            "invalid_request",
            "a bearer token is required",
            401,
            headers={"WWW-Authenticate": CHALLENGE},
        )
    value = value.strip()
    if not B64TOKEN.fullmatch(value):
        raise bearer_error("invalid_request", "the bearer token is malformed", 400)
    return value


async def access_token_record(services: Services, value: str) -> TokenRecord:
    """The live record of an access token, or 401 `invalid_token`."""
    if looks_like_jwt(value):
        try:
            await services.oidc.access_tokens.verify(value)
        except InvalidToken as exc:
            raise bearer_error(
                "invalid_token", "the access token is invalid or expired", 401, detail=str(exc)
            ) from None
    record = await services.tokens.get(digest(value))
    # Stores return no expired record; a consumed one is refused as the contract allows it.
    if record is None or record.consumed or record.kind != "access_token":
        raise bearer_error("invalid_token", "the access token is invalid or expired", 401)
    return record
