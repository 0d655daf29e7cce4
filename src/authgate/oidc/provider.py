"""The OpenID Provider of one process: its key ring, id tokens and JWT access tokens, and the
last step of every token response that uses them.

The keys and what uses them are built on first use, not at start: they import joserfc and
cryptography, which cost each process about 15 MB, and a server that issues no id token and
no JWT access token never needs them.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING

from authgate.config import Settings, TokenSettings
from authgate.registry import Registry
from authgate.tokens import IssuedToken, TokenGrant, digest

if TYPE_CHECKING:
    from authgate.oidc.access_tokens import JwtAccessTokens
    from authgate.oidc.id_tokens import IdTokens
    from authgate.oidc.key_ring import KeyRing
    from authgate.oidc.signing_keys import SigningKeys

OPENID = "openid"


class OpenIDProvider:
    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self.issuer = settings.effective_issuer()

    # Each import below is here, not at the top, for the reason in the module docstring.

    @cached_property
    def keys(self) -> SigningKeys:
        from authgate.oidc.signing_keys import KeyFile, SigningKeys

        key_file = KeyFile(self.settings.oidc.key_path(self.settings.storage.url))
        return SigningKeys(self.registry, key_file)

    @cached_property
    def ring(self) -> KeyRing:
        from authgate.oidc.key_ring import KeyRing

        return KeyRing(self.keys, self.settings.oidc, self.registry.client_changes)

    @cached_property
    def id_tokens(self) -> IdTokens:
        from authgate.oidc.id_tokens import IdTokens

        return IdTokens(self.ring, self.issuer, self.settings.oidc.id_token_expiry)

    @cached_property
    def access_tokens(self) -> JwtAccessTokens:
        from authgate.oidc.access_tokens import JwtAccessTokens

        return JwtAccessTokens(self.ring, self.issuer, self.settings.audiences())

    async def finish(
        self,
        grant: TokenGrant,
        settings: TokenSettings,
        *,
        id_token: bool = False,
        nonce: str | None = None,
    ) -> TokenGrant:
        """The grant with its access token as a JWT (`access_token_format = "jwt"`) and, when
        `id_token` is asked and `openid` granted, an id token (OpenID Connect Core 3.1.3.3)."""
        access = grant.access
        if settings.access_token_format == "jwt":
            value = await self.access_tokens.encode(access.record, settings.audience or self.issuer)
            access = IssuedToken(value, digest(value), access.record)
            grant = replace(grant, access=access)
        record = access.record
        if not id_token or OPENID not in record.scopes or record.subject is None:
            return grant
        signed = await self.id_tokens.issue(
            client_id=record.client_id,
            subject=record.subject,
            auth_time=record.auth_time if record.auth_time is not None else record.issued_at,
            access_token=access.value,
            nonce=nonce,
        )
        return replace(grant, id_token=signed)
