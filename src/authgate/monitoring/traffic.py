"""The traffic monitor: each transaction (and its outbound calls) kept in the registry database.

Requests never wait for the database: `submit` puts a row on a bounded queue (a full queue
drops the row and counts it) and one background task writes batches. Old rows go by age
(`traffic_retention`) and by count (`traffic_max_rows`). What is kept is chosen so nothing
secret can land here: the path without its query, the client's identifier, never a header
or a body, and for outbound calls a URL without user info or query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Table, delete, desc, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from authgate.config import MonitoringSettings
from authgate.db.schema import traffic, traffic_outbound
from authgate.db.sqlite_worker import SqliteWorker
from authgate.monitoring.metrics import Monitor
from authgate.monitoring.transactions import Transaction

log = logging.getLogger("authgate.traffic")

BATCH = 500  # rows per write
GATHER = 0.1  # seconds a batch waits for more rows after its first
RETENTION_EVERY = 10.0  # seconds between retention passes
RETENTION_CHUNK = 2000  # rows deleted per transaction: a few ms of the file's write lock


@dataclass(frozen=True, slots=True)
class TrafficFilter:
    service: str = ""
    client: str = ""
    status: str = ""  # "404", "4xx", "failed" or "" for any
    limit: int = 100


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


# The columns of a row as `_write` builds it, in order.
_TRAFFIC_COLUMNS = (
    "tx_id",
    "started_ms",
    "service",
    "client",
    "method",
    "path",
    "status",
    "duration_ms",
    "outbound_count",
    "token_client_id",
    "token_username",
)
_OUTBOUND_COLUMNS = (
    "tx_id",
    "tx_started_ms",
    "seq",
    "kind",
    "method",
    "target",
    "status",
    "offset_ms",
    "duration_ms",
    "error",
)


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    """An INSERT by position: sqlite3 binds those without a dict lookup per value."""
    values = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"  # noqa: S608


_INSERT_TRAFFIC = _insert_sql("traffic", _TRAFFIC_COLUMNS)
_INSERT_OUTBOUND = _insert_sql("traffic_outbound", _OUTBOUND_COLUMNS)
# What retention deletes: each table, its key, and when its transaction started.
_RETAINED = (
    (traffic, traffic.c.tx_id, traffic.c.started_ms),
    (traffic_outbound, traffic_outbound.c.id, traffic_outbound.c.tx_started_ms),
)


class TrafficLog:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: MonitoringSettings,
        monitor: Monitor,
        sqlite: SqliteWorker | None = None,
    ) -> None:
        self.engine = engine
        # On SQLite, batches go through the file's worker thread (one writer per process).
        self.sqlite = sqlite
        self.settings = settings
        self.monitor = monitor
        self.queue: asyncio.Queue[Transaction] = asyncio.Queue(maxsize=settings.queue_size)
        self.dropped = 0
        self.retention_chunk = RETENTION_CHUNK
        self._task: asyncio.Task[None] | None = None
        # The first pass comes RETENTION_EVERY after the start, as every later one: not right
        # after the first batch, which would then be pruned while the log is still filling.
        self._last_retention = time.monotonic()

    def start(self) -> None:
        self._task = asyncio.create_task(self._write_forever())

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), timeout=5)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def submit(self, transaction: Transaction) -> None:
        """Never blocks: a full queue drops the record and counts it."""
        try:
            self.queue.put_nowait(transaction)
        except asyncio.QueueFull:
            self._drop(1)

    def _drop(self, count: int) -> None:
        self.dropped += count
        self.monitor.counts.traffic_dropped += count

    async def flush(self) -> None:
        """Wait until everything submitted so far is written (tests, shutdown)."""
        await self.queue.join()

    async def _write_forever(self) -> None:
        while True:
            batch = [await self.queue.get()]
            if self.queue.qsize() < BATCH:
                # Let a batch gather: one write of many rows costs far less per row than
                # many writes of a few, and a monitor a fraction of a second behind is live.
                await asyncio.sleep(GATHER)
            while len(batch) < BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                await self._write(batch)
                if time.monotonic() - self._last_retention > RETENTION_EVERY:
                    self._last_retention = time.monotonic()
                    await self.apply_retention()
            except Exception as exc:  # the database is down: drop, count, keep serving
                log.warning("traffic batch of %d dropped: %s", len(batch), type(exc).__name__)
                self._drop(len(batch))
            finally:
                for _ in batch:
                    self.queue.task_done()

    async def _write(self, batch: list[Transaction]) -> None:
        rows = [
            (
                tx.tx_id,
                _ms(tx.started_at),
                tx.service[:200],
                tx.client[:255],
                tx.method[:16],
                tx.path[:2000],
                tx.status,
                round(tx.duration * 1000, 3),
                len(tx.outbound),
                tx.token_client_id,
                tx.token_username[:255] if tx.token_username else None,
            )
            for tx in batch
        ]
        calls = [
            (
                tx.tx_id,
                _ms(tx.started_at),
                seq,
                call.kind[:20],
                call.method[:16],
                call.target[:2000],
                call.status,
                round(call.offset * 1000, 3),
                round(call.duration * 1000, 3),
                call.error[:200] if call.error else None,
            )
            for tx in batch
            for seq, call in enumerate(tx.outbound)
        ]
        if self.sqlite is not None:

            def write(conn: sqlite3.Connection) -> None:
                conn.executemany(_INSERT_TRAFFIC, rows)
                if calls:
                    conn.executemany(_INSERT_OUTBOUND, calls)

            await self.sqlite.call(write, writes=True)
            return
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(traffic), [dict(zip(_TRAFFIC_COLUMNS, r, strict=True)) for r in rows]
            )
            if calls:
                await conn.execute(
                    insert(traffic_outbound),
                    [dict(zip(_OUTBOUND_COLUMNS, c, strict=True)) for c in calls],
                )

    async def apply_retention(self, now: float | None = None) -> None:
        """Delete transactions older than the retention, then all but the newest max_rows.

        A bounded chunk per transaction, through the SQLite worker where there is one: one
        DELETE of every row past the limit (a minute's traffic: 300,000 rows at 5,000
        requests/s) held the file's write lock for seconds on a connection of its own, and
        every token written to the same file waited behind it."""
        cutoff = _ms((now or time.time()) - self.settings.traffic_retention)
        newest_dropped = await self._started_ms_at(self.settings.traffic_max_rows)
        if newest_dropped is not None:
            cutoff = max(cutoff, newest_dropped + 1)
        for table, key, started in _RETAINED:
            while await self._delete_chunk(table, key, started, cutoff) >= self.retention_chunk:
                pass

    async def _started_ms_at(self, offset: int) -> int | None:
        """`started_ms` of the transaction at `offset` from the newest, if there is one."""
        if self.sqlite is not None:
            row = await self.sqlite.call(
                lambda conn: conn.execute(
                    "SELECT started_ms FROM traffic ORDER BY started_ms DESC LIMIT 1 OFFSET ?",
                    (offset,),
                ).fetchone(),
                writes=False,
            )
            return None if row is None else int(row[0])
        async with self.engine.connect() as conn:
            found = await conn.execute(
                select(traffic.c.started_ms)
                .order_by(desc(traffic.c.started_ms))
                .offset(offset)
                .limit(1)
            )
            value = found.scalar()
        return None if value is None else int(value)

    async def _delete_chunk(
        self, table: Table, key: Column[Any], started: Column[Any], cutoff: int
    ) -> int:
        """Delete at most `retention_chunk` rows of `table` started before `cutoff`."""
        limit = self.retention_chunk
        if self.sqlite is not None:
            sql = (
                f"DELETE FROM {table.name} WHERE rowid IN "  # noqa: S608 - fixed names
                f"(SELECT rowid FROM {table.name} WHERE {started.name} < ? LIMIT ?)"
            )
            return await self.sqlite.call(
                lambda conn: int(conn.execute(sql, (cutoff, limit)).rowcount), writes=True
            )
        async with self.engine.begin() as conn:
            found = await conn.execute(select(key).where(started < cutoff).limit(limit))
            keys = found.scalars().all()
            if keys:
                await conn.execute(delete(table).where(key.in_(keys)))
        return len(keys)

    async def search(self, query: TrafficFilter) -> list[dict[str, Any]]:
        statement = select(traffic).order_by(desc(traffic.c.started_ms)).limit(query.limit)
        if query.service:
            statement = statement.where(traffic.c.service == query.service)
        if query.client:
            statement = statement.where(traffic.c.client == query.client)
        status = query.status.strip().lower()
        if status.isdigit():
            statement = statement.where(traffic.c.status == int(status))
        elif len(status) == 3 and status[0] in "12345" and status[1:] == "xx":
            low = int(status[0]) * 100
            statement = statement.where(traffic.c.status >= low, traffic.c.status < low + 100)
        elif status == "failed":
            statement = statement.where(traffic.c.status >= 400)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(statement)).mappings().all()
        return [dict(row) for row in rows]

    async def detail(self, tx_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                (await conn.execute(select(traffic).where(traffic.c.tx_id == tx_id)))
                .mappings()
                .first()
            )
            if row is None:
                return None
            calls = (
                (
                    await conn.execute(
                        select(traffic_outbound)
                        .where(traffic_outbound.c.tx_id == tx_id)
                        .order_by(traffic_outbound.c.seq)
                    )
                )
                .mappings()
                .all()
            )
        return dict(row) | {"outbound": [dict(call) for call in calls]}

    async def services_and_clients(self) -> tuple[list[str], list[str]]:
        """Distinct values for the filter drop-downs (bounded)."""
        async with self.engine.connect() as conn:
            services = (
                (await conn.execute(select(traffic.c.service).distinct().limit(200)))
                .scalars()
                .all()
            )
            clients = (
                (await conn.execute(select(traffic.c.client).distinct().limit(200))).scalars().all()
            )
        return sorted(services), sorted(clients)
