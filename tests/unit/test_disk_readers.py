"""The SQLite worker's disk readers: read jobs side by side while reads wait for the disk."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from authgate.db import disk_readers
from authgate.db.sqlite_jobs import blocks_read
from authgate.db.sqlite_worker import SqliteWorker
from authgate.errors import StoreUnavailable

pytestmark = pytest.mark.anyio

ROWS = 2000


def make_database(path: Path) -> None:
    """A table of ROWS rows, written by a connection of its own and synced, all in the
    database file (no WAL left)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, filler TEXT)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t VALUES (?, ?)", ((n, "x" * 500) for n in range(ROWS)))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    drop_from_memory(path)


def drop_from_memory(path: Path) -> None:
    """Have the kernel forget the file's pages, so that the next read goes to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def read_row(n: int) -> Any:
    """A read job: the row and the name of the thread that read it."""

    def job(conn: sqlite3.Connection) -> tuple[Any, str]:
        row = conn.execute("SELECT n, length(filler) FROM t WHERE n = ?", (n,)).fetchone()
        return row, threading.current_thread().name

    return job


@pytest.fixture
async def worker(tmp_path: Path) -> Any:
    path = tmp_path / "w.db"
    make_database(path)
    worker = SqliteWorker(str(path))
    yield worker
    await asyncio.to_thread(worker.close)


async def test_a_database_in_memory_reads_on_the_worker_alone(
    worker: SqliteWorker, tmp_path: Path
) -> None:
    """Reads the kernel answers from memory never leave the worker's thread, batch after
    batch, writes among them."""
    (tmp_path / "w.db").read_bytes()  # the whole file into the kernel's page cache
    for round_ in range(5):

        async def insert(n: int) -> None:
            await worker.call(
                lambda conn: conn.execute("INSERT INTO t VALUES (?, 'new')", (n,)), writes=True
            )

        answers = await asyncio.gather(
            *(worker.call(read_row(n), writes=False) for n in range(0, ROWS, 20)),
            insert(ROWS + round_),
        )
        reads = answers[:-1]
        assert [row for row, _ in reads] == [(n, 500) for n in range(0, ROWS, 20)]
        assert {thread for _, thread in reads} == {"authgate-sqlite"}
    assert worker._readers is not None
    assert not worker._readers._threads  # never started


async def test_once_a_read_waits_for_the_disk_reads_go_to_the_readers(
    worker: SqliteWorker, tmp_path: Path
) -> None:
    probe = tmp_path / "probe"
    probe.write_bytes(os.urandom(1 << 20))
    drop_from_memory(probe)
    before = blocks_read()
    probe.read_bytes()
    if blocks_read() == before:
        pytest.skip("the kernel counts no block reads under tmp_path (no block device)")

    readers = worker._readers
    assert readers is not None
    # From the disk, one after the other: the first slow read has the next ones counted.
    for n in range(0, 400, 100):
        row, thread = await worker.call(read_row(n), writes=False)
        assert (row, thread) == ((n, 500), "authgate-sqlite")
        if readers.is_busy:
            break
    assert readers.is_busy

    async def insert(n: int) -> str:
        def job(conn: sqlite3.Connection) -> str:
            conn.execute("INSERT INTO t VALUES (?, 'new')", (n,))
            return threading.current_thread().name

        return await worker.call(job, writes=True)

    answers = await asyncio.gather(
        *(worker.call(read_row(n), writes=False) for n in range(0, ROWS, 40)), insert(ROWS)
    )
    *reads, writer = answers
    assert [row for row, _ in reads] == [(n, 500) for n in range(0, ROWS, 40)]
    assert {thread for _, thread in reads} == {"authgate-sqlite-reader"}
    assert writer == "authgate-sqlite"  # writes stay with the worker's transaction
    # A committed write is seen by the readers' next reads.
    row, thread = await worker.call(
        lambda conn: (
            conn.execute("SELECT filler FROM t WHERE n = ?", (ROWS,)).fetchone(),
            threading.current_thread().name,
        ),
        writes=False,
    )
    assert (row, thread) == (("new",), "authgate-sqlite-reader")


async def test_the_readers_let_go_once_reads_stop_waiting_for_the_disk(
    worker: SqliteWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(disk_readers, "BUSY_SECONDS", 0.2)
    await worker.call(read_row(0), writes=False)
    assert worker._readers is not None
    worker._readers.went_to_disk()
    _, thread = await worker.call(read_row(1), writes=False)
    assert thread == "authgate-sqlite-reader"
    await asyncio.sleep(0.3)  # reads from memory since: nothing went to the disk again
    _, thread = await worker.call(read_row(2), writes=False)
    assert thread == "authgate-sqlite"


async def test_a_reader_s_failures_reach_their_callers(worker: SqliteWorker) -> None:
    assert worker._readers is not None
    worker._readers.went_to_disk()

    def fails(conn: sqlite3.Connection) -> None:
        raise ValueError("the job's own error")

    def writes(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM t")  # handed over as a read

    answers = await asyncio.gather(
        worker.call(fails, writes=False),
        worker.call(writes, writes=False),
        worker.call(read_row(3), writes=False),
        worker.call(lambda conn: conn.execute("SELECT 1"), writes=False),
        return_exceptions=True,
    )
    assert isinstance(answers[0], ValueError)
    assert isinstance(answers[1], StoreUnavailable)  # a reader's connection writes nothing
    assert answers[2] == ((3, 500), "authgate-sqlite-reader")
    assert answers[3] is None  # a cursor stays on the reader's thread
    (count,) = await worker.call(
        lambda conn: conn.execute("SELECT count(*) FROM t").fetchone(), writes=False
    )
    assert count == ROWS


async def test_closing_answers_every_read_taken_and_ends_the_readers(
    worker: SqliteWorker,
) -> None:
    assert worker._readers is not None
    worker._readers.went_to_disk()
    reads = [asyncio.ensure_future(worker.call(read_row(n), writes=False)) for n in range(100)]
    await asyncio.sleep(0)  # handed over at the end of this turn
    await asyncio.sleep(0)
    await asyncio.to_thread(worker.close)
    done = await asyncio.gather(*reads, return_exceptions=True)
    for n, answer in enumerate(done):
        # Each read is answered: its row, or refused if it came after the close.
        assert answer == ((n, 500), "authgate-sqlite-reader") or isinstance(
            answer, StoreUnavailable
        )
    assert not any(t.name == "authgate-sqlite-reader" for t in threading.enumerate())


async def test_a_reader_s_read_from_the_disk_keeps_reads_with_the_readers(
    worker: SqliteWorker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(disk_readers, "BUSY_SECONDS", 0.6)
    assert worker._readers is not None
    worker._readers.went_to_disk()
    await asyncio.sleep(0.4)
    drop_from_memory(tmp_path / "w.db")
    _, thread = await worker.call(read_row(1500), writes=False)  # read from the disk
    assert thread == "authgate-sqlite-reader"
    await asyncio.sleep(0.4)  # 0.8 s after the worker's signal, 0.4 after the reader's
    _, thread = await worker.call(read_row(1), writes=False)
    assert thread == "authgate-sqlite-reader"


async def test_a_reader_that_cannot_open_the_database_answers_unavailable(
    worker: SqliteWorker,
) -> None:
    readers = worker._readers
    assert readers is not None

    def refuse() -> sqlite3.Connection:
        raise sqlite3.DatabaseError("file is not a database")

    readers._connect = refuse
    readers.went_to_disk()
    with pytest.raises(StoreUnavailable):
        await worker.call(read_row(5), writes=False)
