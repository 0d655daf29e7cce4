"""The user repository interface, shared by the local store, LDAP and policies."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Protocol

from authgate.models import User


class UserRepository(Protocol):
    async def authenticate(
        self,
        username: str,
        password: str,
        *,
        client_id: str,
        attributes: MutableMapping[str, Any],
        scopes: tuple[str, ...] = (),
    ) -> User | None:
        """The user if the password is right, None if not; StoreUnavailable if unsure."""

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the repository answers."""

    async def close(self) -> None:
        """Release connections."""
