"""The refresh token grant, with rotation, replay detection and a grace period."""

from __future__ import annotations

import json
from typing import ClassVar

from authgate.certificates import same_thumbprint
from authgate.config import GrantType, TokenSettings
from authgate.errors import OAuthError
from authgate.events import Events
from authgate.flows.base import TokenRequest, TokenSigner, Unsigned
from authgate.models import TokenRecord
from authgate.scopes import ScopeResolver, narrow, parse_scope
from authgate.sealing import seal, unseal
from authgate.stores import TokenStore
from authgate.tokens import IssuedToken, TokenGrant, digest, issues_refresh_token, mint, now


class RefreshTokenFlow:
    """RFC 6749 section 6; rotation and reuse detection per RFC 9700 section 4.14.2."""

    grant_type: ClassVar[GrantType] = "refresh_token"
    parameters: ClassVar[tuple[str, ...]] = ("refresh_token", "scope")

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
        if not client.allows_grant(self.grant_type):
            raise OAuthError("unauthorized_client", "client may not use refresh_token")
        presented = req.form.get("refresh_token")
        if presented is None:
            raise OAuthError("invalid_request", "refresh_token is required")
        requested = parse_scope(req.form.get("scope"))
        key = digest(presented)
        record = await self.tokens.get(key)
        if record is None or record.kind != "refresh_token":
            raise OAuthError("invalid_grant", "refresh token is invalid or expired")
        # RFC 6749 section 6: the token is bound to the client it was issued to.
        if record.client_id != client.client_id:
            raise OAuthError("invalid_grant", "refresh token was issued to another client")
        # RFC 8705 section 4: a public client's refresh token needs its certificate again.
        # Checked before reuse detection: without the certificate nothing may be revoked.
        bound = record.certificate_thumbprint
        if bound is not None and not same_thumbprint(bound, req.certificate_thumbprint):
            raise OAuthError("invalid_grant", "refresh token is bound to another certificate")
        if record.consumed:
            return await self._reused(record, presented)
        scopes = narrow(requested, record.scopes)
        if self.scopes.settings.scopes == "policy":
            approved = await self.scopes.resolve(
                scopes, client, req.attributes, username=record.username
            )
            scopes = narrow(approved, record.scopes)
        if self.settings.refresh == "preserve":
            grant = mint(
                record,
                self.settings,
                client=client,
                with_refresh=False,
                preserved_refresh=presented,
                access_scopes=scopes,
                binding=req.binding,
            )
            # OpenID Connect Core 12.2: a new id token, without the nonce.
            grant = await self.signer.finish(grant, self.settings, id_token=True)
            await self.tokens.put([(grant.access.key, grant.access.record)])
        else:
            with_refresh = issues_refresh_token(client, self.settings, self.grant_type)
            grant = mint(
                record,
                self.settings,
                client=client,
                with_refresh=with_refresh,
                access_scopes=scopes,
                binding=req.binding,
            )
            grant = await self.signer.finish(grant, self.settings, id_token=True)
            entries = grant.entries
            if not await self.tokens.exchange(key, entries, successor=self._seal(grant, presented)):
                # Another request rotated it first: this one is a reuse of a removed token.
                current = await self.tokens.get(key)
                if current is None:
                    raise OAuthError("invalid_grant", "refresh token is invalid or expired")
                return await self._reused(current, presented)
        self._issued(req, record)
        return grant

    def _issued(self, req: TokenRequest, record: TokenRecord) -> None:
        if record.subject:
            req.attributes["authentication.subject.id"] = record.subject
        self.events.emit(
            "token.issued",
            grant_type=self.grant_type,
            client_id=record.client_id,
            subject=record.subject,
        )

    def _seal(self, grant: TokenGrant, presented: str) -> str | None:
        """The successor, readable only with the presented token, when a grace period is set."""
        if self.settings.refresh_grace_period == 0:
            return None
        successor = {
            "at": now(),
            "access_token": grant.access.value,
            "refresh_token": grant.refresh.value if grant.refresh else None,
        }
        return seal(presented, json.dumps(successor, separators=(",", ":")).encode())

    async def _reused(self, record: TokenRecord, presented: str) -> TokenGrant:
        """A removed refresh token again: the grace-period successor, or a replay."""
        grant = await self._successor(record, presented)
        if grant is not None:
            self.events.emit(
                "refresh_token.grace", client_id=record.client_id, grant_id=record.grant_id
            )
            return grant
        # RFC 9700 section 4.14.2: revoke every token of the grant.
        await self.tokens.revoke_grant(record.grant_id)
        self.events.emit(
            "refresh_token.reused", client_id=record.client_id, grant_id=record.grant_id
        )
        raise OAuthError("invalid_grant", "refresh token was already used")

    async def _successor(self, record: TokenRecord, presented: str) -> TokenGrant | None:
        grace = self.settings.refresh_grace_period
        if grace == 0 or record.successor is None:
            return None
        opened = unseal(presented, record.successor)
        if opened is None:
            return None
        successor = json.loads(opened)
        if now() - int(successor["at"]) > grace:
            return None
        access = await self._live(successor["access_token"])
        if access is None:
            return None  # revoked since
        refresh: IssuedToken | None = None
        if successor.get("refresh_token"):
            refresh = await self._live(successor["refresh_token"])
            if refresh is None:
                return None  # revoked or rotated since: the client has moved on
        return TokenGrant(access, refresh)

    async def _live(self, value: str) -> IssuedToken | None:
        key = digest(value)
        record = await self.tokens.get(key)
        if record is None or record.consumed:
            return None
        return IssuedToken(value, key, record)
