"""Everything a running authgate holds, wired together: settings, registry, stores, users."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from authgate.clients import Clients
from authgate.config import Settings
from authgate.db import create_engine, migrate
from authgate.db.schema import admin_lockouts
from authgate.db.sqlite_worker import SqliteWorker
from authgate.events import Events
from authgate.oidc import OpenIDProvider
from authgate.registry import Registry
from authgate.stores import TokenStore, open_store, sqlite_worker
from authgate.users import open_users
from authgate.users.authentication import UserAuthentication
from authgate.users.base import UserRepository
from authgate.users.lockout import Lockout


class Services:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        tokens: TokenStore,
        codes: TokenStore,
        users: UserRepository,
        engines: dict[str, AsyncEngine],
        workers: dict[str, SqliteWorker],
    ) -> None:
        self.settings = settings
        self.issuer = settings.effective_issuer()
        self.registry = registry
        self.tokens = tokens
        self.codes = codes
        self.users = users
        self.events = Events()
        self.clients = Clients(
            registry, settings.storage.cache_ttl, client_ca=settings.server.tls_client_ca
        )
        self.lockout = Lockout(registry, settings.lockout)
        self.admin_lockout = Lockout(registry, settings.lockout, admin_lockouts)
        self.oidc = OpenIDProvider(settings, registry)
        self.authentication = UserAuthentication(
            users, self.lockout, self.events, settings.flows.password.subject_attribute
        )
        self._engines = engines
        self._workers = workers

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
        tokens = open_store(
            storage.tokens_url, engines=engines, workers=workers, purge_batch=storage.purge_batch
        )
        codes = (
            tokens
            if storage.codes_url == storage.tokens_url
            else open_store(
                storage.codes_url, engines=engines, workers=workers, purge_batch=storage.purge_batch
            )
        )
        registry = Registry(engines[storage.url], sqlite=sqlite_worker(storage.url, workers))
        users = open_users(settings, registry)
        return cls(settings, registry, tokens, codes, users, engines, workers)

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

    @property
    def token_stores(self) -> list[TokenStore]:
        """The token store and, when it is another one, the code store."""
        return [self.tokens] if self.codes is self.tokens else [self.tokens, self.codes]

    async def ping(self) -> None:
        await self.registry.ping()
        for store in self.token_stores:
            await store.ping()
