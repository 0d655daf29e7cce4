"""`sqlite:///PATH`, the embedded default: one thread owns the file, with group commit.

Every call from the event loop becomes a job for that thread. The thread takes all the jobs
queued so far, runs them in ONE transaction and commits once, then wakes their callers with one
callback. So under load a commit (and a thread hop) serves many requests, nothing blocks the
event loop, and a caller is answered only after its writes are committed: durability is not
traded for speed. Each write job runs inside its own SAVEPOINT, so one failing job leaves the
others of its batch intact. Several processes may share the file: SQLite's write lock (with a
busy timeout) orders their transactions, and `exchange` is a conditional UPDATE as in SqlStore.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from authgate.errors import StoreUnavailable
from authgate.models import TokenRecord
from authgate.stores.base import Entry, live_record

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]

MAX_BATCH = 256  # jobs in one transaction at the most
BUSY_TIMEOUT_MS = 10_000
CHECKPOINT_EVERY = 1.0  # seconds between WAL checkpoints, which run off the writer thread


def sqlite_path(url: str) -> str:
    """`sqlite:///authgate.db` -> `authgate.db`; `sqlite:////abs/x.db` -> `/abs/x.db`."""
    path = url.split(":///", 1)[1] if ":///" in url else ""
    return path.split("?", 1)[0] or ":memory:"


class _Pending:
    __slots__ = ("future", "job", "loop", "writes")

    def __init__(
        self, job: Job, writes: bool, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]
    ) -> None:
        self.job = job
        self.writes = writes
        self.loop = loop
        self.future = future


def _settle(results: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, value, error in results:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


class SqliteWorker:
    """The thread that owns one SQLite file for this process."""

    def __init__(self, path: str) -> None:
        self.path = path
        # SimpleQueue is C code: a put from the event loop costs far less than a Condition.
        self._jobs: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()
        self._stop_checkpoints = threading.Event()

    def _ensure_thread(self) -> None:
        with self._starting:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="authgate-sqlite",
                                                daemon=True)
                self._thread.start()
                if self.path != ":memory:":
                    threading.Thread(target=self._checkpoint_forever,
                                     name="authgate-sqlite-checkpoint", daemon=True).start()

    def _checkpoint_forever(self) -> None:
        """Copy the WAL into the database file (and fsync it) here, not in the writer.

        A checkpoint is most of the cost of a write when SQLite runs it inside a commit; a
        PASSIVE checkpoint on a connection of its own never blocks the writer or readers.
        """
        conn: sqlite3.Connection | None = None
        while not self._stop_checkpoints.wait(CHECKPOINT_EVERY):
            try:
                conn = conn or self._connect()
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:
                if conn is not None:
                    conn.close()
                conn = None  # the next round tries again; the WAL only grows meanwhile
        if conn is not None:
            conn.close()

    async def call(self, job: Callable[[sqlite3.Connection], T], *, writes: bool) -> T:
        """Run `job(connection)` on the thread, in a transaction committed before we return."""
        if self._closed:
            raise StoreUnavailable("token store")
        if self._thread is None:
            self._ensure_thread()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Pending(job, writes, loop, future))
        return await future

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_checkpoints.set()
        self._jobs.put(None)  # wakes the thread, which finishes the jobs before it and ends
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # Checkpoints run in _checkpoint_forever; the other connections to the file (the
        # registry's engine) keep SQLite's default and still checkpoint if the WAL grows.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        return conn

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        running = True
        while running:
            first = self._jobs.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    running = False
                    break
                batch.append(more)
            try:
                if conn is None:
                    conn = self._connect()
                results = self._run_batch(conn, batch)
            except sqlite3.Error as exc:
                unavailable = StoreUnavailable("token store", exc)
                results = [(p.future, None, unavailable) for p in batch]
                if conn is not None:
                    conn.close()
                conn = None
            by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
            for pending, result in zip(batch, results, strict=True):
                by_loop.setdefault(pending.loop, []).append(result)
            for loop, settled in by_loop.items():
                try:
                    loop.call_soon_threadsafe(_settle, settled)
                except RuntimeError:  # that loop is closed: nobody is waiting any more
                    pass
        if conn is not None:
            conn.close()

    @staticmethod
    def _run_batch(
        conn: sqlite3.Connection, batch: list[_Pending]
    ) -> list[tuple[asyncio.Future[Any], Any, BaseException | None]]:
        writes = any(p.writes for p in batch)
        results: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        if writes:
            conn.execute("BEGIN IMMEDIATE")
        try:
            for pending in batch:
                if pending.writes:
                    conn.execute("SAVEPOINT job")
                try:
                    value = pending.job(conn)
                except sqlite3.OperationalError:
                    raise  # the database itself failed: the whole batch is unavailable
                except Exception as exc:
                    if pending.writes:
                        conn.execute("ROLLBACK TO job")
                        conn.execute("RELEASE job")
                    results.append((pending.future, None, exc))
                    continue
                if pending.writes:
                    conn.execute("RELEASE job")
                if isinstance(value, sqlite3.Cursor):
                    # A cursor must die on this thread: freed on the event loop's, it resets
                    # its statement while this thread runs the next batch (SQLITE_MISUSE).
                    value = None
                results.append((pending.future, value, None))
            if writes:
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return results


_INSERT = (
    "INSERT INTO tokens (token_key, kind, grant_id, client_id, expires_at, consumed, data) "
    "VALUES (?, ?, ?, ?, ?, 0, ?)"
)


def _rows(entries: Sequence[Entry]) -> list[tuple[object, ...]]:
    return [
        (key, r.kind, r.grant_id, r.client_id, r.expires_at, r.to_json()) for key, r in entries
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
                f"DELETE FROM tokens WHERE {column} = ?", (value,)  # noqa: S608 - fixed names
            ).rowcount
            return count

        return await self.worker.call(remove, writes=True)

    async def revoke_grant(self, grant_id: str) -> int:
        return await self._delete_where("grant_id", grant_id)

    async def revoke_client(self, client_id: str) -> int:
        return await self._delete_where("client_id", client_id)

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
