"""Approve Always: the scopes a user gave a client for good (the `consents` table).

Read and written by the authorization request, listed and withdrawn by the administration.
Names come canonical from the login; the administration's are made canonical here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, update

from authgate.db.schema import consents
from authgate.tokens import now
from authgate.usernames import canonical_or_none

if TYPE_CHECKING:
    from authgate.registry import Registry


@dataclass(frozen=True, slots=True)
class Consent:
    """An Approve Always grant: the scopes a user gave a client for good."""

    client_id: str
    scopes: tuple[str, ...]
    granted_at: int


class ConsentRegistry:
    """The `consents` table: one row per (user, client)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def remembered_scopes(self, username: str, client_id: str) -> frozenset[str]:
        async with self.registry.transaction() as conn:
            row = (
                await conn.execute(
                    select(consents.c.scopes).where(
                        consents.c.username == username, consents.c.client_id == client_id
                    )
                )
            ).first()
        return frozenset(json.loads(row.scopes)) if row else frozenset()

    async def remember_consent(self, username: str, client_id: str, scopes: Iterable[str]) -> None:
        async with self.registry.transaction() as conn:
            row = (
                await conn.execute(
                    select(consents.c.scopes).where(
                        consents.c.username == username, consents.c.client_id == client_id
                    )
                )
            ).first()
            if row is None:
                await conn.execute(
                    insert(consents).values(
                        username=username,
                        client_id=client_id,
                        scopes=json.dumps(sorted(set(scopes))),
                        updated_at=now(),
                    )
                )
                return
            merged = sorted(set(json.loads(row.scopes)) | set(scopes))
            await conn.execute(
                update(consents)
                .where(consents.c.username == username, consents.c.client_id == client_id)
                .values(scopes=json.dumps(merged), updated_at=now())
            )

    async def list_consents(self, username: str) -> list[Consent]:
        username = canonical_or_none(username) or ""
        query = (
            select(consents.c.client_id, consents.c.scopes, consents.c.updated_at)
            .where(consents.c.username == username)
            .order_by(consents.c.client_id)
        )
        async with self.registry.transaction() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Consent(row.client_id, tuple(json.loads(row.scopes)), row.updated_at) for row in rows
        ]

    async def forget_consent(self, username: str, client_id: str) -> bool:
        username = canonical_or_none(username) or ""
        async with self.registry.transaction() as conn:
            result = await conn.execute(
                delete(consents).where(
                    consents.c.username == username, consents.c.client_id == client_id
                )
            )
        return result.rowcount > 0
