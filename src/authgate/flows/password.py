"""The resource owner password credentials grant."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, ClassVar, Protocol

from authgate.config import GrantType, TokenSettings
from authgate.errors import OAuthError
from authgate.events import Events
from authgate.flows.base import TokenRequest, TokenSigner, Unsigned
from authgate.models import User
from authgate.scopes import ScopeResolver, parse_scope
from authgate.stores import TokenStore
from authgate.tokens import TokenGrant, issues_refresh_token, mint, new_grant


class Authenticate(Protocol):
    """`UserAuthentication.authenticate`: lockout, then the configured user repository."""

    async def __call__(
        self,
        username: str,
        password: str,
        *,
        client_id: str,
        attributes: MutableMapping[str, Any],
        scopes: tuple[str, ...] = (),
    ) -> User | None: ...


class PasswordFlow:
    """RFC 6749 section 4.3."""

    grant_type: ClassVar[GrantType] = "password"
    parameters: ClassVar[tuple[str, ...]] = ("username", "password", "scope")

    def __init__(
        self,
        tokens: TokenStore,
        settings: TokenSettings,
        scopes: ScopeResolver,
        authenticate: Authenticate,
        events: Events,
        *,
        signer: TokenSigner = Unsigned(),  # noqa: B008  # stateless, safe to share
    ) -> None:
        self.signer = signer
        self.tokens = tokens
        self.settings = settings
        self.scopes = scopes
        self.authenticate = authenticate
        self.events = events

    async def run(self, req: TokenRequest) -> TokenGrant:
        client = req.client
        if not client.allows_grant(self.grant_type):
            raise OAuthError("unauthorized_client", "client may not use password")
        username = req.form.get("username")
        password = req.form.get("password")
        if username is None or password is None:
            raise OAuthError("invalid_request", "username and password are required")
        requested = parse_scope(req.form.get("scope"))
        user = await self.authenticate(
            username,
            password,
            client_id=client.client_id,
            attributes=req.attributes,
            scopes=requested,
        )
        if user is None:
            # A lock answers exactly like a wrong password (SPEC.md), so it reveals nothing.
            raise OAuthError("invalid_grant", "wrong username or password")
        scopes = await self.scopes.resolve(
            requested, client, req.attributes, username=user.username
        )
        base = new_grant(client.client_id, scopes, subject=user.subject, username=user.username)
        with_refresh = issues_refresh_token(client, self.settings, self.grant_type)
        grant = mint(
            base, self.settings, client=client, with_refresh=with_refresh, binding=req.binding
        )
        grant = await self.signer.finish(grant, self.settings)
        await self.tokens.put(grant.entries)
        self.events.emit(
            "token.issued",
            grant_type=self.grant_type,
            client_id=client.client_id,
            subject=user.subject,
        )
        return grant
