"""Brute-force protection of the login form and the password grant (`[lockout]`, SPEC.md).

Failures are counted per username, known or not, in the registry's `lockouts` table, so every
process sharing the registry sees the same count. Before a password is checked, the attempt
takes a *pending* slot by one conditional UPDATE: failures plus attempts in flight never pass
`max_failures`, across processes too, so no more than `max_failures` wrong passwords are ever
checked before the lock. A slot turns into a failure only if the password was wrong; a success
resets the failures and leaves the row (and the slots of others) in place.

An attempt that finds every slot taken waits for one instead of being refused: the attempts in
flight may all be right, and a correct password must not be refused when it would have been
accepted one at a time. It is refused only once the name is locked.

A slot lapses `PENDING_TTL` after the last one was taken, so a process that died mid-check
cannot hold a name; an attempt that waited longer than that is answered 503.
Times in the table are milliseconds since the epoch, so a one-second lock lasts one second.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from sqlalchemy import Table, and_, case, delete, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from authgate.config import LockoutSettings
from authgate.db.schema import lockouts
from authgate.errors import StoreUnavailable
from authgate.registry import Registry
from authgate.usernames import canonical_username

T = TypeVar("T")
PENDING_TTL = 30_000  # ms: longer than any password check (the directory's timeout is 5 s)
POLL = 0.02  # seconds between tries of an attempt that waits for a slot

Slot = Literal["granted", "locked", "full"]


def _now() -> int:
    return int(time.time() * 1000)


def _key(username: str) -> str:
    """The canonical name (authgate.usernames), so that `ALICE`, ` alice` or a fullwidth
    `alice` cannot buy another `max_failures` tries for `alice`. InvalidUsername for a name
    without one."""
    return canonical_username(username)


def _one_less(column: Any) -> Any:
    """A pending count minus the attempt that ends; never below zero (a lapsed slot)."""
    return case((column > 0, column - 1), else_=0)


class Lockout:
    """The lockout of one kind of account, counted in `table` (users: `lockouts`; the
    manager's administrators: `admin_lockouts`, so each kind has a key space of its own)."""

    def __init__(
        self, registry: Registry, settings: LockoutSettings, table: Table = lockouts
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.table = table

    async def check(self, username: str, verify: Callable[[], Awaitable[T | None]]) -> T | None:
        """Run `verify` unless the name is locked; None (a failure) while it is."""
        if not await self._wait_for_slot(username):
            return None
        try:
            result = await verify()
        except Exception:
            await self.release(username)  # an outage is not a wrong password
            raise
        if result is None:
            await self.failed(username)
        else:
            await self.succeeded(username)
        return result

    async def _wait_for_slot(self, username: str) -> bool:
        """True once a slot is ours; False if the name is locked."""
        deadline = time.monotonic() + PENDING_TTL / 1000 + 1
        while True:
            slot = await self.reserve(username)
            if slot != "full":
                return slot == "granted"
            if time.monotonic() > deadline:
                raise StoreUnavailable("lockout")
            await asyncio.sleep(POLL * (1 + random.random()))  # noqa: S311 - jitter only

    async def reserve(self, username: str) -> Slot:
        """Take a pending slot for one attempt: "locked", or "full" while failures and
        attempts in flight reach `max_failures`."""
        name = _key(username)
        at = _now()
        row = self.table.c
        forgotten = row.last_failure <= at - self.settings.reset * 1000
        failures = case((forgotten, 0), else_=row.failures)
        pending = case((row.pending_until > at, row.pending), else_=0)
        # MySQL evaluates SET left to right: every expression reads the old row only if
        # the columns it reads are set after it (last_failure is not set at all).
        reserve = (
            update(self.table)
            .where(
                and_(
                    row.username == name,
                    row.locked_until <= at,
                    failures + pending < self.settings.max_failures,
                )
            )
            .ordered_values(
                (row.failures, failures),
                (row.lock_count, case((forgotten, 0), else_=row.lock_count)),
                (row.pending, pending + 1),
                (row.pending_until, at + PENDING_TTL),
            )
        )
        while True:
            async with self.registry.transaction() as conn:
                if (await conn.execute(reserve)).rowcount == 1:
                    return "granted"
                found = await conn.execute(select(row.locked_until).where(row.username == name))
                current = found.first()
            if current is not None:
                return "locked" if current.locked_until > at else "full"
            try:
                async with self.registry.transaction() as conn:
                    await conn.execute(
                        insert(self.table).values(
                            username=name,
                            failures=0,
                            lock_count=0,
                            locked_until=0,
                            last_failure=0,
                            pending=0,
                            pending_until=0,
                        )
                    )
            except IntegrityError:
                pass  # another attempt created it first

    async def failed(self, username: str) -> None:
        """The attempt was a failure: count it; at `max_failures` in a row, lock the name."""
        name = _key(username)
        at = _now()
        row = self.table.c
        is_locked = row.locked_until > at
        forgotten = row.last_failure <= at - self.settings.reset * 1000
        count = (
            update(self.table)
            .where(row.username == name)
            .ordered_values(
                # A lock set meanwhile by another attempt already holds this one's failure.
                (
                    row.failures,
                    case((is_locked, row.failures), (forgotten, 1), else_=row.failures + 1),
                ),
                (row.pending, _one_less(row.pending)),
                (row.last_failure, case((is_locked, row.last_failure), else_=at)),
            )
        )
        lock = (
            update(self.table)
            .where(
                and_(
                    row.username == name,
                    row.failures >= self.settings.max_failures,
                    row.locked_until <= at,
                )
            )
            .ordered_values(
                (row.locked_until, self._lock_end(at)),
                (row.failures, 0),
                (row.lock_count, row.lock_count + 1),
                (row.last_failure, at),
            )
        )
        async with self.registry.transaction() as conn:
            await conn.execute(count)
            await conn.execute(lock)

    async def succeeded(self, username: str) -> None:
        """A success resets the count and the doubling (a lock set meanwhile holds)."""
        row = self.table.c
        is_locked = row.locked_until > _now()
        await self._execute(
            update(self.table)
            .where(row.username == _key(username))
            .ordered_values(
                (row.failures, case((is_locked, row.failures), else_=0)),
                (row.lock_count, case((is_locked, row.lock_count), else_=0)),
                (row.pending, _one_less(row.pending)),
            )
        )

    async def release(self, username: str) -> None:
        """Give back the slot of an attempt whose password check could not be made."""
        row = self.table.c
        await self._execute(
            update(self.table)
            .where(row.username == _key(username))
            .values(pending=_one_less(row.pending))
        )

    async def is_locked(self, username: str) -> bool:
        """Whether a lock holds the name now (the administration shows it)."""
        async with self.registry.transaction() as conn:
            until = (
                await conn.execute(
                    select(lockouts.c.locked_until).where(lockouts.c.username == _key(username))
                )
            ).scalar()
        return until is not None and until > _now()

    async def unlock(self, username: str) -> bool:
        """`authgate user unlock`: forget the name's failures and locks (attempts in flight
        keep their slots). False if there was nothing to forget."""
        row = self.table.c
        result = await self._execute(
            update(self.table)
            .where(
                and_(
                    row.username == _key(username),
                    (row.failures > 0) | (row.lock_count > 0) | (row.locked_until > _now()),
                )
            )
            .values(failures=0, lock_count=0, locked_until=0)
        )
        return bool(result)

    async def purge(self, at: int) -> int:
        """Remove rows whose count is forgotten, whose lock is over and whose slots have lapsed
        at `at` (seconds)."""
        row = self.table.c
        at_ms = at * 1000
        return await self._execute(
            delete(self.table).where(
                and_(
                    row.locked_until <= at_ms,
                    row.last_failure <= at_ms - self.settings.reset * 1000,
                    row.pending_until <= at_ms,
                )
            )
        )

    def _lock_end(self, at: int) -> Any:
        """`wait` doubled at each further lock, capped at `max_wait`, as one SQL expression."""
        settings = self.settings
        steps = []
        count = 0
        while settings.wait * 2**count < settings.max_wait:
            steps.append((self.table.c.lock_count == count, at + settings.wait * 2**count * 1000))
            count += 1
        end = at + settings.max_wait * 1000
        return case(*steps, else_=end) if steps else literal(end)

    async def _execute(self, statement: Any) -> int:
        async with self.registry.transaction() as conn:
            rowcount: int = (await conn.execute(statement)).rowcount
        return rowcount
