"""`sqlite:///PATH`, the embedded default: the TokenStore contract on one SQLite file.

Every call goes through the file's SqliteWorker (authgate.db.sqlite_worker), which batches
the jobs of many requests into one transaction; `exchange` is a conditional UPDATE, the
atomic test-and-set, as in SqlStore.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from authgate.db.sqlite_worker import SqliteWorker
from authgate.models import TokenRecord
from authgate.stores.base import Entry, live_record

_INSERT = (
    "INSERT INTO tokens "
    "(token_key, kind, grant_id, client_id, expires_at, consumed, data, username) "
    "VALUES (?, ?, ?, ?, ?, 0, ?, ?)"
)


def _rows(entries: Sequence[Entry]) -> list[tuple[object, ...]]:
    return [
        (key, r.kind, r.grant_id, r.client_id, r.expires_at, r.to_json(), r.username)
        for key, r in entries
    ]


class SqliteStore:
    """The TokenStore contract on one SQLite file, through its SqliteWorker."""

    def __init__(self, worker: SqliteWorker, *, purge_batch: int = 1000) -> None:
        self.worker = worker
        self.purge_batch = purge_batch

    async def put(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        rows = _rows(entries)
        await self.worker.call(lambda conn: conn.executemany(_INSERT, rows), writes=True)

    async def get(self, key: str) -> TokenRecord | None:
        def read(conn: sqlite3.Connection) -> Any:
            return conn.execute(
                "SELECT data, consumed, expires_at FROM tokens WHERE token_key = ?", (key,)
            ).fetchone()

        row = await self.worker.call(read, writes=False)
        return None if row is None else live_record(row[0], row[1], row[2])

    async def exchange(
        self, key: str, entries: Sequence[Entry], *, successor: str | None = None
    ) -> bool:
        rows = _rows(entries)

        def swap(conn: sqlite3.Connection) -> bool:
            # The conditional UPDATE is the atomic test-and-set (also across processes); with a
            # grace period it seals the successor into the record in the same statement.
            if successor is None:
                changed = conn.execute(
                    "UPDATE tokens SET consumed = 1 WHERE token_key = ? AND consumed = 0 "
                    "AND expires_at > ?",
                    (key, int(time.time())),
                ).rowcount
            else:
                changed = conn.execute(
                    "UPDATE tokens SET consumed = 1, data = json_set(data, '$.successor', ?) "
                    "WHERE token_key = ? AND consumed = 0 AND expires_at > ?",
                    (successor, key, int(time.time())),
                ).rowcount
            if changed != 1:
                return False
            conn.executemany(_INSERT, rows)
            return True

        return await self.worker.call(swap, writes=True)

    async def delete(self, key: str) -> None:
        await self.worker.call(
            lambda conn: conn.execute("DELETE FROM tokens WHERE token_key = ?", (key,)),
            writes=True,
        )

    async def _delete_where(self, column: str, value: str) -> int:
        def remove(conn: sqlite3.Connection) -> int:
            count: int = conn.execute(
                f"DELETE FROM tokens WHERE {column} = ?",  # noqa: S608 - fixed names
                (value,),
            ).rowcount
            return count

        return await self.worker.call(remove, writes=True)

    async def revoke_grant(self, grant_id: str) -> int:
        return await self._delete_where("grant_id", grant_id)

    async def revoke_client(self, client_id: str) -> int:
        return await self._delete_where("client_id", client_id)

    async def revoke_user(self, username: str, client_id: str | None = None) -> int:
        if client_id is None:
            return await self._delete_where("username", username)
        return await self.worker.call(
            lambda conn: int(
                conn.execute(
                    "DELETE FROM tokens WHERE username = ? AND client_id = ?",
                    (username, client_id),
                ).rowcount
            ),
            writes=True,
        )

    async def purge(self, now: int) -> int:
        def remove_batch(conn: sqlite3.Connection) -> int:
            count: int = conn.execute(
                "DELETE FROM tokens WHERE token_key IN (SELECT token_key FROM tokens "
                "WHERE expires_at <= ? LIMIT ?)",
                (now, self.purge_batch),
            ).rowcount
            return count

        removed = 0
        while True:
            # One bounded batch per transaction, so requests are never held up for long.
            count = await self.worker.call(remove_batch, writes=True)
            removed += count
            if count < self.purge_batch:
                return removed

    async def ping(self) -> None:
        await self.worker.call(lambda conn: conn.execute("SELECT 1").fetchone(), writes=False)

    async def close(self) -> None:
        await asyncio.to_thread(self.worker.close)
