"""Server secrets: random keys that every process sharing the registry uses alike.

A secret is made by the first process that asks for it and never changes, so each process
reads it once. (The stateless pre-login CSRF token of pages/login_csrf.py is keyed by one.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from authgate.db.schema import server_secrets
from authgate.tokens import generate_token, now

if TYPE_CHECKING:
    from authgate.registry import Registry


class ServerSecrets:
    """The `server_secrets` table, read once per process and name."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._secrets: dict[str, str] = {}

    async def get(self, name: str) -> str:
        """The secret `name` that every process sharing the registry uses; the first caller
        makes it."""
        if name not in self._secrets:
            self._secrets[name] = await self._read_or_make_secret(name)
        return self._secrets[name]

    async def _read_or_make_secret(self, name: str) -> str:
        query = select(server_secrets.c.secret).where(server_secrets.c.name == name)
        async with self.registry.transaction() as conn:
            row = (await conn.execute(query)).first()
        if row is not None:
            secret: str = row.secret
            return secret
        try:
            async with self.registry.transaction() as conn:
                await conn.execute(
                    insert(server_secrets).values(
                        name=name, secret=generate_token(64), created_at=now()
                    )
                )
        except IntegrityError:
            pass  # another process made it first: theirs is the one
        async with self.registry.transaction() as conn:
            made: str = (await conn.execute(query)).scalar_one()
        return made
