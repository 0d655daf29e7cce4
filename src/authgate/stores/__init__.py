"""Token and code stores, chosen by URL: memory://, SQL URLs, redis://, redis+cluster://."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from authgate.db import create_engine, is_sql_url
from authgate.stores.base import Entry, TokenStore
from authgate.stores.memory import MemoryStore
from authgate.stores.redis import RedisStore
from authgate.stores.sql import SqlStore

__all__ = ["Entry", "MemoryStore", "RedisStore", "SqlStore", "TokenStore", "open_store"]


def open_store(
    url: str,
    *,
    engines: dict[str, AsyncEngine] | None = None,
    purge_batch: int = 1000,
) -> TokenStore:
    """The store a URL names. SQL stores share an engine with any other user of the same URL."""
    if url.startswith("memory:"):
        return MemoryStore()
    if is_sql_url(url):
        engines = {} if engines is None else engines
        if url not in engines:
            engines[url] = create_engine(url)
        return SqlStore(engines[url], purge_batch=purge_batch)
    if url.startswith(("redis://", "rediss://", "redis+cluster://")):
        return RedisStore.from_url(url)
    raise ValueError(f"unsupported store URL {url!r}")
