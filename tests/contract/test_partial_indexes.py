"""The index of a user's tokens and the index of a token client's gateway calls hold only rows
with a user or a token client (SQLite, PostgreSQL): a client_credentials token or a call that
is no gateway call writes one index less. The queries that look rows up by those columns
still go through them; MariaDB, without partial indexes, keeps them whole."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from authgate.db import create_engine, migrate
from tests.backends import fresh_database as fresh_database  # a fixture, asked for by name

pytestmark = pytest.mark.anyio

# The lookups of stores/sqlite.py, stores/postgres.py, stores/sql.py and monitoring/usage.py,
# with literals: EXPLAIN takes no bound parameters on every driver.
LOOKUPS = (
    ("ix_tokens_username", "DELETE FROM tokens WHERE username = 'alice'"),
    (
        "ix_tokens_username",
        "DELETE FROM tokens WHERE username = 'alice' AND client_id = 'photos'",
    ),
    (
        "ix_traffic_token_client_id",
        "SELECT count(*) FROM traffic WHERE token_client_id IN ('photos', 'maps') "
        "AND started_ms >= 0",
    ),
)


async def _index_definitions(conn: AsyncConnection, dialect: str) -> dict[str, str]:
    rows: Any  # the rows of one of three queries
    if dialect == "sqlite":
        rows = await conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type='index'")
    elif dialect == "postgresql":
        rows = await conn.exec_driver_sql("SELECT indexname, indexdef FROM pg_indexes")
    else:
        rows = await conn.exec_driver_sql(
            "SELECT index_name, group_concat(column_name ORDER BY seq_in_index) "
            "FROM information_schema.statistics "
            "WHERE table_schema = database() GROUP BY index_name"
        )
    return {str(row[0]): str(row[1] or "") for row in rows.all()}


async def _plan(conn: AsyncConnection, dialect: str, query: str) -> str:
    if dialect == "sqlite":
        rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}")
        return "\n".join(str(row[-1]) for row in rows.all())
    # The tables are empty: only with sequential scans off does the plan show what it can use.
    await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    rows = await conn.exec_driver_sql(f"EXPLAIN {query}")
    return "\n".join(str(row[0]) for row in rows.all())


async def test_the_user_and_token_client_indexes_leave_out_rows_without_one(
    fresh_database: str,
) -> None:
    engine = create_engine(fresh_database)
    try:
        await migrate(engine)
        dialect = engine.dialect.name
        async with engine.begin() as conn:
            definitions = await _index_definitions(conn, dialect)
            for name, column in (
                ("ix_tokens_username", "username"),
                ("ix_traffic_token_client_id", "token_client_id"),
            ):
                if dialect == "mysql":
                    assert definitions[name].startswith(column)  # whole, as before
                else:
                    assert "IS NOT NULL" in definitions[name].replace("(", "").replace(")", "")
                    assert column in definitions[name].split("WHERE", 1)[1]
            if dialect == "mysql":
                return
            for index, query in LOOKUPS:
                assert index in await _plan(conn, dialect, query), query
    finally:
        await engine.dispose()
