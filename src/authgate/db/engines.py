"""SQL engines for the registry and the SQL stores, and schema migration with Alembic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from authgate.db.private_files import create_private_database

MIGRATIONS = Path(__file__).parent / "migrations"

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
    "mariadb": "mysql+aiomysql",
}


def is_sql_url(url: str) -> bool:
    return url.split(":", 1)[0].split("+", 1)[0] in _DRIVERS


def async_url(url: str) -> str:
    """`sqlite:///x.db` -> `sqlite+aiosqlite:///x.db`; an explicit driver is kept."""
    scheme, rest = url.split(":", 1)
    if "+" in scheme:
        return url
    return f"{_DRIVERS[scheme]}:{rest}"


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    full = async_url(url)
    backend = make_url(full).get_backend_name()
    options: dict[str, Any] = {}
    if backend == "sqlite":
        create_private_database(make_url(full).database or "")
        # One file, many readers, one writer: WAL plus a busy timeout instead of "locked".
        # Connections are pooled: each aiosqlite connection costs a thread to open.
        options["connect_args"] = {"timeout": 30}
    else:
        options.update(
            pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_recycle=1800
        )
    engine = create_async_engine(full, **options)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _upgrade_to_head(connection: Connection) -> None:
    # Imported here: Alembic costs every server process about 10 MB it needs only to migrate.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


# The newest revision in migrations/versions (tests/unit/test_db.py checks it against Alembic).
HEAD_REVISION = "0009"


async def is_at_head(engine: AsyncEngine) -> bool:
    """Whether the schema is already at HEAD_REVISION, read without loading Alembic."""
    try:
        async with engine.connect() as conn:
            rows = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:  # no alembic_version table yet: a fresh database
        return False
    return [row[0] for row in rows] == [HEAD_REVISION]


# Any fixed number: the key of the PostgreSQL advisory lock that serialises migrations.
_MIGRATION_LOCK = 0x61757468676174
_MYSQL_LOCK = "authgate.migrate"


async def migrate(engine: AsyncEngine) -> None:
    """Create or upgrade the schema to the newest revision.

    Several processes may migrate at once (the workers of `serve --workers N` on a fresh SQLite
    file, two `authgate migrate` in a deployment): each takes a database-wide lock before
    Alembic reads the version, so the later ones wait and then find the schema at head.
    A schema already at head (every start but the first) is left alone without Alembic.
    """
    if await is_at_head(engine):
        return
    async with engine.begin() as conn:
        backend = conn.dialect.name
        if backend == "sqlite":
            # pysqlite starts no transaction for DDL; an immediate one takes the write lock now.
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif backend == "postgresql":
            await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        elif backend in ("mysql", "mariadb"):
            await conn.exec_driver_sql(f"SELECT GET_LOCK('{_MYSQL_LOCK}', 60)")
        try:
            await conn.run_sync(_upgrade_to_head)
        finally:
            if backend in ("mysql", "mariadb"):
                await conn.exec_driver_sql(f"SELECT RELEASE_LOCK('{_MYSQL_LOCK}')")
