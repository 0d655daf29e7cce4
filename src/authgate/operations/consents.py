"""Approve Always grants: listed per user and withdrawn, with the tokens they stood behind."""

from __future__ import annotations

from authgate.operations.base import Caller, Model, NotFound, audit, each_store
from authgate.services import Services


class ConsentView(Model):
    client_id: str
    scopes: list[str]
    granted_at: int


async def list_consents(services: Services, username: str) -> list[ConsentView]:
    """The user's grants. A user of LDAP or a policy has consents but no local account, so
    only a name with neither is unknown."""
    consents = await services.registry.consents.list_consents(username)
    if not consents and await services.registry.find_user(username) is None:
        raise NotFound(f"no user {username}")
    return [
        ConsentView(client_id=c.client_id, scopes=list(c.scopes), granted_at=c.granted_at)
        for c in consents
    ]


async def withdraw_consent(
    services: Services, caller: Caller, username: str, client_id: str
) -> int:
    """Forget the grant, so the next authorization asks again, and revoke every token of that
    client for that user; how many tokens."""
    if not await services.registry.consents.forget_consent(username, client_id):
        raise NotFound(f"user {username} has no consent for client {client_id}")
    revoked = await each_store(services, lambda store: store.revoke_user(username, client_id))
    audit(services, caller, "consent.withdraw", f"{username} {client_id}")
    return revoked
