"""The thread that owns one SQLite file for this process, with group commit.

The token store, the registry's client lookups and the traffic log of a `sqlite:///` URL all
go through it.

Every call from the event loop becomes a job for that thread. The jobs an event loop creates
in one turn are handed over together at the end of the turn: one wake-up of the thread for
all of them, not one each (on one core each wake-up was a system call and a switch to a
thread that then waited for the GIL: 14-20 % of a token request). The thread takes all the
jobs queued so far, runs them in ONE transaction and commits once, then wakes their callers with one
callback. So under load a commit (and a thread hop) serves many requests, nothing blocks the
event loop, and a caller is answered only after its writes are committed: durability is not
traded for speed. A write job that fails takes only its own changes with it: the batch is then
rolled back and run again with each write job inside its own SAVEPOINT, so the others of its
batch stand. Several processes may share the file: SQLite's write lock (with a
busy timeout) orders their transactions, and `exchange` is a conditional UPDATE as in SqlStore.
While read jobs wait for the disk (a store larger than the memory the kernel gives its file),
they run on a few reader threads instead, side by side (disk_readers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from authgate.db.disk_readers import DiskReaders
from authgate.db.private_files import create_private_database
from authgate.db.sqlite_jobs import Pending, Settled, run_batch, settle
from authgate.errors import StoreUnavailable

T = TypeVar("T")

MAX_BATCH = 256  # jobs in one transaction, give or take the jobs of one event-loop turn
BUSY_TIMEOUT_MS = 10_000
CHECKPOINT_EVERY = 1.0  # seconds between WAL checkpoints, which run off the writer thread
# From this many frames (pages: 256 MiB of 4 KiB pages) on, the WAL is brought back to its
# start (see _checkpoint_forever), so the writer writes over pages of the file it has: a write
# that grows the file costs the kernel a new page and its zeroing (a 4-KiB frame appended to a
# file growing to 1 GB: 7.6 us of CPU on this VM; written over: 1.9 us), 10-18 us more of the
# writer's CPU per client_credentials request while a 1-GiB WAL grew (bench/steady.py), and
# the first run of a fresh server at 0.78x of the next. Each restart holds the writer while
# the last frames are copied and synced; passes of a sync and a copy before it (SETTLE_PASSES)
# leave the held one a few hundred frames: holds of 1-4 ms under client_credentials, 4-16 ms
# under saturated refresh grants. A restart costs the checkpoint thread more than a plain
# pass: at 16,384 frames (one a second under refresh grants) those ran 5-9 % slower than at
# 262,144; 65,536 keeps most of both gains (bench/run.py, 2026-12-05). A file that grew past
# WAL_SIZE_LIMIT meanwhile (another process's writes, which this thread does not hold) is cut
# back to it, by the writer: cutting 4.7 GB to 1 GiB held it 0.85 s, so the limit is far above
# the size a restarted WAL keeps.
RESTART_FRAMES = 65_536
CATCH_UP_FRAMES = 1_024  # at most this many frames are left to copy before the settling
SETTLE_PASSES = 6  # passes of a database sync and a copy before the hold, at most
SETTLED_FRAMES = 256  # frames that came during a pass, from which the next is the held one
WAL_SIZE_LIMIT = 4 * 1024 * 1024 * 1024
NICENESS = 5  # how far the worker's threads stand back from the event loop's thread


def sqlite_path(url: str) -> str:
    """`sqlite:///authgate.db` -> `authgate.db`; `sqlite:////abs/x.db` -> `/abs/x.db`."""
    path = url.split(":///", 1)[1] if ":///" in url else ""
    return path.split("?", 1)[0] or ":memory:"


def _behind_the_event_loop() -> None:
    """Lower this thread's priority (Linux: the calling thread only) below the event loop's.

    Woken by a hand-over, a thread of the same priority preempted the loop's thread in the
    middle of its turn, at its next system call: a switch there and back per batch, and
    batches of the few jobs handed over so far. Standing back, the thread runs its batch when
    the loop waits for the network (or on its smaller share of a busy core), with the jobs
    of every request the loop has taken up meanwhile (bench/ab.py on one core: the refresh
    grant 1.17x and client_credentials 1.09x the requests/s, 8 % less CPU per request).
    """
    if sys.platform != "linux":
        return  # elsewhere the call would lower the whole process
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICENESS))


# One descriptor per database file (and inode) for this process, opened only to fsync the file
# and never closed: closing any descriptor of a file drops every POSIX lock the process holds
# on it, SQLite's included, and another process may then take its connection for the last
# one and empty a WAL this process is using (seen once: "database disk image is malformed").
_SYNC_DESCRIPTORS: dict[tuple[int, int], int] = {}
_SYNC_DESCRIPTORS_LOCK = threading.Lock()


def sync_database_file(path: str) -> None:
    """fdatasync the database file, through this process's descriptor kept for the purpose."""
    with _SYNC_DESCRIPTORS_LOCK:
        found = os.stat(path)
        identity = (found.st_dev, found.st_ino)
        fd = _SYNC_DESCRIPTORS.get(identity)
        if fd is None:
            fd = _SYNC_DESCRIPTORS[identity] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    os.fdatasync(fd)


