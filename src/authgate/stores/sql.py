"""`mysql://` (MariaDB, MySQL): the token table of authgate.db.schema through SQLAlchemy Core.

SQLite and PostgreSQL have stores of their own (stores/sqlite.py, stores/postgres.py) that
skip SQLAlchemy on the hot path; this one serves any other SQL URL with the same contract."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authgate.db.schema import tokens
from authgate.errors import StoreUnavailable
from authgate.models import TokenRecord
from authgate.stores.base import Entry, live_record


class SqlStore:
    def __init__(self, engine: AsyncEngine, *, purge_batch: int = 1000) -> None:
        self.engine = engine
        self.purge_batch = purge_batch

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        """One transaction; a lost or unreachable database becomes StoreUnavailable."""
        try:
            async with self.engine.begin() as conn:
                yield conn
        except DBAPIError as exc:
            # Constraint and syntax errors are bugs, not outages: let them through.
            if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
                raise StoreUnavailable("token store", exc) from exc
            raise
        except (PoolTimeout, OSError, TimeoutError) as exc:
            raise StoreUnavailable("token store", exc) from exc

    @staticmethod
    def _rows(entries: Sequence[Entry]) -> list[dict[str, object]]:
        return [
            {
                "token_key": key,
                "kind": record.kind,
                "grant_id": record.grant_id,
                "client_id": record.client_id,
                "expires_at": record.expires_at,
                "consumed": False,
                "data": record.to_json(),
                "username": record.username,
            }
            for key, record in entries
        ]

    async def put(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        async with self._transaction() as conn:
            await conn.execute(insert(tokens), self._rows(entries))

    async def get(self, key: str) -> TokenRecord | None:
        async with self._transaction() as conn:
            row = (
                await conn.execute(
                    select(tokens.c.data, tokens.c.consumed, tokens.c.expires_at).where(
                        tokens.c.token_key == key
                    )
                )
            ).first()
        return None if row is None else live_record(row.data, row.consumed, row.expires_at)

    async def exchange(
        self, key: str, entries: Sequence[Entry], *, successor: str | None = None
    ) -> bool:
        async with self._transaction() as conn:
            # The conditional UPDATE is the atomic test-and-set: one transaction wins it, and
            # it holds the row lock for the rest of this transaction.
            result = await conn.execute(
                update(tokens)
                .where(
                    and_(
                        tokens.c.token_key == key,
                        tokens.c.consumed.is_(False),
                        tokens.c.expires_at > int(time.time()),
                    )
                )
                .values(consumed=True)
            )
            if result.rowcount != 1:
                return False
            if successor is not None:
                data = (
                    await conn.execute(select(tokens.c.data).where(tokens.c.token_key == key))
                ).scalar_one()
                sealed = replace(TokenRecord.from_json(data), successor=successor)
                await conn.execute(
                    update(tokens).where(tokens.c.token_key == key).values(data=sealed.to_json())
                )
            if entries:
                await conn.execute(insert(tokens), self._rows(entries))
            return True

    async def delete(self, key: str) -> None:
        async with self._transaction() as conn:
            await conn.execute(delete(tokens).where(tokens.c.token_key == key))

    async def revoke_grant(self, grant_id: str) -> int:
        async with self._transaction() as conn:
            result = await conn.execute(delete(tokens).where(tokens.c.grant_id == grant_id))
            return result.rowcount

    async def revoke_client(self, client_id: str) -> int:
        async with self._transaction() as conn:
            result = await conn.execute(delete(tokens).where(tokens.c.client_id == client_id))
            return result.rowcount

    async def revoke_user(self, username: str, client_id: str | None = None) -> int:
        condition = tokens.c.username == username
        if client_id is not None:
            condition = and_(condition, tokens.c.client_id == client_id)
        async with self._transaction() as conn:
            result = await conn.execute(delete(tokens).where(condition))
            return result.rowcount

    async def purge(self, now: int) -> int:
        removed = 0
        while True:
            async with self._transaction() as conn:
                batch = select(tokens.c.token_key).where(tokens.c.expires_at <= now)
                keys = (await conn.execute(batch.limit(self.purge_batch))).scalars().all()
                if not keys:
                    return removed
                await conn.execute(delete(tokens).where(tokens.c.token_key.in_(keys)))
                removed += len(keys)

    async def ping(self) -> None:
        async with self._transaction() as conn:
            await conn.execute(select(1))

    async def close(self) -> None:
        await self.engine.dispose()
