"""How a process knows, without asking the database, that no client changed since it looked.

An embedded SQLite registry lives on one host, and every process that can change its clients
(the server's workers, the management API, the `authgate client` commands) opens the same file.
Next to it, `<database>-changes` holds two counters in shared memory: `begun` and `done`. A
change adds one to `begun` before its transaction and one to `done` after it, each under an
exclusive `flock`. A reader sees "nothing is changing" when the two are equal, and the value
then names the registry's state: a client record read while the value was N stays right for as
long as the value is still N. Reading is two loads from memory, no system call.

A change that dies between its two steps leaves `begun` ahead for good: nothing is cached any
more (every lookup reads the database, as without a cache) until the file is removed while
no authgate process runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import struct
from collections.abc import Iterator

_COUNTER = struct.Struct("<Q")
_BEGUN, _DONE = 0, 8  # byte offsets in the file
_SIZE = 16


class ChangeCounter:
    """The `begun`/`done` pair of one registry, shared by the processes of one host."""

    def __init__(self, path: str | None) -> None:
        """`path` of the counter file, or None for a registry only this process sees."""
        self.path = path
        if path is None:
            self._fd = -1
            self._memory = mmap.mmap(-1, _SIZE)
            return
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(self._fd).st_size < _SIZE:
                with self._locked():
                    if os.fstat(self._fd).st_size < _SIZE:
                        os.ftruncate(self._fd, _SIZE)  # zeros: no change begun, none done
            self._memory = mmap.mmap(self._fd, _SIZE)
        except OSError:
            os.close(self._fd)
            raise

    @classmethod
    def beside(cls, database_path: str) -> ChangeCounter:
        """The counter of a SQLite file (`:memory:` databases are private to a process)."""
        if database_path == ":memory:" or database_path.startswith("file::memory:"):
            return cls(None)
        return cls(os.path.realpath(database_path) + "-changes")

    def stable(self) -> int | None:
        """The registry's state number, or None while a change is under way."""
        # `done` first: `begun` only grows and is never below `done`, so if `begun` read
        # afterwards equals it, no change was under way when `done` was read.
        done: int = _COUNTER.unpack_from(self._memory, _DONE)[0]
        begun: int = _COUNTER.unpack_from(self._memory, _BEGUN)[0]
        return done if begun == done else None

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """Wrap a transaction that changes clients: counted as begun, then as done."""
        self._add(_BEGUN)
        try:
            yield
        finally:
            self._add(_DONE)

    def _add(self, offset: int) -> None:
        with self._locked():
            value = _COUNTER.unpack_from(self._memory, offset)[0]
            _COUNTER.pack_into(self._memory, offset, value + 1)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self._fd < 0:
            yield  # one process: the event loop runs one change step at a time
            return
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # held for an increment, never across a query
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._memory.close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
