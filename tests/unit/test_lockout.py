"""Lockout on a SQLite registry, with a fixed clock: counting, locks, doubling, reservations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from authgate.config import LockoutSettings
from authgate.db import create_engine, migrate
from authgate.errors import StoreUnavailable
from authgate.registry import Registry
from authgate.users import lockout as lockout_module
from authgate.users.lockout import Lockout

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.ms = 1_700_000_000_000

    def __call__(self) -> int:
        return self.ms

    def advance(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(lockout_module, "_now", clock)
    return clock


async def wrong(lockout: Lockout, name: str = "alice") -> bool:
    """One failed attempt; False when it was refused without a check."""
    checked = []

    async def verify() -> None:
        checked.append(True)

    await lockout.check(name, verify)
    return bool(checked)


async def right(lockout: Lockout, name: str = "alice") -> bool:
    async def verify() -> str:
        return name

    return await lockout.check(name, verify) == name


SETTINGS = LockoutSettings(max_failures=3, wait=10, max_wait=50, reset=3600)


@pytest.fixture
async def lockout(tmp_path: Path) -> AsyncIterator[Lockout]:
    """A Lockout with SETTINGS on a fresh SQLite registry."""
    engine = create_engine(f"sqlite:///{tmp_path}/registry.db")
    await migrate(engine)
    try:
        yield Lockout(Registry(engine), SETTINGS)
    finally:
        await engine.dispose()


async def test_locks_after_max_failures_and_doubles_up_to_max_wait(lockout, clock):
    for expected_wait in (10, 20, 40, 50, 50):
        assert [await wrong(lockout) for _ in range(3)] == [True, True, True]
        assert not await right(lockout)  # locked: refused without a check
        clock.advance(expected_wait - 0.001)
        assert not await wrong(lockout)  # ... and attempts do not extend the lock
        clock.advance(0.001)
    assert await right(lockout)


async def test_success_resets_the_count_and_the_doubling(lockout, clock):
    for _ in range(3):
        assert await wrong(lockout) and await wrong(lockout)
        assert await right(lockout)
    for _ in range(3):
        assert await wrong(lockout)
    clock.advance(10)
    assert await right(lockout)
    for _ in range(3):
        assert await wrong(lockout)
    clock.advance(10)  # the first wait again, not the doubled one
    assert await right(lockout)


async def test_count_is_forgotten_after_reset(lockout, clock):
    assert await wrong(lockout) and await wrong(lockout)
    clock.advance(3600)
    assert await wrong(lockout) and await wrong(lockout)
    assert await right(lockout)


async def test_names_differing_in_case_or_spaces_share_a_count(lockout, clock):
    for name in ("alice", "ALICE", " Alice "):
        assert await wrong(lockout, name)
    assert not await right(lockout, "alice")
    assert await right(lockout, "bob")


async def test_an_outage_gives_the_reservation_back(lockout, clock):
    async def down() -> None:
        raise ConnectionError("directory down")

    assert await wrong(lockout) and await wrong(lockout)
    for _ in range(5):
        with pytest.raises(ConnectionError):
            await lockout.check("alice", down)
    assert await right(lockout)


async def test_unlock_lifts_a_lock(lockout, clock):
    for _ in range(3):
        await wrong(lockout)
    assert await lockout.unlock("Alice")
    assert await right(lockout)
    assert not await lockout.unlock("alice")


async def test_concurrent_reservations_across_processes_stop_at_max_failures(tmp_path, clock):
    """Two registries on one database stand for two server processes."""
    engines = [create_engine(f"sqlite:///{tmp_path}/registry.db") for _ in range(2)]
    await migrate(engines[0])
    lockouts = [Lockout(Registry(engine), SETTINGS) for engine in engines]
    try:
        slots = await asyncio.gather(*(lockouts[i % 2].reserve("alice") for i in range(40)))
        assert sorted(slots) == ["full"] * 37 + ["granted"] * 3
    finally:
        for engine in engines:
            await engine.dispose()


async def test_purge_removes_forgotten_rows_only(lockout, clock):
    await wrong(lockout, "old")
    for _ in range(3):
        await wrong(lockout, "locked")
    clock.advance(3600)
    await wrong(lockout, "recent")
    # "old" and "locked" (whose lock is over) are forgotten; "recent" still counts.
    assert await lockout.purge(clock() // 1000) == 2
    assert await wrong(lockout, "recent") and await wrong(lockout, "recent")
    assert not await right(lockout, "recent")


async def test_a_slot_held_by_a_process_that_died_lapses(lockout, clock):
    for _ in range(3):
        assert await lockout.reserve("alice") == "granted"  # never resolved: the process died
    assert await lockout.reserve("alice") == "full"
    clock.advance(lockout_module.PENDING_TTL / 1000)
    assert await right(lockout)


async def test_an_attempt_that_waits_past_the_slots_lifetime_is_503(lockout, clock, monkeypatch):
    """Every slot held and none resolved (the clock stands still, so none lapses either)."""
    monkeypatch.setattr(lockout_module, "PENDING_TTL", 100)
    for _ in range(3):
        assert await lockout.reserve("alice") == "granted"
    with pytest.raises(StoreUnavailable):
        await right(lockout)
