"""Reads that wait for the disk, several at a time, for a SQLite worker.

The worker thread runs a batch's jobs one after the other on its one connection, which is
what a database held in memory wants: no hand-over, no thread switch. A token store larger
than the memory the kernel gives its file (10,000,000 tokens are a 6.6-GB file, and the
kernel pages out file pages it sees seldom used) turns that order into a queue of disk
waits: a random lookup reads one to three pages from the disk, 100-200 us each here, while
the core has nothing else to do. Reads on connections of their own wait side by side (on
this machine, cold lookups among 10,000,000 tokens took 240 us each one after the other and
78 us each from four threads), so once the worker's read jobs have read from the disk, read
jobs come here for a while, and every read here that goes to the disk extends the while. A
store the kernel keeps in memory never starts these threads. docs/performance.md has the
measurements.

Whether a read went to the disk is the kernel's count of blocks the thread read
(sqlite_jobs.blocks_read), not a guess from timings that the GIL and the event loop blur.
Counting costs a system call, so the worker's runs of read jobs are counted only after a run
slower than SLOW_READ_SECONDS a job: reads from memory never pay for it."""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from authgate.db.sqlite_jobs import Pending, blocks_read, on_this_thread, settle
from authgate.errors import StoreUnavailable

READERS = 3  # disk reads in flight at once; the worker's core does the rest
BUSY_SECONDS = 0.5  # how long reads go to the readers after one read from the disk
READER_CACHE_KIB = 128  # each reader's page cache, for the B-trees' upper pages
# A read job from memory takes 5-15 us, one that waits for the disk 100 us or more: the
# worker's read runs are counted in blocks (a system call each) only after a slower one.
SLOW_READ_SECONDS = 40e-6


class DiskReaders:
    """READERS threads, each with a read-only connection, started on first use."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        on_start: Callable[[], None] = lambda: None,
    ) -> None:
        self._connect = connect
        self._on_start = on_start  # run first on each reader thread (its priority)
        self._jobs: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._busy_until = 0.0  # time.monotonic() until which read jobs come here
        self._counting = False  # are the worker's runs of read jobs counted in blocks?

    @property
    def is_busy(self) -> bool:
        """Are reads going to the disk: do read jobs belong here now?"""
        return time.monotonic() < self._busy_until

    def went_to_disk(self) -> None:
        """A read has just waited for the disk: send reads here for BUSY_SECONDS more."""
        self._busy_until = time.monotonic() + BUSY_SECONDS

    def reads_began(self) -> tuple[float, int]:
        """The worker's thread begins a run of read jobs: the mark `reads_ended` takes."""
        return time.perf_counter(), blocks_read() if self._counting else -1

    def reads_ended(self, mark: tuple[float, int], jobs: int) -> None:
        """The run of `jobs` read jobs begun at `mark` is over: did it read from the disk?"""
        started, blocks = mark
        if blocks >= 0:
            if blocks_read() > blocks:
                self.went_to_disk()
            else:
                self._counting = False
        elif time.perf_counter() - started > jobs * SLOW_READ_SECONDS:
            self._counting = True

    def take(self, job: Pending) -> None:
        """Run `job` on a reader and settle its future on its event loop."""
        if not self._threads:
            self._threads = [
                threading.Thread(target=self._run, name="authgate-sqlite-reader", daemon=True)
                for _ in range(READERS)
            ]
            for thread in self._threads:
                thread.start()
        self._jobs.put(job)

    def close(self) -> None:
        """Finish the jobs taken so far, then stop the threads (called by the worker thread
        once it hands over nothing more)."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

    def _run(self) -> None:
        self._on_start()
        conn: sqlite3.Connection | None = None
        while (pending := self._jobs.get()) is not None:
            before = blocks_read()
            value: Any = None
            error: BaseException | None = None
            try:
                conn = conn or self._reader_connection()
                value = on_this_thread(pending.job(conn))
            except Exception as exc:
                # As on the worker: the database failing (or not opening) is the store being
                # unavailable; anything else a job raises is the job's own error.
                unavailable = conn is None or isinstance(exc, sqlite3.OperationalError)
                error = StoreUnavailable("token store", exc) if unavailable else exc
                if unavailable and conn is not None:
                    conn.close()
                    conn = None
            if blocks_read() > before:
                self.went_to_disk()
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                pending.loop.call_soon_threadsafe(settle, [(pending.future, value, error)])
        if conn is not None:
            conn.close()

    def _reader_connection(self) -> sqlite3.Connection:
        conn = self._connect()
        conn.execute(f"PRAGMA cache_size=-{READER_CACHE_KIB}")
        conn.execute("PRAGMA query_only=1")  # a read job that writes fails instead
        return conn
