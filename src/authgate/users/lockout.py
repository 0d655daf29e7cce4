"""Brute-force protection of the login form and the password grant (`[lockout]`, SPEC.md).

Failures are counted per username, known or not, in the registry's `lockouts` table, so every
process sharing the registry sees the same count. An attempt is reserved (counted as a
failure) by one conditional UPDATE *before* the password is checked: of any number of
concurrent attempts, at most `max_failures` reach the password check, across processes too.
A success then clears the row; a repository outage gives the reservation back.
Times in the table are milliseconds since the epoch, so a one-second lock lasts one second.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import and_, case, delete, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from authgate.config import LockoutSettings
from authgate.db.schema import lockouts
from authgate.registry import Registry

T = TypeVar("T")
MAX_NAME = 255  # the column's width; longer names are keyed by their digest


def _now() -> int:
    return int(time.time() * 1000)


def _key(username: str) -> str:
    """The name as a directory compares it (caseIgnoreMatch: case and extra spaces do not
    count), so `Alice ` cannot buy another `max_failures` tries for `alice`."""
    name = " ".join(username.split()).casefold()
    if len(name) <= MAX_NAME and len(name.encode()) <= MAX_NAME:
        return name
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


class Lockout:
    def __init__(self, registry: Registry, settings: LockoutSettings) -> None:
        self.registry = registry
        self.settings = settings

    async def check(self, username: str, verify: Callable[[], Awaitable[T | None]]) -> T | None:
        """Run `verify` unless the name is locked; None (a failure) while it is."""
        if not await self.reserve(username):
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

    async def reserve(self, username: str) -> bool:
        """Count one attempt before its password is checked; False while locked or full."""
        name = _key(username)
        at = _now()
        row = lockouts.c
        forgotten = row.last_failure <= at - self.settings.reset * 1000
        # MySQL evaluates SET left to right: every expression reads the old row only if
        # last_failure comes last.
        reserve = (
            update(lockouts)
            .where(
                and_(
                    row.username == name,
                    row.locked_until <= at,
                    or_(row.failures < self.settings.max_failures, forgotten),
                )
            )
            .ordered_values(
                (row.failures, case((forgotten, 1), else_=row.failures + 1)),
                (row.lock_count, case((forgotten, 0), else_=row.lock_count)),
                (row.last_failure, at),
            )
        )
        for _ in range(2):
            async with self.registry.transaction() as conn:
                if (await conn.execute(reserve)).rowcount == 1:
                    return True
                found = await conn.execute(select(row.username).where(row.username == name))
                if found.first() is not None:
                    return False  # locked, or max_failures attempts already counted
            try:
                async with self.registry.transaction() as conn:
                    await conn.execute(
                        insert(lockouts).values(
                            username=name,
                            failures=0,
                            lock_count=0,
                            locked_until=0,
                            last_failure=0,
                        )
                    )
            except IntegrityError:
                pass  # another attempt created it first
        return False

    async def failed(self, username: str) -> None:
        """The reserved attempt was a failure: at `max_failures` in a row, lock the name."""
        at = _now()
        row = lockouts.c
        await self._execute(
            update(lockouts)
            .where(
                and_(
                    row.username == _key(username),
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

    async def succeeded(self, username: str) -> None:
        """A success resets the count (a lock set meanwhile by another attempt holds)."""
        row = lockouts.c
        await self._execute(
            delete(lockouts).where(and_(row.username == _key(username), row.locked_until <= _now()))
        )

    async def release(self, username: str) -> None:
        """Give back a reservation whose password check could not be made."""
        row = lockouts.c
        await self._execute(
            update(lockouts)
            .where(
                and_(row.username == _key(username), row.failures > 0, row.locked_until <= _now())
            )
            .values(failures=row.failures - 1)
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
        """`authgate user unlock`: forget the name's failures and locks."""
        result = await self._execute(delete(lockouts).where(lockouts.c.username == _key(username)))
        return bool(result)

    async def purge(self, at: int) -> int:
        """Remove rows whose count is forgotten and whose lock is over at `at` (seconds)."""
        row = lockouts.c
        at_ms = at * 1000
        return await self._execute(
            delete(lockouts).where(
                and_(
                    row.locked_until <= at_ms,
                    row.last_failure <= at_ms - self.settings.reset * 1000,
                )
            )
        )

    def _lock_end(self, at: int) -> Any:
        """`wait` doubled at each further lock, capped at `max_wait`, as one SQL expression."""
        settings = self.settings
        steps = []
        count = 0
        while settings.wait * 2**count < settings.max_wait:
            steps.append((lockouts.c.lock_count == count, at + settings.wait * 2**count * 1000))
            count += 1
        end = at + settings.max_wait * 1000
        return case(*steps, else_=end) if steps else literal(end)

    async def _execute(self, statement: Any) -> int:
        async with self.registry.transaction() as conn:
            rowcount: int = (await conn.execute(statement)).rowcount
        return rowcount
