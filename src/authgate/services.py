"""Everything a running authgate holds: settings, registry, stores, users, events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import MutableMapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from authgate.config import Settings
from authgate.db import create_engine, migrate
from authgate.events import Events
from authgate.models import Client, User
from authgate.registry import Registry
from authgate.stores import SqliteWorker, TokenStore, open_store, sqlite_worker
from authgate.users import open_users
from authgate.users.base import UserRepository
from authgate.users.lockout import Lockout

CLIENT_CACHE_SIZE = 10_000  # records; past that the cache starts over


class Services:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        tokens: TokenStore,
        codes: TokenStore,
        users: UserRepository,
        engines: dict[str, AsyncEngine],
    ) -> None:
        self.settings = settings
        self.issuer = settings.effective_issuer()
        self.registry = registry
        self.tokens = tokens
        self.codes = codes
        self.users = users
        self.lockout = Lockout(registry, settings.lockout)
        self.events = Events()
        self._engines = engines
        self._client_cache: dict[str, tuple[float, Client | None]] = {}
        self._workers: dict[str, SqliteWorker] = {}

    @classmethod
    async def open(cls, settings: Settings, *, migrate_embedded: bool = True) -> Services:
        """Connect every store; the embedded SQLite default gets its schema on first use."""
        storage = settings.storage
        engines: dict[str, AsyncEngine] = {storage.url: create_engine(storage.url)}
        if migrate_embedded:
            for url in {storage.url, storage.tokens_url, storage.codes_url}:
                if url.startswith("sqlite"):
                    engine = engines.setdefault(url, create_engine(url))
                    await migrate(engine)
        workers: dict[str, SqliteWorker] = {}
        tokens = open_store(storage.tokens_url, engines=engines, workers=workers,
                            purge_batch=storage.purge_batch)
        codes = (
            tokens
            if storage.codes_url == storage.tokens_url
            else open_store(storage.codes_url, engines=engines, workers=workers,
                            purge_batch=storage.purge_batch)
        )
        registry = Registry(engines[storage.url], sqlite=sqlite_worker(storage.url, workers))
        users = open_users(settings, registry)
        services = cls(settings, registry, tokens, codes, users, engines)
        services._workers = workers
        return services

    async def migrate(self) -> None:
        for engine in self._engines.values():
            await migrate(engine)

    async def close(self) -> None:
        await self.users.close()
        for store in {id(self.tokens): self.tokens, id(self.codes): self.codes}.values():
            await store.close()
        for worker in self._workers.values():
            await asyncio.to_thread(worker.close)
        for engine in self._engines.values():
            await engine.dispose()
        self.registry.close()

    async def client(self, client_id: str) -> Client | None:
        """A client record, from this process's cache when that is safe.

        With an embedded registry, a record is kept until any process changes a client (see
        change_counter): a deleted client stops working at once everywhere. A server database
        may be changed from another host, so its records are kept `storage.cache_ttl` seconds
        (default 0: never).
        """
        counter = self.registry.client_changes
        if counter is not None:
            state = counter.stable()
            cached = self._client_cache.get(client_id)
            if cached is not None and state is not None and cached[0] == state:
                return cached[1]
            client = await self.registry.get_client(client_id)
            if state is not None:
                self._remember_client(client_id, state, client)
            return client
        ttl = self.settings.storage.cache_ttl
        if ttl <= 0:
            return await self.registry.get_client(client_id)
        cached = self._client_cache.get(client_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        client = await self.registry.get_client(client_id)
        self._remember_client(client_id, time.monotonic() + ttl, client)
        return client

    def _remember_client(self, client_id: str, valid: float, client: Client | None) -> None:
        """`valid`: the change counter's state it was read in, or the time it expires."""
        if len(self._client_cache) >= CLIENT_CACHE_SIZE:
            self._client_cache.clear()
        self._client_cache[client_id] = (valid, client)

    async def authenticate_user(
        self,
        username: str,
        password: str,
        *,
        client_id: str,
        attributes: MutableMapping[str, Any],
        scopes: tuple[str, ...] = (),
    ) -> User | None:
        """The one door for resource owners: the login page and the password grant.

        Lockout first (a locked name answers None, like a wrong password, without a password
        check); the subject goes under `[flows.password] subject_attribute`.
        """
        user = await self.lockout.check(
            username,
            lambda: self.users.authenticate(
                username, password, client_id=client_id, attributes=attributes, scopes=scopes
            ),
        )
        if user is None:
            self.events.emit("user.refused", client_id=client_id, username=username)
            return None
        attributes[self.settings.flows.password.subject_attribute] = user.subject
        return user

    async def ping(self) -> None:
        await self.registry.ping()
        await self.tokens.ping()
        if self.codes is not self.tokens:
            await self.codes.ping()
