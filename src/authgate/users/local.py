"""The Local User Store: usernames and argon2id hashes in the registry."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from authgate.models import User
from authgate.passwords import verify_password
from authgate.registry import Registry
from authgate.usernames import canonical_or_none


class LocalUsers:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def authenticate(
        self,
        username: str,
        password: str,
        *,
        client_id: str,
        attributes: MutableMapping[str, Any],
        scopes: tuple[str, ...] = (),
    ) -> User | None:
        name = canonical_or_none(username)
        password_hash = await self.registry.user_password_hash(name) if name else None
        # An unknown user costs one argon2 verification too, so timing reveals nothing.
        if await verify_password(password, password_hash) and name is not None:
            return User(username=name, subject=name)
        return None

    async def ping(self) -> None:
        await self.registry.ping()

    async def close(self) -> None:
        return None  # the registry belongs to Services
