"""Jobs for the thread that owns a SQLite connection, and a batch of them in one transaction.

sqlite_worker.py hands each batch to `run_batch` on its thread; disk_readers.py runs single
read jobs on connections of their own.
"""

from __future__ import annotations

import asyncio
import resource
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from authgate.db.disk_readers import DiskReaders

Job = Callable[[sqlite3.Connection], Any]
Settled = list[tuple[asyncio.Future[Any], Any, BaseException | None]]  # future, value, error


class Pending:
    """A job, whether it writes, and the future of the event loop that waits for it."""

    __slots__ = ("future", "job", "loop", "writes")

    def __init__(
        self, job: Job, writes: bool, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]
    ) -> None:
        self.job = job
        self.writes = writes
        self.loop = loop
        self.future = future


def settle(results: Settled) -> None:
    """Give each future its outcome (on the future's event loop)."""
    for future, value, error in results:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


def on_this_thread(value: Any) -> Any:
    """A job's value, fit to cross to the event loop: a cursor must die on the thread that ran
    it (freed on the event loop's, it resets its statement while this thread runs the next
    job on the same connection: SQLITE_MISUSE)."""
    return None if isinstance(value, sqlite3.Cursor) else value


def blocks_read() -> int:
    """Blocks this thread has read from storage so far (the kernel's count: reads the page
    cache answered are not in it). Half a microsecond."""
    return resource.getrusage(resource.RUSAGE_THREAD).ru_inblock


def run_batch(
    conn: sqlite3.Connection, batch: list[Pending], readers: DiskReaders | None
) -> Settled:
    """Run the batch in one transaction (committed here), each job's outcome in order;
    `readers` is told about each run of consecutive read jobs."""
    writes = any(p.writes for p in batch)
    if writes:
        conn.execute("BEGIN IMMEDIATE")
    try:
        results = _run_jobs(conn, batch, readers, isolated=False)
        if results is None:
            # A write job failed half-way: undo the batch and run it again with each write
            # job in a SAVEPOINT of its own, so the failure takes only its own changes.
            conn.execute("ROLLBACK")
            conn.execute("BEGIN IMMEDIATE")
            results = _run_jobs(conn, batch, readers, isolated=True)
            assert results is not None  # noqa: S101 - isolated runs never give up
        if writes:
            conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return results


def _run_jobs(
    conn: sqlite3.Connection,
    batch: list[Pending],
    readers: DiskReaders | None,
    *,
    isolated: bool,
) -> Settled | None:
    """Each job's outcome, in order. Not `isolated`: no SAVEPOINT per write job (three
    statements less per job, each a release and a retake of the GIL on this thread, which the
    event loop's thread contends for), and None as soon as a write job fails: its changes
    are mixed with the batch's, and only a ROLLBACK of the whole batch takes them out (a
    batch of reads only never gives up: a failed read changed nothing). Every
    job touches nothing but the database, so running a batch twice is safe. `readers` hears
    of each run of consecutive read jobs, whether it waited for the disk (writes read from
    the disk too, partial WAL blocks among them: they are left out)."""
    results: Settled = []
    run: tuple[float, int] | None = None  # the readers' mark of the current run of reads
    run_jobs = 0
    for pending in batch:
        if readers is not None:
            if not pending.writes:
                if run is None:
                    run, run_jobs = readers.reads_began(), 0
                run_jobs += 1
            elif run is not None:
                readers.reads_ended(run, run_jobs)
                run = None
        guarded = isolated and pending.writes
        if guarded:
            conn.execute("SAVEPOINT job")
        try:
            value = pending.job(conn)
        except sqlite3.OperationalError:
            raise  # the database itself failed: the whole batch is unavailable
        except Exception as exc:
            if guarded:
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
            elif pending.writes:
                return None
            results.append((pending.future, None, exc))
            continue
        if guarded:
            conn.execute("RELEASE job")
        results.append((pending.future, on_this_thread(value), None))
    if readers is not None and run is not None:
        readers.reads_ended(run, run_jobs)
    return results
