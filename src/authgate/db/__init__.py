"""The SQL side: engines and migrations, the schema, the SQLite worker, the change counter.

The registry, the SQL token stores and the traffic log use these; nothing here knows about
OAuth.
"""

from authgate.db.engines import (
    HEAD_REVISION,
    MIGRATIONS,
    async_url,
    create_engine,
    is_at_head,
    is_sql_url,
    migrate,
)

__all__ = [
    "HEAD_REVISION",
    "MIGRATIONS",
    "async_url",
    "create_engine",
    "is_at_head",
    "is_sql_url",
    "migrate",
]
