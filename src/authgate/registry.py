"""The registry database: clients, local users, administrators and remembered consents.

This module owns the statements on those tables; every change to a client goes through the
change counter, so that the client caches of every process see it at once (clients.Clients).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authgate.application_registry import ApplicationRegistry
from authgate.client_rows import CLIENT_COLUMNS, client_from_row, client_values
from authgate.clients import hash_secret, new_client_id, new_client_secret
from authgate.config import GrantType
from authgate.consents import ConsentRegistry
from authgate.db.change_counter import ChangeCounter
from authgate.db.schema import admins, clients, consents, users
from authgate.db.sqlite_worker import SqliteWorker
from authgate.errors import StoreUnavailable
from authgate.models import AuthMethod, Client
from authgate.passwords import hash_password, verify_password
from authgate.route_registry import RouteRegistry
from authgate.server_secrets import ServerSecrets
from authgate.tokens import now
from authgate.usernames import canonical_or_none, canonical_username


class AlreadyExists(Exception):
    """A client id, username or administrator that is already registered."""


class InvalidClient(ValueError):
    """A client registration that breaks a rule; `field` names the option at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


PUBLIC_INTROSPECTION = "a public client cannot introspect: introspection needs a confidential one"


@dataclass(frozen=True, slots=True)
class Account:
    """A local user or an administrator, as listed: never its password hash."""

    username: str
    created_at: int


