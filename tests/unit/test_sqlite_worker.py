"""The SQLite worker thread: what crosses from it to the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import functools
import gc
import os
import queue
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from authgate.db import sqlite_worker
from authgate.db.sqlite_worker import NICENESS, SqliteWorker, sync_database_file
from authgate.errors import StoreUnavailable

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


class CountingQueue(queue.SimpleQueue):  # type: ignore[type-arg]
    """The worker's queue, counting the hand-overs (each one can wake the thread)."""

    def __init__(self) -> None:
        self.puts = 0

    def put(self, item: object, block: bool = True, timeout: float | None = None) -> None:
        self.puts += 1
        super().put(item, block, timeout)


async def test_the_jobs_of_one_loop_turn_reach_the_thread_in_one_hand_over(
    tmp_path: Path,
) -> None:
    worker = SqliteWorker(str(tmp_path / "w.db"))
    worker._jobs = counting = CountingQueue()
    try:
        await worker.call(lambda conn: conn.execute("CREATE TABLE t (n INTEGER)"), writes=True)
        assert counting.puts == 1

        def insert(n: int) -> Any:
            return worker.call(
                lambda conn: conn.execute("INSERT INTO t VALUES (?)", (n,)), writes=True
            )

        await asyncio.gather(*(insert(n) for n in range(20)))  # created in one turn
        assert counting.puts == 2
        (count,) = await worker.call(
            lambda conn: conn.execute("SELECT count(*) FROM t").fetchone(), writes=False
        )
        assert count == 20
    finally:
        await asyncio.to_thread(worker.close)


async def test_a_job_given_as_the_worker_closes_fails_rather_than_hangs(tmp_path: Path) -> None:
    worker = SqliteWorker(str(tmp_path / "w.db"))
    await worker.call(lambda conn: conn.execute("SELECT 1"), writes=False)
    pending = asyncio.ensure_future(worker.call(lambda conn: None, writes=False))
    await asyncio.sleep(0)  # the call is made; its hand-over waits for the loop's next turn
    worker.close()
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(pending, 5)


async def test_a_failing_write_job_takes_only_its_own_changes(tmp_path: Path) -> None:
    """Jobs of one batch share a transaction: the one that fails half-way must leave nothing
    behind, and the others of its batch must still be committed."""
    worker = SqliteWorker(str(tmp_path / "w.db"))
    try:
        await worker.call(
            lambda conn: conn.execute("CREATE TABLE t (n INTEGER PRIMARY KEY)"), writes=True
        )

        def insert(n: int) -> Any:
            return worker.call(
                lambda conn: conn.execute("INSERT INTO t VALUES (?)", (n,)), writes=True
            )

        def half_then_fail(conn: Any) -> None:
            conn.execute("INSERT INTO t VALUES (100)")
            conn.execute("INSERT INTO t VALUES (1)")  # taken by the batch's first job

        def read() -> Any:
            return worker.call(lambda conn: conn.execute("SELECT 7").fetchone(), writes=False)

        outcomes = await asyncio.gather(  # created in one turn: one batch
            insert(1),
            worker.call(half_then_fail, writes=True),
            read(),
            insert(2),
            return_exceptions=True,
        )
        assert outcomes[0] is None
        assert type(outcomes[1]).__name__ == "IntegrityError"
        assert outcomes[2] == (7,)
        assert outcomes[3] is None
        rows = await worker.call(
            lambda conn: conn.execute("SELECT n FROM t ORDER BY n").fetchall(), writes=False
        )
        assert rows == [(1,), (2,)]
    finally:
        await asyncio.to_thread(worker.close)


@pytest.mark.skipif(sys.platform != "linux", reason="thread priorities are Linux's")
async def test_the_thread_stands_back_from_the_event_loop(tmp_path: Path) -> None:
    """Woken by a hand-over, the thread must not preempt the event loop's thread mid-turn."""
    worker = SqliteWorker(str(tmp_path / "w.db"))
    try:
        loop_niceness = os.getpriority(os.PRIO_PROCESS, 0)
        worker_niceness = await worker.call(
            lambda conn: os.getpriority(os.PRIO_PROCESS, 0), writes=False
        )
        assert worker_niceness == min(19, loop_niceness + NICENESS)
        assert os.getpriority(os.PRIO_PROCESS, 0) == loop_niceness  # the loop's unchanged
    finally:
        await asyncio.to_thread(worker.close)


