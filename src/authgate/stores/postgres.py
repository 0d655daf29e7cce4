"""`postgresql://`: the token table of authgate.db.schema, straight on an asyncpg pool.

The same contract as SqlStore, without SQLAlchemy between the store and the driver: plain SQL
with `$n` parameters, prepared once per connection (asyncpg's statement cache). The schema stays
Alembic's (authgate.db.migrate); this store only reads and writes the `tokens` table.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import asyncpg

from authgate.errors import StoreUnavailable
from authgate.models import TokenRecord
from authgate.stores.base import Entry, live_record

# No floor: asyncpg reconnects to keep one on its own, in the background, and logs a traceback
# at each failed try of an outage. Requests open what they need (and answer 503 when they
# cannot); idle connections stay open for asyncpg's inactive lifetime (5 minutes).
POOL_MIN = 0
POOL_MAX = 10
CONNECT_TIMEOUT = 10.0  # seconds to open one connection

# A lost or unreachable server; anything else (constraint, syntax) is a bug and propagates.
_OUTAGES: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    OSError,
    asyncio.TimeoutError,
    # A session the server ended in the middle of an operation (a fast shutdown, an
    # administrator's pg_terminate_backend) leaves asyncpg's protocol between two states.
    asyncpg.InternalClientError,
)

# One statement for any number of rows: atomic on its own, one round trip.
_INSERT = (
    "INSERT INTO tokens "
    "(token_key, kind, grant_id, client_id, expires_at, consumed, data, username) "
    "SELECT k, n, g, c, e, false, d, u FROM unnest("
    "$1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], $5::bigint[], $6::text[], "
    "$7::varchar[]) AS t(k, n, g, c, e, d, u)"
)
_GET = "SELECT data, consumed, expires_at FROM tokens WHERE token_key = $1"
_CONSUME = (
    "UPDATE tokens SET consumed = true "
    "WHERE token_key = $1 AND NOT consumed AND expires_at > $2 RETURNING data"
)
_SET_DATA = "UPDATE tokens SET data = $2 WHERE token_key = $1"
_DELETE = "DELETE FROM tokens WHERE token_key = $1"
_REVOKE_GRANT = "DELETE FROM tokens WHERE grant_id = $1"
_REVOKE_CLIENT = "DELETE FROM tokens WHERE client_id = $1"
_REVOKE_USER = "DELETE FROM tokens WHERE username = $1"
_REVOKE_USER_OF_CLIENT = "DELETE FROM tokens WHERE username = $1 AND client_id = $2"
_PURGE = (
    "DELETE FROM tokens WHERE token_key IN "
    "(SELECT token_key FROM tokens WHERE expires_at <= $1 LIMIT $2)"
)


def asyncpg_dsn(url: str) -> str:
    """`postgresql+asyncpg://u@h/db` -> `postgresql://u@h/db`; `postgres://` is kept."""
    scheme, rest = url.split(":", 1)
    return f"{scheme.split('+', 1)[0]}:{rest}"


def _columns(entries: Sequence[Entry]) -> list[list[Any]]:
    columns: list[list[Any]] = [[], [], [], [], [], [], []]
    for key, r in entries:
        for column, value in zip(
            columns,
            (key, r.kind, r.grant_id, r.client_id, r.expires_at, r.to_json(), r.username),
            strict=True,
        ):
            column.append(value)
    return columns


def _count(status: str) -> int:
    """`DELETE 3` -> 3."""
    return int(status.rsplit(" ", 1)[-1])


async def _no_reset(_conn: asyncpg.Connection) -> None:
    """The store keeps no session state (no LISTEN, SET, advisory lock) to reset on release;
    asyncpg still rolls back any open transaction. This saves a round trip per call."""


class PostgresStore:
    """The TokenStore contract on PostgreSQL through one asyncpg pool, opened on first use."""

    def __init__(
        self,
        url: str,
        *,
        purge_batch: int = 1000,
        min_size: int = POOL_MIN,
        max_size: int = POOL_MAX,
    ) -> None:
        self.dsn = asyncpg_dsn(url)
        self.purge_batch = purge_batch
        self.min_size = min_size
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._opening: asyncio.Lock | None = None

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._pool is None:
                pool = asyncpg.create_pool(
                    self.dsn,
                    min_size=self.min_size,
                    max_size=self.max_size,
                    timeout=CONNECT_TIMEOUT,
                    reset=_no_reset,
                )
                try:
                    await pool
                except BaseException:
                    pool.terminate()  # a pool that never opened is not kept: retry next call
                    raise
                self._pool = pool
            return self._pool

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; a lost or unreachable server becomes StoreUnavailable."""
        try:
            pool = await self._get_pool()
            async with pool.acquire() as conn:
                try:
                    yield conn
                except _OUTAGES:
                    conn.terminate()  # cut mid-operation: never handed out again
                    raise
        except _OUTAGES as exc:
            raise StoreUnavailable("token store", exc) from exc

    async def put(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        columns = _columns(entries)
        async with self._connection() as conn:
            await conn.execute(_INSERT, *columns)

    async def get(self, key: str) -> TokenRecord | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(_GET, key)
        return None if row is None else live_record(row[0], row[1], row[2])

    async def exchange(
        self, key: str, entries: Sequence[Entry], *, successor: str | None = None
    ) -> bool:
        columns = _columns(entries) if entries else None
        async with self._connection() as conn, conn.transaction():
            # The conditional UPDATE is the atomic test-and-set: one transaction wins it, and
            # it holds the row lock for the rest of this transaction.
            data = await conn.fetchval(_CONSUME, key, int(time.time()))
            if data is None:
                return False
            if successor is not None:
                sealed = replace(TokenRecord.from_json(data), successor=successor)
                await conn.execute(_SET_DATA, key, sealed.to_json())
            if columns is not None:
                await conn.execute(_INSERT, *columns)
            return True

    async def delete(self, key: str) -> None:
        async with self._connection() as conn:
            await conn.execute(_DELETE, key)

    async def revoke_grant(self, grant_id: str) -> int:
        async with self._connection() as conn:
            return _count(await conn.execute(_REVOKE_GRANT, grant_id))

    async def revoke_client(self, client_id: str) -> int:
        async with self._connection() as conn:
            return _count(await conn.execute(_REVOKE_CLIENT, client_id))

    async def revoke_user(self, username: str, client_id: str | None = None) -> int:
        async with self._connection() as conn:
            if client_id is None:
                return _count(await conn.execute(_REVOKE_USER, username))
            return _count(await conn.execute(_REVOKE_USER_OF_CLIENT, username, client_id))

    async def purge(self, now: int) -> int:
        removed = 0
        while True:
            # One bounded batch per statement, so requests are never held up for long.
            async with self._connection() as conn:
                count = _count(await conn.execute(_PURGE, now, self.purge_batch))
            removed += count
            if count < self.purge_batch:
                return removed

    async def ping(self) -> None:
        async with self._connection() as conn:
            await conn.fetchval("SELECT 1")

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await pool.close()
            except _OUTAGES:
                pool.terminate()
