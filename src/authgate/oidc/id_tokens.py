"""ID tokens (OpenID Connect Core 1.0 section 2) and the checks of an `id_token_hint`."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from joserfc.jwt import JWTClaimsRegistry

from authgate.oidc.key_ring import KeyRing
from authgate.tokens import now


def at_hash(access_token: str) -> str:
    """Section 3.1.3.6: the left half of the SHA-256 of the token (RS256 and ES256 both
    hash with SHA-256), base64url without padding."""
    half = hashlib.sha256(access_token.encode("ascii")).digest()[:16]
    return base64.urlsafe_b64encode(half).rstrip(b"=").decode("ascii")


class IdTokens:
    def __init__(self, ring: KeyRing, issuer: str, expiry: int) -> None:
        self.ring = ring
        self.issuer = issuer
        self.expiry = expiry

    async def issue(
        self,
        *,
        client_id: str,
        subject: str,
        auth_time: int,
        access_token: str,
        nonce: str | None = None,
    ) -> str:
        issued_at = now()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": client_id,
            "exp": issued_at + self.expiry,
            "iat": issued_at,
            "auth_time": auth_time,
            "at_hash": at_hash(access_token),
            "azp": client_id,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        return await self.ring.sign({"typ": "JWT"}, claims)

    async def verify_hint(self, value: str) -> dict[str, Any]:
        """The claims of an id token this server issued and that has not expired; the
        caller compares `aud` with the client (RP-Initiated Logout 1.0 section 2)."""
        token = await self.ring.verify(
            value,
            JWTClaimsRegistry(
                iss={"essential": True, "value": self.issuer},
                sub={"essential": True},
                aud={"essential": True},
                exp={"essential": True},
            ),
        )
        return dict(token.claims)
