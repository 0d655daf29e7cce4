"""The refresh token grant, with rotation, replay detection and a grace period."""

from __future__ import annotations

import json
from typing import ClassVar

from authgate.certificates import same_thumbprint
from authgate.config import GrantType, TokenSettings
from authgate.errors import OAuthError
from authgate.events import Events
from authgate.flows.base import TokenRequest, TokenSigner, Unsigned
from authgate.models import Client, TokenRecord
from authgate.scopes import ScopeResolver, narrow, parse_scope
from authgate.sealing import seal, unseal
from authgate.stores import Redemption, TokenStore
from authgate.tokens import (
    FreshValues,
    IssuedToken,
    TokenGrant,
    digest,
    fresh_values,
    issues_refresh_token,
    mint,
    now,
)


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
        # A scope policy is async and needs the record; `preserve` consumes nothing.
        in_one_step = (
            self.scopes.settings.scopes != "policy" and self.settings.refresh != "preserve"
        )
        # Drawn here, on the event loop: `decide` below runs inside the store's step (on the
        # SQLite worker's thread for `sqlite:///`), which should do as little Python as it can.
        with_refresh = self._with_refresh(client)
        values = fresh_values(self.settings, with_refresh=with_refresh) if in_one_step else None
        minted: list[TokenGrant] = []

        def decide(found: TokenRecord | None) -> Redemption | None:
            record = self._check(found, req)
            if record.consumed or not in_one_step:
                return None  # a reuse, handled below; or a grant made below, in two steps
            grant = self._mint(record, req, narrow(requested, record.scopes), values)
            minted.append(grant)
            if self.signer.signs(grant, self.settings, id_token=True):
                return None  # signed below, then exchanged
            return Redemption(grant.entries, successor=self._seal(grant, presented))

        # One atomic step checks the token, rotates it and stores its successors (`decide`
        # runs inside it, on the SQLite worker's thread for `sqlite:///`: it only reads the
        # request). What must await first takes two steps, as before: a scope policy, a
        # signature (JWT access token, id token; the key ring is async), or `preserve`. The
        # grant is complete before it is stored, so no token is ever half-issued.
        redeemed = await self.tokens.redeem(key, decide)
        record = redeemed.record
        if record is None:  # another request rotated it first, and it has gone since
            raise OAuthError("invalid_grant", "refresh token is invalid or expired")
        if redeemed.stored:
            grant = minted[0]
        elif record.consumed:
            return await self._reused(record, presented)
        else:
            scopes = narrow(requested, record.scopes)
            two_steps = await self._in_two_steps(key, presented, record, req, scopes, minted)
            if two_steps is None:
                # Another request rotated it first: this one is a reuse of a removed token.
                current = await self.tokens.get(key)
                if current is None:
                    raise OAuthError("invalid_grant", "refresh token is invalid or expired")
                return await self._reused(current, presented)
            grant = two_steps
        self._issued(req, record)
        return grant

    def _check(self, record: TokenRecord | None, req: TokenRequest) -> TokenRecord:
        """The token's record, unless it is no refresh token of this client's."""
        if record is None or record.kind != "refresh_token":
            raise OAuthError("invalid_grant", "refresh token is invalid or expired")
        # RFC 6749 section 6: the token is bound to the client it was issued to.
        if record.client_id != req.client.client_id:
            raise OAuthError("invalid_grant", "refresh token was issued to another client")
        # RFC 8705 section 4: a public client's refresh token needs its certificate again.
        # Checked before reuse detection: without the certificate nothing may be revoked.
        bound = record.certificate_thumbprint
        if bound is not None and not same_thumbprint(bound, req.certificate_thumbprint):
            raise OAuthError("invalid_grant", "refresh token is bound to another certificate")
        return record

    def _with_refresh(self, client: Client) -> bool:
        return issues_refresh_token(client, self.settings, self.grant_type)

    def _mint(
        self,
        record: TokenRecord,
        req: TokenRequest,
        scopes: tuple[str, ...],
        values: FreshValues | None = None,
    ) -> TokenGrant:
        return mint(
            record,
            self.settings,
            client=req.client,
            with_refresh=self._with_refresh(req.client),
            access_scopes=scopes,
            binding=req.binding,
            values=values,
        )

    async def _in_two_steps(
        self,
        key: str,
        presented: str,
        record: TokenRecord,
        req: TokenRequest,
        scopes: tuple[str, ...],
        minted: list[TokenGrant],
    ) -> TokenGrant | None:
        """The grant when it must await before it is stored; None if another request
        rotated the token meanwhile."""
        if self.scopes.settings.scopes == "policy":
            approved = await self.scopes.resolve(
                scopes, req.client, req.attributes, username=record.username
            )
            scopes = narrow(approved, record.scopes)
        if self.settings.refresh == "preserve":
            grant = mint(
                record,
                self.settings,
                client=req.client,
                with_refresh=False,
                preserved_refresh=presented,
                access_scopes=scopes,
                binding=req.binding,
            )
            # OpenID Connect Core 12.2: a new id token, without the nonce.
            grant = await self.signer.finish(grant, self.settings, id_token=True)
            await self.tokens.put([(grant.access.key, grant.access.record)])
            return grant
        grant = minted[0] if minted else self._mint(record, req, scopes)
        grant = await self.signer.finish(grant, self.settings, id_token=True)
        successor = self._seal(grant, presented)
        if not await self.tokens.exchange(key, grant.entries, successor=successor):
            return None
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
