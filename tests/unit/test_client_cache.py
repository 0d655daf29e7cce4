"""Client records cached per process, and forgotten the moment any process changes a client.

Two `Services` on one SQLite file stand for two processes: each maps the change counter file
on its own, as a separate process does. (tests/e2e/test_several_servers.py does the same with
real processes: two workers and the CLI.)
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from authgate.clients import hash_secret
from authgate.config import Settings
from authgate.db.change_counter import ChangeCounter
from authgate.pages import playground
from authgate.services import Services

pytestmark = pytest.mark.anyio


async def open_services(path: Path, **storage: object) -> Services:
    return await Services.open(
        Settings.model_validate({"storage": {"url": f"sqlite:///{path}", **storage}})
    )


async def test_a_client_is_read_once_then_served_from_the_cache(tmp_path: Path) -> None:
    services = await open_services(tmp_path / "a.db")
    try:
        client, _ = await services.registry.create_client("svc")
        first = await services.clients.get(client.client_id)
        assert first == client
        assert await services.clients.get(client.client_id) is first  # no second read
    finally:
        await services.close()


async def test_a_change_in_another_process_is_seen_at_the_next_lookup(tmp_path: Path) -> None:
    here = await open_services(tmp_path / "a.db")
    there = await open_services(tmp_path / "a.db")
    try:
        client, _ = await there.registry.create_client("svc")
        assert await here.clients.get(client.client_id) == client
        assert await here.clients.get("not-yet") is None  # a miss is cached too
        await there.registry.delete_client(client.client_id)
        assert await here.clients.get(client.client_id) is None
        late, _ = await there.registry.create_client("late", client_id="not-yet")
        assert await here.clients.get("not-yet") == late
    finally:
        await here.close()
        await there.close()


async def test_nothing_is_cached_while_a_change_is_under_way(tmp_path: Path) -> None:
    services = await open_services(tmp_path / "a.db")
    other = ChangeCounter.beside(str(tmp_path / "a.db"))
    try:
        client, _ = await services.registry.create_client("svc")
        with other.changing():
            first = await services.clients.get(client.client_id)
            assert await services.clients.get(client.client_id) is not first  # read again
        cached = await services.clients.get(client.client_id)
        assert await services.clients.get(client.client_id) is cached
    finally:
        other.close()
        await services.close()


def _change_once(path: str) -> None:
    counter = ChangeCounter(path)
    with counter.changing():
        pass
    counter.close()


def _die_changing(path: str) -> None:
    with ChangeCounter(path).changing():
        os._exit(3)  # begun, and the process gone before `done`


def test_the_counter_is_shared_between_processes_and_counts_every_change(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "registry.db-changes")
    counter = ChangeCounter(path)
    assert counter.stable() == 0
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_change_once, args=(path,)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert counter.stable() == 4
    counter.close()


def test_a_change_that_died_half_way_turns_caching_off_not_wrong(tmp_path: Path) -> None:
    path = str(tmp_path / "registry.db-changes")
    counter = ChangeCounter(path)
    dying = multiprocessing.get_context("spawn").Process(target=_die_changing, args=(path,))
    dying.start()
    dying.join(timeout=60)
    assert dying.exitcode == 3
    assert ChangeCounter(path).stable() is None
    with counter.changing():
        pass
    assert counter.stable() is None  # still: a change may be under way
    counter.close()


def test_a_private_database_has_a_private_counter() -> None:
    counter = ChangeCounter.beside(":memory:")
    assert counter.path is None
    with counter.changing():
        assert counter.stable() is None
    assert counter.stable() == 1
    counter.close()


async def test_a_demo_reseed_in_another_process_reaches_every_client_cache(tmp_path: Path) -> None:
    """`serve --demo` on a registry that has the playground client gives it a new secret. A
    process that looks the client up while that happens must not keep the old secret's hash:
    the change goes through the change counter like any other client change."""
    here = await open_services(tmp_path / "a.db")
    there = await open_services(tmp_path / "a.db")
    try:
        await playground.seed(here)  # the client exists, and `here` has it cached
        old = await here.clients.get(playground.CLIENT_ID)
        transaction = there.registry.transaction

        @contextlib.asynccontextmanager
        async def transaction_with_a_lookup_first() -> Any:
            await here.clients.get(playground.CLIENT_ID)  # another process asks meanwhile
            async with transaction() as conn:
                yield conn

        there.registry.transaction = transaction_with_a_lookup_first  # type: ignore[method-assign]
        demo = await playground.seed(there)
        there.registry.transaction = transaction  # type: ignore[method-assign]
        seen = await here.clients.get(playground.CLIENT_ID)
        assert seen is not None and old is not None
        assert seen.secret_hash != old.secret_hash
        assert seen.secret_hash == hash_secret(demo.client_secret)
    finally:
        await here.close()
        await there.close()
