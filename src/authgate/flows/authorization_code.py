"""The token step of the authorization code grant."""

from __future__ import annotations

from typing import ClassVar

from authgate.config import GrantType, TokenSettings
from authgate.errors import OAuthError
from authgate.events import Events
from authgate.flows.base import TokenRequest, TokenSigner, Unsigned
from authgate.flows.pkce import check_pkce
from authgate.models import Client, TokenRecord
from authgate.stores import TokenStore
from authgate.tokens import TokenGrant, digest, issues_refresh_token, mint


def check_redirect_uri(record: TokenRecord, client: Client, redirect_uri: str | None) -> None:
    """RFC 6749 section 4.1.3: the redirect_uri of the authorization request, if it had one."""
    if record.redirect_uri is not None:
        if redirect_uri != record.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request")
    elif redirect_uri is not None and redirect_uri not in client.redirect_uris:
        raise OAuthError("invalid_grant", "redirect_uri is not registered")


class AuthorizationCodeFlow:
    """RFC 6749 section 4.1.3, with RFC 7636 PKCE."""

    grant_type: ClassVar[GrantType] = "authorization_code"
    parameters: ClassVar[tuple[str, ...]] = ("code", "redirect_uri", "code_verifier")

    def __init__(
        self,
        codes: TokenStore,
        tokens: TokenStore,
        settings: TokenSettings,
        events: Events,
        *,
        signer: TokenSigner = Unsigned(),  # noqa: B008  # stateless, safe to share
    ) -> None:
        self.codes = codes
        self.tokens = tokens
        self.settings = settings
        self.events = events
        self.signer = signer

    async def run(self, req: TokenRequest) -> TokenGrant:
        client = req.client
        if not client.allows_grant(self.grant_type):
            raise OAuthError("unauthorized_client", "client may not use authorization_code")
        code = req.form.get("code")
        if code is None:
            raise OAuthError("invalid_request", "code is required")
        key = digest(code)
        record = await self.codes.get(key)
        if record is None or record.kind != "authorization_code":
            raise OAuthError("invalid_grant", "code is invalid or expired")
        # RFC 6749 section 4.1.3. Checked before reuse: another client's replay revokes nothing.
        if record.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the code was issued to another client")
        if record.consumed:
            await self._revoke_reused(record)
        check_redirect_uri(record, client, req.form.get("redirect_uri"))
        check_pkce(record, req.form.get("code_verifier"))
        with_refresh = issues_refresh_token(client, self.settings, self.grant_type)
        grant = mint(
            record, self.settings, client=client, with_refresh=with_refresh, binding=req.binding
        )
        grant = await self.signer.finish(grant, self.settings, id_token=True, nonce=record.nonce)
        if not await self._exchange(key, grant):
            await self._revoke_reused(record)
        if record.subject:
            req.attributes["authentication.subject.id"] = record.subject
        self.events.emit(
            "token.issued",
            grant_type=self.grant_type,
            client_id=client.client_id,
            subject=record.subject,
        )
        return grant

    async def _exchange(self, key: str, grant: TokenGrant) -> bool:
        entries = grant.entries
        if self.codes is self.tokens:
            return await self.codes.exchange(key, entries)  # one atomic step
        if not await self.codes.exchange(key, ()):
            return False
        await self.tokens.put(entries)
        return True

    async def _revoke_reused(self, record: TokenRecord) -> None:
        """RFC 6749 section 4.1.2: a second use revokes the tokens of the first."""
        await self.tokens.revoke_grant(record.grant_id)
        self.events.emit("code.reused", client_id=record.client_id, grant_id=record.grant_id)
        raise OAuthError("invalid_grant", "code was already used")