def test_each_event_loop_gets_its_own_answers(tmp_path: Path) -> None:
    """One worker, called from loops that follow each other in a thread and from loops that
    run at once in two threads: every answer reaches the loop that asked."""
    worker = SqliteWorker(str(tmp_path / "w.db"))

    async def ask(n: int) -> Any:
        await asyncio.sleep(0)
        return await worker.call(
            lambda conn: conn.execute("SELECT ?", (n,)).fetchone(), writes=False
        )

    async def many(base: int) -> list[Any]:
        return list(await asyncio.gather(*(ask(base + i) for i in range(50))))

    try:
        assert asyncio.run(ask(1)) == (1,)
        assert asyncio.run(ask(2)) == (2,)  # a new loop in the same thread
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda base: asyncio.run(many(base)), [100, 200, 300, 400]))
        assert answers == [[(b + i,) for i in range(50)] for b in (100, 200, 300, 400)]
    finally:
        worker.close()


def _wal_restarts(path: Path) -> int:
    """The WAL header's checkpoint sequence number: one more each time the WAL starts over."""
    with open(f"{path}-wal", "rb") as wal:
        return int.from_bytes(wal.read(16)[12:16], "big")


def _insert(conn: sqlite3.Connection, n: int) -> None:
    conn.execute("INSERT INTO t VALUES (?, randomblob(3000))", (n,))
    time.sleep(0.002)  # the transaction stays open: the writer is never idle


async def _write_without_pause(
    worker: SqliteWorker, seconds: float, until: Callable[[], bool] = lambda: False
) -> int:
    """Rows written by four callers that never pause, for `seconds` or until `until()`."""
    written = 0

    async def write() -> None:
        nonlocal written
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not until():
            n = written
            written += 1
            await worker.call(functools.partial(_insert, n=n), writes=True)

    await asyncio.gather(*(write() for _ in range(4)))
    return written


async def test_the_wal_starts_over_under_writes_that_never_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite starts the WAL over only when a write transaction begins with every frame of
    it copied into the database: a writer that never pauses kept it growing without end."""
    monkeypatch.setattr(sqlite_worker, "CHECKPOINT_EVERY", 0.02)
    monkeypatch.setattr(sqlite_worker, "RESTART_FRAMES", 64)
    monkeypatch.setattr(sqlite_worker, "CATCH_UP_FRAMES", 16)
    path = tmp_path / "w.db"
    worker = SqliteWorker(str(path))
    try:
        await worker.call(
            lambda conn: conn.execute("CREATE TABLE t (n INTEGER, pad BLOB)"), writes=True
        )
        first = _wal_restarts(path)
        written = await _write_without_pause(worker, 2.0)
        assert _wal_restarts(path) > first
        (count,) = await worker.call(
            lambda conn: conn.execute("SELECT count(*) FROM t").fetchone(), writes=False
        )
        assert count == written
    finally:
        await asyncio.to_thread(worker.close)


async def test_a_wal_that_grew_past_the_limit_is_cut_back_when_it_starts_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A WAL that grew while it could not start over (here: restarts off) keeps its size on
    disk when it does, unless it is past WAL_SIZE_LIMIT."""
    monkeypatch.setattr(sqlite_worker, "CHECKPOINT_EVERY", 0.02)
    monkeypatch.setattr(sqlite_worker, "RESTART_FRAMES", 10**9)
    monkeypatch.setattr(sqlite_worker, "CATCH_UP_FRAMES", 16)
    monkeypatch.setattr(sqlite_worker, "WAL_SIZE_LIMIT", 512 * 1024)
    path = tmp_path / "w.db"
    wal = Path(f"{path}-wal")
    worker = SqliteWorker(str(path))
    try:
        await worker.call(
            lambda conn: conn.execute("CREATE TABLE t (n INTEGER, pad BLOB)"), writes=True
        )
        await _write_without_pause(worker, 10.0, until=lambda: wal.stat().st_size > 2**21)
        assert wal.stat().st_size > 2**21
        first = _wal_restarts(path)
        monkeypatch.setattr(sqlite_worker, "RESTART_FRAMES", 64)
        await _write_without_pause(worker, 10.0, until=lambda: _wal_restarts(path) > first)
        await worker.call(functools.partial(_insert, n=-1), writes=True)  # one more commit
        assert _wal_restarts(path) > first
        assert wal.stat().st_size < 2**20
    finally:
        await asyncio.to_thread(worker.close)