class Registry:
    """Clients, users, administrators and consents in the `storage.url` database."""

    def __init__(self, engine: AsyncEngine, sqlite: SqliteWorker | None = None) -> None:
        self.engine = engine
        # On SQLite the hot path (client lookup) goes through the file's worker thread, in the
        # same batches as the token writes, instead of a connection and thread of its own.
        self.sqlite = sqlite
        # Every process using an embedded registry counts its client changes beside the file,
        # so that client records may be cached (Services.client). A server database may be
        # changed from other hosts: no counter, no cache.
        self.client_changes = None if sqlite is None else ChangeCounter.beside(sqlite.path)
        self.secrets = ServerSecrets(self)
        self.routes = RouteRegistry(self)
        self.consents = ConsentRegistry(self)
        self.applications = ApplicationRegistry(self)

    def _changing_clients(self) -> contextlib.AbstractContextManager[None]:
        if self.client_changes is None:
            return contextlib.nullcontext()
        return self.client_changes.changing()

    def close(self) -> None:
        if self.client_changes is not None:
            self.client_changes.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except (OperationalError, DBAPIError, OSError, TimeoutError) as exc:
            raise StoreUnavailable("registry", exc) from exc

    # Clients

    async def create_client(
        self,
        name: str,
        *,
        redirect_uris: Sequence[str] = (),
        scopes: Sequence[str] = (),
        grant_types: Sequence[GrantType] = ("authorization_code", "refresh_token"),
        is_public: bool = False,
        can_introspect: bool = False,
        client_id: str | None = None,
        client_secret: str | None = None,
        auth_method: AuthMethod = "secret",
        tls_subject_dn: str | None = None,
        tls_certificate: str | None = None,
        app_id: str | None = None,
        environment: str | None = None,
    ) -> tuple[Client, str | None]:
        """Register a client; returns it and its secret (None for a public client, or one that
        authenticates with a certificate). A portal key names its application and
        environment: a second key of the same environment is AlreadyExists."""
        if is_public and can_introspect:
            raise InvalidClient("introspect", PUBLIC_INTROSPECTION)
        client_id = client_id or new_client_id()
        has_secret = not is_public and auth_method == "secret"
        secret = (client_secret or new_client_secret()) if has_secret else None
        client = Client(
            client_id=client_id,
            name=name,
            secret_hash=hash_secret(secret) if secret else None,
            redirect_uris=tuple(dict.fromkeys(redirect_uris)),
            scopes=tuple(dict.fromkeys(scopes)),
            grant_types=tuple(dict.fromkeys(grant_types)),
            is_public=is_public,
            can_introspect=can_introspect,
            created_at=now(),
            auth_method=auth_method,
            tls_subject_dn=tls_subject_dn,
            tls_certificate=tls_certificate,
            app_id=app_id,
            environment=environment,
        )
        try:
            with self._changing_clients():
                async with self.transaction() as conn:
                    await conn.execute(insert(clients).values(**client_values(client)))
        except IntegrityError:
            if app_id is not None:
                raise AlreadyExists(f"the {environment} keys already exist") from None
            raise AlreadyExists(f"client {client_id} already exists") from None
        return client, secret

    async def get_client(self, client_id: str) -> Client | None:
        if not client_id or len(client_id) > 64:
            return None
        if self.sqlite is not None:
            query = f"SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = ?"  # noqa: S608
            found = await self.sqlite.call(
                lambda conn: conn.execute(query, (client_id,)).fetchone(), writes=False
            )
            return client_from_row(found) if found else None
        async with self.transaction() as conn:
            row = (
                await conn.execute(
                    select(*(clients.c[n] for n in CLIENT_COLUMNS.split(", "))).where(
                        clients.c.client_id == client_id
                    )
                )
            ).first()
        return client_from_row(row) if row else None

    async def list_clients(self) -> list[Client]:
        async with self.transaction() as conn:
            columns = (clients.c[n] for n in CLIENT_COLUMNS.split(", "))
            rows = (await conn.execute(select(*columns).order_by(clients.c.created_at))).all()
        return [client_from_row(row) for row in rows]

    async def update_client(self, client_id: str, **columns: Any) -> bool:
        """Change columns of a client (`secret_hash`, lists as tuples); False if there is none."""
        values = {
            name: json.dumps(list(value)) if isinstance(value, (list, tuple)) else value
            for name, value in columns.items()
        }
        with self._changing_clients():
            async with self.transaction() as conn:
                if columns.get("can_introspect"):
                    await self._refuse_public_introspection(conn, client_id)
                result = await conn.execute(
                    update(clients).where(clients.c.client_id == client_id).values(**values)
                )
        return result.rowcount > 0

    async def _refuse_public_introspection(self, conn: AsyncConnection, client_id: str) -> None:
        found = await conn.execute(
            select(clients.c.is_public).where(clients.c.client_id == client_id)
        )
        row = found.first()
        if row is not None and row.is_public:
            raise InvalidClient("introspect", PUBLIC_INTROSPECTION)

    async def delete_client(self, client_id: str) -> bool:
        with self._changing_clients():
            async with self.transaction() as conn:
                result = await conn.execute(delete(clients).where(clients.c.client_id == client_id))
                await conn.execute(delete(consents).where(consents.c.client_id == client_id))
        return result.rowcount > 0

    async def self_signed_certificates(self) -> list[str]:
        """The PEM certificates of the `self_signed_tls_client_auth` clients."""
        query = select(clients.c.tls_certificate).where(
            clients.c.auth_method == "self_signed_tls_client_auth"
        )
        async with self.transaction() as conn:
            return [row[0] for row in (await conn.execute(query)).all() if row[0]]

    async def all_scopes(self) -> list[str]:
        found: dict[str, None] = {}
        for client in await self.list_clients():
            found.update(dict.fromkeys(client.scopes))
        return sorted(found)

    # Local users and administrators

    async def _create_account(self, table: Table, username: str, password: str) -> str:
        name = canonical_username(username)
        password_hash = await hash_password(password)
        try:
            async with self.transaction() as conn:
                await conn.execute(
                    insert(table).values(
                        username=name, password_hash=password_hash, created_at=now()
                    )
                )
        except IntegrityError:
            raise AlreadyExists(f"{name} already exists") from None
        return name

    async def _account_hash(self, table: Table, username: str) -> str | None:
        name = canonical_or_none(username)
        if name is None:
            return None
        async with self.transaction() as conn:
            row = (
                await conn.execute(select(table.c.password_hash).where(table.c.username == name))
            ).first()
        return row.password_hash if row else None

    async def create_user(self, username: str, password: str) -> str:
        """Add a local user under the canonical form of `username`, which it returns."""
        return await self._create_account(users, username, password)

    async def user_password_hash(self, username: str) -> str | None:
        return await self._account_hash(users, username)

    async def set_user_password(self, username: str, password: str) -> bool:
        name = canonical_or_none(username)
        if name is None:
            return False
        password_hash = await hash_password(password)
        async with self.transaction() as conn:
            result = await conn.execute(
                update(users).where(users.c.username == name).values(password_hash=password_hash)
            )
        return result.rowcount > 0

    async def create_admin(self, username: str, password: str) -> str:
        """Add an administrator under the canonical form of `username`, which it returns."""
        return await self._create_account(admins, username, password)

    async def _accounts(self, table: Table, username: str | None = None) -> list[Account]:
        query = select(table.c.username, table.c.created_at).order_by(table.c.username)
        if username is not None:
            name = canonical_or_none(username)
            if name is None:
                return []
            query = query.where(table.c.username == name)
        async with self.transaction() as conn:
            rows = (await conn.execute(query)).all()
        return [Account(row.username, row.created_at) for row in rows]

    async def list_users(self) -> list[Account]:
        return await self._accounts(users)

    async def find_user(self, username: str) -> Account | None:
        """The local user a name stands for. Every lookup by name of the administration goes
        through here, so a canonical form of usernames is applied in this one place."""
        found = await self._accounts(users, username)
        return found[0] if found else None

    async def delete_user(self, username: str) -> bool:
        """Remove a local user and every consent it gave; False if there is none."""
        username = canonical_or_none(username) or ""
        async with self.transaction() as conn:
            result = await conn.execute(delete(users).where(users.c.username == username))
            await conn.execute(delete(consents).where(consents.c.username == username))
        return result.rowcount > 0

    async def list_admins(self) -> list[Account]:
        return await self._accounts(admins)

    async def delete_admin(self, username: str) -> bool:
        username = canonical_or_none(username) or ""
        async with self.transaction() as conn:
            result = await conn.execute(delete(admins).where(admins.c.username == username))
        return result.rowcount > 0

    async def check_admin(self, username: str, password: str) -> bool:
        return await verify_password(password, await self._account_hash(admins, username))

    async def ping(self) -> None:
        async with self.transaction() as conn:
            await conn.execute(select(1))
