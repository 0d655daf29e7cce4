"""How much the tokens of some clients were used at the gateway, read from the traffic log.

Nothing is kept for this beyond the traffic log's own rows (the client and user of each
gateway call's token), so usage goes as far back as the log's retention and no further.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from authgate.db.schema import traffic


@dataclass(frozen=True, slots=True)
class Usage:
    requests: int = 0
    users: int = 0  # distinct users behind the tokens; client tokens have none
    services: dict[str, int] = field(default_factory=dict)  # requests per service
    service_users: dict[str, int] = field(default_factory=dict)  # distinct users per service


async def token_usage(engine: AsyncEngine, client_ids: Collection[str], since_ms: int) -> Usage:
    """Gateway calls made since `since_ms` with tokens of these clients."""
    if not client_ids:
        return Usage()
    recent = (traffic.c.token_client_id.in_(list(client_ids)), traffic.c.started_ms >= since_ms)
    per_service = (
        select(traffic.c.service, func.count(), func.count(distinct(traffic.c.token_username)))
        .where(*recent)
        .group_by(traffic.c.service)
        .order_by(traffic.c.service)
    )
    users = select(func.count(distinct(traffic.c.token_username))).where(
        *recent, traffic.c.token_username.is_not(None)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(per_service)).all()
        user_count = int((await conn.execute(users)).scalar() or 0)
    services = {row[0]: int(row[1]) for row in rows}
    service_users = {row[0]: int(row[2]) for row in rows}
    return Usage(sum(services.values()), user_count, services, service_users)