class SqliteWorker:
    """The thread that owns one SQLite file for this process."""

    def __init__(self, path: str) -> None:
        self.path = path
        # SimpleQueue is C code: a put from the event loop costs far less than a Condition.
        self._jobs: queue.SimpleQueue[list[Pending] | None] = queue.SimpleQueue()
        # Per event loop, the jobs of its current turn, not yet handed over (only that
        # loop's thread touches its list).
        self._outboxes: dict[asyncio.AbstractEventLoop, list[Pending]] = {}
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None  # the last caller's, and its thread
        self._loop_thread = 0
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()
        self._stop_checkpoints = threading.Event()
        # The writer runs each transaction holding _transaction; a checkpoint that is to
        # restart the WAL clears _writer_may_go, which keeps the writer from taking the lock
        # again (a Lock is not fair), then takes the lock for its last pass.
        self._transaction = threading.Lock()
        self._writer_may_go = threading.Event()
        self._writer_may_go.set()
        # Read jobs go there while reads wait for the disk (disk_readers.py); a database in
        # memory never does.
        self._readers = (
            None
            if path == ":memory:"
            else DiskReaders(self._connect, on_start=_behind_the_event_loop)
        )

    def _ensure_thread(self) -> None:
        with self._starting:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="authgate-sqlite", daemon=True
                )
                self._thread.start()
                if self.path != ":memory:":
                    threading.Thread(
                        target=self._checkpoint_forever,
                        name="authgate-sqlite-checkpoint",
                        daemon=True,
                    ).start()

    def _checkpoint_forever(self) -> None:
        """Copy the WAL into the database file (and fsync it) here, not in the writer.

        A checkpoint is most of the cost of a write when SQLite runs it inside a commit; a
        PASSIVE checkpoint on a connection of its own never blocks the writer or readers.
        But the WAL starts again from its beginning only when a write transaction begins
        with every frame copied, which under a steady load never happens by itself: the WAL
        grew without end (60 MB/s at full client_credentials load, 100 MB/s with a single
        connection, whose transactions are one job each: the disk's to fill), and once the
        file was past one to three GB the writer's CPU per request doubled (22 -> 48 us;
        bench/steady.py). So once it is RESTART_FRAMES long, this thread copies until little
        is left, then holds the writer between two transactions for the last few frames: the
        writer's next transaction starts the WAL over, writing into the file it has instead
        of growing it.
        """
        _behind_the_event_loop()
        conn: sqlite3.Connection | None = None
        while not self._stop_checkpoints.wait(CHECKPOINT_EVERY):
            try:
                conn = conn or self._connect()
                frames, copied = self._checkpoint(conn)
                if frames >= RESTART_FRAMES:
                    self._restart_wal(conn, frames, copied)
            except sqlite3.Error:
                if conn is not None:
                    conn.close()
                conn = None  # the next round tries again; the WAL only grows meanwhile
        if conn is not None:
            conn.close()

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection) -> tuple[int, int]:
        """(frames in the WAL, frames of it now in the database file), as SQLite says."""
        _, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return frames, copied

    def _restart_wal(self, conn: sqlite3.Connection, frames: int, copied: int) -> None:
        """Copy the frames that came during the last pass until few are left, then the
        last of them with the writer held. A reader of another connection that keeps
        frames from being copied keeps the WAL as it is: the writer is not held for nothing."""
        for _ in range(4):
            if frames - copied > CATCH_UP_FRAMES:
                return  # a reader of an older snapshot holds the copying back
            before = copied
            frames, copied = self._checkpoint(conn)
            if frames - before <= CATCH_UP_FRAMES:
                break
        else:
            return  # the writer outruns the copying: try again next round
        # SQLite syncs the WAL before a pass and the database after one that copied the
        # whole WAL: the held one, which then waits for everything written since the pass
        # before it (13-85 ms of hold under saturated refresh grants with one pass here). Each
        # pass here syncs the database and copies what came meanwhile, with the writer going
        # on, and takes less time than the one before, until few frames came during one.
        for _ in range(SETTLE_PASSES):
            with contextlib.suppress(OSError):  # a sync that failed: the held pass syncs it all
                sync_database_file(self.path)
            before = frames
            frames, _ = self._checkpoint(conn)
            if frames - before <= SETTLED_FRAMES:
                break
        self._writer_may_go.clear()
        try:
            with self._transaction:
                self._checkpoint(conn)
        finally:
            self._writer_may_go.set()

    async def call(self, job: Callable[[sqlite3.Connection], T], *, writes: bool) -> T:
        """Run `job(connection)` on the thread, in a transaction committed before we return."""
        if self._closed:
            raise StoreUnavailable("token store")
        if self._thread is None:
            self._ensure_thread()
        loop = self._loop
        if loop is None or self._loop_thread != threading.get_ident() or not loop.is_running():
            # One loop runs in a thread at a time: a running loop of this thread is the
            # current one. asyncio.get_running_loop() is a getpid() system call each time.
            loop = self._loop = asyncio.get_running_loop()
            self._loop_thread = threading.get_ident()
        future: asyncio.Future[T] = loop.create_future()
        outbox = self._outboxes.get(loop)
        if outbox is None:
            outbox = self._outboxes[loop] = []
            loop.call_soon(self._hand_over, loop)
        outbox.append(Pending(job, writes, loop, future))
        return await future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        """The jobs of the loop's last turn, to the thread in one put."""
        jobs = self._outboxes.pop(loop)
        if self._closed:  # closed meanwhile: the thread has ended or will end before these
            settle([(p.future, None, StoreUnavailable("token store")) for p in jobs])
            return
        self._jobs.put(jobs)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_checkpoints.set()
        self._writer_may_go.set()
        self._jobs.put(None)  # wakes the thread, which finishes the jobs before it and ends
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _connect(self) -> sqlite3.Connection:
        create_private_database(self.path)
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # Checkpoints run in _checkpoint_forever; the other connections to the file (the
        # registry's engine) keep SQLite's default and still checkpoint if the WAL grows.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        return conn

    def _run(self) -> None:
        _behind_the_event_loop()
        conn: sqlite3.Connection | None = None
        running = True
        while running:
            first = self._jobs.get()
            if first is None:
                break
            batch = first
            while len(batch) < MAX_BATCH:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    running = False
                    break
                batch += more
            readers = self._readers
            if readers is not None and readers.is_busy:
                for pending in batch:
                    if not pending.writes:
                        readers.take(pending)
                batch = [pending for pending in batch if pending.writes]
                if not batch:
                    continue
            try:
                if conn is None:
                    conn = self._connect()
                if not self._writer_may_go.is_set():
                    self._writer_may_go.wait()
                with self._transaction:
                    results = run_batch(conn, batch, readers)
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
                    loop.call_soon_threadsafe(settle, settled)
                except RuntimeError:  # that loop is closed: nobody is waiting any more
                    pass
        if conn is not None:
            conn.close()
        self._refuse_left_over()
        if self._readers is not None:
            self._readers.close()

    def _refuse_left_over(self) -> None:
        """Jobs handed over just as the worker closed find no thread: they fail, not hang."""
        while True:
            try:
                jobs = self._jobs.get_nowait()
            except queue.Empty:
                return
            for pending in jobs or ():
                refused: Settled = [(pending.future, None, StoreUnavailable("token store"))]
                with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                    pending.loop.call_soon_threadsafe(settle, refused)