async def test_the_restart_syncs_and_copies_until_a_pass_brought_few_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The held pass waits for everything written since the pass before it: the restart
    first syncs and copies, pass after pass, while the writer goes on, and holds the writer
    once a pass brought few frames (here the writer stops after the third sync)."""
    monkeypatch.setattr(sqlite_worker, "CHECKPOINT_EVERY", 3600.0)  # only the test's passes
    monkeypatch.setattr(sqlite_worker, "SETTLED_FRAMES", 8)
    path = tmp_path / "w.db"
    worker = SqliteWorker(str(path))
    # The writer going on, from the thread that syncs (the checkpoint thread, in the server).
    elsewhere = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    syncs = 0

    # A reader from before the restart to its last sync keeps those writes from starting the
    # WAL over by themselves (as a writer under load seldom can: a pass seldom copies all).
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def sync_while_the_writer_goes_on(synced: str) -> None:
        nonlocal syncs
        syncs += 1
        assert synced == str(path)
        if syncs <= 3:
            for n in range(20):  # 20 commits: 20 frames or more
                elsewhere.execute("INSERT INTO t VALUES (?, randomblob(3000))", (n,))
        else:
            reader.execute("COMMIT")

    monkeypatch.setattr(sqlite_worker, "sync_database_file", sync_while_the_writer_goes_on)
    try:
        await worker.call(
            lambda conn: conn.execute("CREATE TABLE t (n INTEGER, pad BLOB)"), writes=True
        )
        for n in range(40):
            await worker.call(functools.partial(_insert, n=n), writes=True)
        first = _wal_restarts(path)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM t").fetchone()  # a snapshot of frames in the WAL
        checkpoints = worker._connect()
        try:
            frames, copied = worker._checkpoint(checkpoints)
            await asyncio.to_thread(worker._restart_wal, checkpoints, frames, copied)
        finally:
            checkpoints.close()
        assert syncs == 4
        await worker.call(functools.partial(_insert, n=-1), writes=True)
        assert _wal_restarts(path) > first
        (count,) = await worker.call(
            lambda conn: conn.execute("SELECT count(*) FROM t").fetchone(), writes=False
        )
        assert count == 40 + 3 * 20 + 1
    finally:
        reader.close()
        elsewhere.close()
        await asyncio.to_thread(worker.close)


def _locked_elsewhere(path: Path) -> bool:
    """Does another process find a POSIX lock on `path` (as SQLite's own are)?"""
    probe = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try:\n"
        "    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except OSError:\n"
        "    sys.exit(1)\n"
    )
    return subprocess.run([sys.executable, "-c", probe, str(path)], check=False).returncode == 1


def test_syncing_the_database_file_keeps_this_process_s_locks_on_it(tmp_path: Path) -> None:
    """Closing any descriptor of a file drops every POSIX lock the process holds on it: a
    sync through a descriptor opened and closed for it once let another process empty a WAL
    in use. The sync's descriptor is opened once per file and stays open."""
    path = tmp_path / "s.db"
    path.write_bytes(b"")
    held = os.open(path, os.O_RDWR)
    try:
        fcntl.lockf(held, fcntl.LOCK_SH)  # a lock of this process, as SQLite takes them
        assert _locked_elsewhere(path)
        for _ in range(2):
            sync_database_file(str(path))
        assert _locked_elsewhere(path)
        descriptors = [
            fd
            for fd in os.listdir("/proc/self/fd")
            if os.path.realpath(f"/proc/self/fd/{fd}") == str(path)
        ]
        assert len(descriptors) == 2  # the test's own and the sync's one, opened once
    finally:
        os.close(held)
