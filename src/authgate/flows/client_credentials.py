"""The client credentials grant."""

from __future__ import annotations

from typing import ClassVar

from authgate.config import GrantType, TokenSettings
from authgate.errors import OAuthError
from authgate.events import Events
from authgate.flows.base import TokenRequest, TokenSigner, Unsigned
from authgate.scopes import ScopeResolver, parse_scope
from authgate.stores import TokenStore
from authgate.tokens import TokenGrant, issues_refresh_token, mint, new_grant


class ClientCredentialsFlow:
    """RFC 6749 section 4.4: confidential clients only, no refresh token by default."""

    grant_type: ClassVar[GrantType] = "client_credentials"
    parameters: ClassVar[tuple[str, ...]] = ("scope",)

    def __init__(
        self,
        tokens: TokenStore,
        settings: TokenSettings,
        scopes: ScopeResolver,
        events: Events,
        *,
        signer: TokenSigner = Unsigned(),  # noqa: B008  # stateless, safe to share
    ) -> None:
        self.tokens = tokens
        self.settings = settings
        self.scopes = scopes
        self.events = events
        self.signer = signer

    async def run(self, req: TokenRequest) -> TokenGrant:
        client = req.client
        if client.is_public or not client.allows_grant(self.grant_type):
            raise OAuthError("unauthorized_client", "client may not use client_credentials")
        scopes = await self.scopes.resolve(
            parse_scope(req.form.get("scope")), client, req.attributes
        )
        # The client acts on its own behalf (section 4.4): it is the subject.
        base = new_grant(client.client_id, scopes, subject=client.client_id)
        with_refresh = issues_refresh_token(client, self.settings, self.grant_type)
        grant = mint(
            base, self.settings, client=client, with_refresh=with_refresh, binding=req.binding
        )
        grant = await self.signer.finish(grant, self.settings)
        await self.tokens.put(grant.entries)
        req.attributes["authentication.subject.id"] = client.client_id
        self.events.emit("token.issued", grant_type=self.grant_type, client_id=client.client_id)
        return grant
