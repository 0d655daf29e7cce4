"""JWT access tokens (RFC 9068): the token's record as signed claims.

The JWT is still stored by its digest like an opaque token, so introspection, revocation and
refresh families treat both alike; its signature only lets the gateway refuse a forgery before
it asks the store.
"""

from __future__ import annotations

from typing import Any

from joserfc.jwt import JWTClaimsRegistry

from authgate.models import TokenRecord
from authgate.oidc.errors import InvalidToken
from authgate.oidc.key_ring import KeyRing
from authgate.tokens import generate_token

TYP = "at+jwt"  # RFC 9068 section 2.1
JTI_LENGTH = 22


class JwtAccessTokens:
    def __init__(self, ring: KeyRing, issuer: str, audiences: frozenset[str]) -> None:
        self.ring = ring
        self.issuer = issuer
        self.audiences = audiences

    async def encode(self, record: TokenRecord, audience: str) -> str:
        """RFC 9068 section 2.2: the claims of the token's record."""
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": record.subject or record.client_id,
            "aud": audience,
            "client_id": record.client_id,
            "iat": record.issued_at,
            "exp": record.expires_at,
            "jti": generate_token(JTI_LENGTH),
            "scope": " ".join(record.scopes),
        }
        if record.auth_time is not None:
            claims["auth_time"] = record.auth_time
        if record.cnf:  # RFC 8705 section 3.1: the certificate the token is bound to
            claims["cnf"] = record.cnf
        return await self.ring.sign({"typ": TYP}, claims)

    async def verify(self, value: str) -> dict[str, Any]:
        """RFC 9068 section 4: `typ`, signature, `iss`, `aud` and `exp`; else InvalidToken."""
        token = await self.ring.verify(
            value,
            JWTClaimsRegistry(
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "values": sorted(self.audiences)},
                exp={"essential": True},
                client_id={"essential": True},
            ),
        )
        if str(token.header.get("typ", "")).lower() not in (TYP, "application/at+jwt"):
            raise InvalidToken("not an access token (typ)")
        return dict(token.claims)
