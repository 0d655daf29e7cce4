"""Tokens revoked in bulk: every token of a client, of a user, or of one (client, user) pair."""

from __future__ import annotations

from pydantic import Field, model_validator

from authgate.operations.base import Caller, Invalid, Model, audit, each_store
from authgate.services import Services


class TokenRevocation(Model):
    """Which tokens: of a client, of a user, or (both given) of that user at that client."""

    client_id: str | None = Field(default=None, min_length=1, max_length=64)
    username: str | None = Field(default=None, min_length=1, max_length=255)

    @model_validator(mode="after")
    def _one_at_least(self) -> TokenRevocation:
        if self.client_id is None and self.username is None:
            raise ValueError("name a client_id, a username or both")
        return self


class Revoked(Model):
    revoked: int


async def revoke_tokens(services: Services, caller: Caller, request: TokenRevocation) -> Revoked:
    client_id, username = request.client_id, request.username
    if username is not None:
        count = await each_store(services, lambda store: store.revoke_user(username, client_id))
    elif client_id is not None:
        count = await each_store(services, lambda store: store.revoke_client(client_id))
    else:
        raise Invalid("body", "name a client_id, a username or both")
    audit(services, caller, "tokens.revoke", " ".join(filter(None, (client_id, username))))
    return Revoked(revoked=count)
