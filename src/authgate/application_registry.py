"""Developer portal applications: the `applications` table, and the keys that name them.

An application's keys are rows of `clients` with its `app_id` and an environment, so the
token endpoint, the client cache and every client operation see them as ordinary clients;
this module only reads them back per application.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, update

from authgate.client_rows import CLIENT_COLUMNS, client_from_row
from authgate.db.schema import applications, clients
from authgate.models import Client
from authgate.tokens import generate_token, now

if TYPE_CHECKING:
    from authgate.registry import Registry

APP_ID_LENGTH = 22  # [A-Za-z0-9]: about 131 bits, so an id cannot be guessed


@dataclass(frozen=True, slots=True)
class Application:
    app_id: str
    owner: str  # the canonical username of the developer
    name: str
    description: str
    created_at: int


class ApplicationRegistry:
    """The `applications` table: one owner, every statement here."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def create(self, owner: str, name: str, description: str) -> Application:
        application = Application(generate_token(APP_ID_LENGTH), owner, name, description, now())
        async with self.registry.transaction() as conn:
            await conn.execute(
                insert(applications).values(
                    app_id=application.app_id,
                    owner=owner,
                    name=name,
                    description=description,
                    created_at=application.created_at,
                )
            )
        return application

    async def find(self, owner: str | None = None) -> list[Application]:
        """Every application, or those of one owner, oldest first."""
        query = select(applications).order_by(applications.c.created_at, applications.c.app_id)
        if owner is not None:
            query = query.where(applications.c.owner == owner)
        async with self.registry.transaction() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Application(row.app_id, row.owner, row.name, row.description, row.created_at)
            for row in rows
        ]

    async def get(self, app_id: str) -> Application | None:
        if not app_id or len(app_id) > APP_ID_LENGTH:
            return None
        async with self.registry.transaction() as conn:
            row = (
                await conn.execute(select(applications).where(applications.c.app_id == app_id))
            ).first()
        if row is None:
            return None
        return Application(row.app_id, row.owner, row.name, row.description, row.created_at)

    async def update(self, app_id: str, *, name: str, description: str) -> bool:
        async with self.registry.transaction() as conn:
            result = await conn.execute(
                update(applications)
                .where(applications.c.app_id == app_id)
                .values(name=name, description=description)
            )
        return result.rowcount > 0

    async def delete(self, app_id: str) -> bool:
        """Remove the application row; its keys are deleted as clients beforehand."""
        async with self.registry.transaction() as conn:
            result = await conn.execute(delete(applications).where(applications.c.app_id == app_id))
        return result.rowcount > 0

    async def keys(self, app_ids: Collection[str]) -> list[Client]:
        """The keys (clients) of these applications."""
        if not app_ids:
            return []
        columns = [clients.c[name] for name in CLIENT_COLUMNS.split(", ")]
        query = select(*columns).where(clients.c.app_id.in_(list(app_ids)))
        async with self.registry.transaction() as conn:
            rows = (await conn.execute(query)).all()
        return [client_from_row(row) for row in rows]
