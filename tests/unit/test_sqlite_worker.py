"""The SQLite worker thread: what crosses from it to the event loop."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import pytest

from authgate.db.sqlite_worker import SqliteWorker

pytestmark = pytest.mark.anyio


async def test_a_cursor_never_reaches_the_event_loop(tmp_path: Path) -> None:
    """Freed on the loop's thread, a cursor resets its statement while the worker runs the
    next batch on the same connection: SQLite answers "API misuse" to an unrelated write."""
    worker = SqliteWorker(str(tmp_path / "w.db"))
    try:
        await worker.call(lambda conn: conn.execute("CREATE TABLE t (n INTEGER)"), writes=True)
        returned = await worker.call(
            lambda conn: conn.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)]),
            writes=True,
        )
        assert returned is None

        async def insert(n: int) -> None:
            await worker.call(
                lambda conn: conn.execute("INSERT INTO t VALUES (?)", (n,)), writes=True
            )

        for round_ in range(50):  # the loop collecting garbage between the batches
            await asyncio.gather(*(insert(round_ * 20 + i) for i in range(20)))
            gc.collect()
        (count,) = await worker.call(
            lambda conn: conn.execute("SELECT count(*) FROM t").fetchone(), writes=False
        )
        assert count == 1002
    finally:
        await asyncio.to_thread(worker.close)
