"""The lockout under concurrency, on every registry backend (SQLite, PostgreSQL, MariaDB).

Two Registry objects on one database stand for two server processes. A lockout must never
refuse a correct password that it would accept one at a time, and must never let more than
`max_failures` wrong passwords be checked before the lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from authgate.config import LockoutSettings
from authgate.db import create_engine, migrate
from authgate.db.schema import admin_lockouts
from authgate.registry import Registry
from authgate.users.lockout import Lockout
from tests.backends import fresh_database  # noqa: F401 - a fixture, asked for by name

pytestmark = pytest.mark.anyio

SETTINGS = LockoutSettings(max_failures=10, wait=600, max_wait=900, reset=3600)


@pytest.fixture
async def processes(fresh_database: str) -> AsyncIterator[list[Lockout]]:  # noqa: F811
    """Two lockouts on one fresh registry database, as two server processes see it."""
    engines = [create_engine(fresh_database) for _ in range(2)]
    await migrate(engines[0])
    try:
        yield [Lockout(Registry(engine), SETTINGS) for engine in engines]
    finally:
        for engine in engines:
            await engine.dispose()


async def attempt(lockout: Lockout, checked: list[bool], *, correct: bool, name: str = "alice"):
    """One login attempt whose password check takes a moment, as argon2 does."""

    async def verify() -> str | None:
        checked.append(correct)
        await asyncio.sleep(0.01)
        return name if correct else None

    return await lockout.check(name, verify)


async def test_concurrent_correct_passwords_all_succeed(processes):
    checked: list[bool] = []
    for _ in range(4):
        results = await asyncio.gather(
            *(attempt(processes[i % 2], checked, correct=True) for i in range(16))
        )
        assert results == ["alice"] * 16


async def test_correct_passwords_succeed_among_concurrent_wrong_ones(processes):
    """Fewer wrong passwords than max_failures: no lock, so every right one gets in."""
    checked: list[bool] = []
    for _ in range(3):
        outcomes = [i % 4 != 0 for i in range(24)]  # 6 wrong, 18 right
        results = await asyncio.gather(
            *(attempt(processes[i % 2], checked, correct=ok) for i, ok in enumerate(outcomes))
        )
        assert [result is not None for result in results] == outcomes


async def test_concurrent_wrong_passwords_lock_after_exactly_max_failures(processes):
    checked: list[bool] = []
    results = await asyncio.gather(
        *(attempt(processes[i % 2], checked, correct=False) for i in range(40))
    )
    assert results == [None] * 40
    assert len(checked) == SETTINGS.max_failures  # no password checked past the limit
    assert await attempt(processes[0], checked, correct=True) is None  # locked
    assert len(checked) == SETTINGS.max_failures


async def test_a_lock_does_not_wait_for_attempts_in_flight(processes):
    """The first wrong ones reach the limit; the rest, wrong or right, are refused unchecked."""
    checked: list[bool] = []
    for _ in range(SETTINGS.max_failures):
        await attempt(processes[0], checked, correct=False)
    results = await asyncio.gather(
        *(attempt(processes[i % 2], checked, correct=True) for i in range(8))
    )
    assert results == [None] * 8
    assert len(checked) == SETTINGS.max_failures


async def test_administrators_are_counted_apart_from_users(processes):
    admins = Lockout(processes[0].registry, SETTINGS, admin_lockouts)
    checked: list[bool] = []
    await asyncio.gather(*(attempt(admins, checked, correct=False) for _ in range(12)))
    assert await attempt(admins, checked, correct=True) is None  # the administrator is locked
    assert await attempt(processes[1], checked, correct=True) == "alice"  # the user is not
