"""Browser sessions on every registry database: one table, kept apart by realm, and the
migration that folded the manager's sessions into it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from authgate.db import MIGRATIONS, create_engine, migrate
from authgate.pages.sessions import ADMIN, USER, SessionStore, purge_sessions
from authgate.registry import Registry
from authgate.tokens import digest
from tests.backends import fresh_database as fresh_database  # a fixture, asked for by name


def on(
    url: str, scenario: Callable[[AsyncEngine, Registry], Awaitable[None]], *, at: str | None = None
) -> None:
    """Run `scenario` against the database at `url`, migrated to head (or to revision `at`)."""

    async def run() -> None:
        engine = create_engine(url)
        registry = Registry(engine)
        try:
            if at is None:
                await migrate(engine)
            else:
                async with engine.begin() as conn:
                    await conn.run_sync(_upgrade, at)
            await scenario(engine, registry)
        finally:
            registry.close()
            await engine.dispose()

    asyncio.run(run())


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    if revision.startswith("-"):
        command.downgrade(config, revision[1:])
    else:
        command.upgrade(config, revision)


async def username(store: SessionStore, cookie: str) -> str | None:
    session = await store.load(cookie)
    assert session is not None
    return session.username


def test_a_session_is_a_session_of_its_own_realm_only(fresh_database: str) -> None:
    async def scenario(engine: AsyncEngine, registry: Registry) -> None:
        users = SessionStore(registry, USER, secure=False)
        admins = SessionStore(registry, ADMIN, secure=False)
        user = await users.create(username="alice", data={"subject": "s"})
        admin = await admins.create(username="root")
        assert user.cookie and admin.cookie
        assert await username(users, user.cookie) == "alice"
        assert await username(admins, admin.cookie) == "root"
        assert await admins.load(user.cookie) is None
        assert await users.load(admin.cookie) is None
        # Nor can one realm's store change or end another's session.
        await admins.delete(user)
        user.data["x"] = 1
        await admins.save(user)
        kept = await users.load(user.cookie)
        assert kept is not None and kept.data == {"subject": "s"}

    on(fresh_database, scenario)


def test_login_rotates_the_id_and_purge_takes_expired_sessions_of_every_realm(
    fresh_database: str,
) -> None:
    async def scenario(engine: AsyncEngine, registry: Registry) -> None:
        users = SessionStore(registry, USER, secure=False)
        admins = SessionStore(registry, ADMIN, secure=False)
        before = await users.create(data={"requests": {"r": 1}})
        after = await users.rotate(before, username="alice", data={"subject": "s"})
        assert after.cookie != before.cookie and after.csrf_token != before.csrf_token
        assert await users.load(before.cookie) is None
        logged_in = await users.load(after.cookie)
        assert logged_in is not None
        assert logged_in.data == {"requests": {"r": 1}, "subject": "s"}
        await users.create(ttl=-10)
        await admins.create(ttl=-10)
        assert await purge_sessions(registry, int(time.time())) == 2
        async with engine.connect() as conn:
            left = (await conn.execute(text("SELECT COUNT(*) FROM sessions"))).scalar()
        assert left == 1
        assert await users.load(after.cookie) is not None

    on(fresh_database, scenario)


USER_COOKIE, ADMIN_COOKIE = "u" * 43, "a" * 43


def test_migration_0003_keeps_both_kinds_of_session(fresh_database: str) -> None:
    async def before(engine: AsyncEngine, registry: Registry) -> None:
        expires = int(time.time()) + 600
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO sessions (session_key, username, csrf_token, data, expires_at) "
                    "VALUES (:key, 'alice', 'user-csrf', '{\"subject\": \"s\"}', :expires)"
                ),
                {"key": digest(USER_COOKIE), "expires": expires},
            )
            await conn.execute(
                text(
                    "INSERT INTO manager_sessions (session_key, username, csrf_token, expires_at) "
                    "VALUES (:key, 'root', 'admin-csrf', :expires)"
                ),
                {"key": digest(ADMIN_COOKIE), "expires": expires},
            )

    async def upgraded(engine: AsyncEngine, registry: Registry) -> None:
        users = SessionStore(registry, USER, secure=False)
        admins = SessionStore(registry, ADMIN, secure=False)
        user, admin = await users.load(USER_COOKIE), await admins.load(ADMIN_COOKIE)
        assert user is not None and (user.username, user.csrf_token) == ("alice", "user-csrf")
        assert user.data == {"subject": "s"}
        assert admin is not None and (admin.username, admin.csrf_token) == ("root", "admin-csrf")
        assert await admins.load(USER_COOKIE) is None and await users.load(ADMIN_COOKIE) is None
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        assert "manager_sessions" not in tables

    async def downgraded(engine: AsyncEngine, registry: Registry) -> None:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT username FROM manager_sessions"))).all()
            columns = await conn.run_sync(
                lambda sync: [c["name"] for c in inspect(sync).get_columns("sessions")]
            )
        assert [row[0] for row in rows] == ["root"]
        assert "realm" not in columns

    on(fresh_database, before, at="0002")
    on(fresh_database, upgraded)
    on(fresh_database, downgraded, at="-0002")
