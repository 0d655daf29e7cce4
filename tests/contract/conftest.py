"""The `store` fixture: one TokenStore per backend, each on fresh, migrated storage."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from authgate.db import create_engine, migrate
from authgate.db.schema import tokens
from authgate.stores import (
    MemoryStore,
    SqliteStore,
    SqlStore,
    TokenStore,
    open_store,
)
from authgate.stores.postgres import PostgresStore
from authgate.stores.redis import RedisStore
from tests.backends import (
    closed_port,
    fresh_mysql,
    fresh_postgresql,
    redis_cluster,  # noqa: F401 - a fixture the store fixture asks for by name
    redis_url,
)

STORE_URL = pytest.StashKey[str]()
BACKENDS = ["memory", "sqlite", "postgresql", "mariadb", "redis", "redis-cluster"]
PURGE_BATCH = 3  # small, so purge tests cross several batches


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.node.callspec.params["store"]
    return name


@pytest.fixture
def store_url(store: TokenStore, request: pytest.FixtureRequest) -> str:
    """The URL the `store` of this test was opened with."""
    url: str = request.node.stash[STORE_URL]
    return url


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TokenStore]:
    name = request.param
    with _backend_url(request, name, tmp_path) as url:
        request.node.stash[STORE_URL] = url
        opened = open_store(url, purge_batch=PURGE_BATCH)
        try:
            if isinstance(opened, SqlStore):
                await migrate(opened.engine)
            if isinstance(opened, SqliteStore | PostgresStore):
                engine = create_engine(url)
                await migrate(engine)
                await engine.dispose()
            yield opened
        finally:
            await opened.close()


def _backend_url(
    request: pytest.FixtureRequest, name: str, tmp_path: Path
) -> contextlib.AbstractContextManager[str]:
    if name == "memory":
        return contextlib.nullcontext("memory://")
    if name == "sqlite":
        return contextlib.nullcontext(f"sqlite:///{tmp_path / 'tokens.db'}")
    if name == "postgresql":
        return fresh_postgresql()
    if name == "mariadb":
        return fresh_mysql()
    if name == "redis":
        return contextlib.nullcontext(redis_url())
    return contextlib.nullcontext(request.getfixturevalue("redis_cluster"))


def down_url(name: str, tmp_path: Path) -> str:
    """A URL of the backend `name` with nothing behind it."""
    port = closed_port()
    return {
        "sqlite": f"sqlite:///{tmp_path / 'missing-dir' / 'tokens.db'}",
        "postgresql": f"postgresql://postgres@127.0.0.1:{port}/test",
        "mariadb": f"mysql://root@127.0.0.1:{port}/test",
        "redis": f"redis://127.0.0.1:{port}/0?socket_connect_timeout=2",
        "redis-cluster": f"redis+cluster://127.0.0.1:{port}",
    }[name]


async def raw_contents(store: TokenStore) -> str:
    """Everything the backend holds for tokens, as text, to search for leaked secrets."""
    if isinstance(store, MemoryStore):
        return repr(store._records)
    if isinstance(store, SqliteStore):
        rows = await store.worker.call(
            lambda conn: conn.execute("SELECT * FROM tokens").fetchall(), writes=False
        )
        return "\n".join(repr(tuple(row)) for row in rows)
    if isinstance(store, PostgresStore):
        pool = await store._get_pool()
        async with pool.acquire() as conn:
            records = await conn.fetch("SELECT * FROM tokens")
        return "\n".join(repr(tuple(record)) for record in records)
    if isinstance(store, SqlStore):
        async with store.engine.connect() as conn:
            result = (await conn.execute(select(tokens))).all()
        return "\n".join(repr(tuple(row)) for row in result)
    assert isinstance(store, RedisStore)
    client = store.client
    parts = []
    async for key in client.scan_iter(match="ag:*", count=1000):
        kind = await client.type(key)
        value: object
        if kind == "string":
            value = await client.get(key)
        elif kind == "hash":
            value = await client.hgetall(key)
        elif kind == "set":
            value = await client.smembers(key)
        else:
            value = kind
        parts.append(f"{key} {value!r}")
    return "\n".join(parts)
