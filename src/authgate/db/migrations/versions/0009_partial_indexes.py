"""partial indexes: the tokens of a user and the traffic of a token's client hold only rows
with one (a client_credentials token, a call that is no gateway call: one index less to write)

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# (index, table, columns, the column whose NULL rows are left out)
_PARTIAL = (
    ("ix_tokens_username", "tokens", ["username", "client_id"], "username"),
    ("ix_traffic_token_client_id", "traffic", ["token_client_id", "started_ms"], "token_client_id"),
)


def _has_partial_indexes() -> bool:
    """MariaDB and MySQL have none: their indexes stay whole."""
    return op.get_bind().dialect.name in ("sqlite", "postgresql")


def upgrade() -> None:
    if not _has_partial_indexes():
        return
    for name, table, columns, column in _PARTIAL:
        op.drop_index(name, table_name=table)
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            name, table, columns, unique=False, sqlite_where=where, postgresql_where=where
        )


def downgrade() -> None:
    if not _has_partial_indexes():
        return
    for name, table, columns, _ in _PARTIAL:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, unique=False)
