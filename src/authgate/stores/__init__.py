"""Token and code stores, chosen by URL: memory://, SQL URLs, redis://, redis+cluster://."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from authgate.db import create_engine, is_sql_url
from authgate.db.sqlite_worker import SqliteWorker, sqlite_path
from authgate.stores.base import Entry, TokenStore
from authgate.stores.memory import MemoryStore
from authgate.stores.sql import SqlStore
from authgate.stores.sqlite import SqliteStore

__all__ = [
    "Entry",
    "MemoryStore",
    "SqlStore",
    "SqliteStore",
    "SqliteWorker",
    "TokenStore",
    "open_store",
    "sqlite_worker",
]


def sqlite_worker(url: str, workers: dict[str, SqliteWorker]) -> SqliteWorker | None:
    """The worker thread of a plain `sqlite:///` URL's file (one per file), else None."""
    if not url.startswith("sqlite:") or "+" in url.split(":", 1)[0]:
        return None
    path = sqlite_path(url)
    if path not in workers:
        workers[path] = SqliteWorker(path)
    return workers[path]


def open_store(
    url: str,
    *,
    engines: dict[str, AsyncEngine] | None = None,
    workers: dict[str, SqliteWorker] | None = None,
    purge_batch: int = 1000,
) -> TokenStore:
    """The store a URL names. SQL stores share an engine, and SQLite files their worker
    thread, with any other user of the same URL in this process. PostgreSQL stores talk to
    asyncpg directly; their URL still gets an engine in `engines`, for migrations."""
    if url.startswith("memory:"):
        return MemoryStore()
    worker = sqlite_worker(url, {} if workers is None else workers)
    if worker is not None:
        return SqliteStore(worker, purge_batch=purge_batch)
    if url.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "postgres"):
        if engines is not None and url not in engines:
            engines[url] = create_engine(url)  # connects only if asked to migrate
        # Imported here, as redis below: a server without PostgreSQL need not load asyncpg.
        from authgate.stores.postgres import PostgresStore

        return PostgresStore(url, purge_batch=purge_batch)
    if is_sql_url(url):
        engines = {} if engines is None else engines
        if url not in engines:
            engines[url] = create_engine(url)
        return SqlStore(engines[url], purge_batch=purge_batch)
    if url.startswith(("redis://", "rediss://", "redis+cluster://")):
        # Imported here: redis-py costs a server that does not use it several MB.
        from authgate.stores.redis import RedisStore

        return RedisStore.from_url(url)
    raise ValueError(f"unsupported store URL {url!r}")
