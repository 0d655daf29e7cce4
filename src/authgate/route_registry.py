"""Gateway routes kept in the registry, and the version every process polls to pick them up.

The routes of the configuration file never come here: they are read-only for the life of the
process. Each change to this table adds one to the `routes` row of `versions` in the same
transaction, so a process that reads an unchanged version knows its route table is current
(one primary-key read per poll, on every registry backend).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from authgate.config import GatewayRoute
from authgate.db.schema import routes, versions
from authgate.tokens import now

if TYPE_CHECKING:
    from authgate.registry import Registry

ROUTES_VERSION = "routes"


class RouteInUse(Exception):
    """A route's service name or path is already registered."""


def _route_from_row(settings: str) -> GatewayRoute:
    return GatewayRoute.model_validate(json.loads(settings))


def _settings(route: GatewayRoute) -> str:
    return route.model_dump_json()


class RouteRegistry:
    """The `routes` table: one owner, every statement here."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def version(self) -> int:
        async with self.registry.transaction() as conn:
            found = (
                await conn.execute(
                    select(versions.c.version).where(versions.c.name == ROUTES_VERSION)
                )
            ).scalar()
        return int(found or 0)

    async def list(self) -> list[GatewayRoute]:
        async with self.registry.transaction() as conn:
            rows = (await conn.execute(select(routes.c.settings).order_by(routes.c.path))).all()
        return [_route_from_row(row.settings) for row in rows]

    async def add(self, route: GatewayRoute) -> None:
        row = {
            "service": route.service,
            "path": route.path,
            "settings": _settings(route),
            "created_at": now(),
        }
        try:
            async with self.registry.transaction() as conn:
                await conn.execute(insert(routes).values(**row))
                await _bump(conn)
        except IntegrityError:
            raise RouteInUse(
                f"a route named {route.service!r} or at {route.path!r} exists"
            ) from None

    async def replace(self, route: GatewayRoute) -> bool:
        """Replace the route of the same service; False if there is none."""
        try:
            async with self.registry.transaction() as conn:
                result = await conn.execute(
                    update(routes)
                    .where(routes.c.service == route.service)
                    .values(path=route.path, settings=_settings(route))
                )
                await _bump(conn)
        except IntegrityError:
            raise RouteInUse(f"a route at {route.path!r} exists") from None
        return result.rowcount > 0

    async def delete(self, service: str) -> bool:
        async with self.registry.transaction() as conn:
            result = await conn.execute(delete(routes).where(routes.c.service == service))
            await _bump(conn)
        return result.rowcount > 0


async def _bump(conn: AsyncConnection) -> None:
    await conn.execute(
        update(versions)
        .where(versions.c.name == ROUTES_VERSION)
        .values(version=versions.c.version + 1)
    )
