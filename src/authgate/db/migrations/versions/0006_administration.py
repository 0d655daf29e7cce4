"""administration: the routes table and its version row, rotated secrets, tokens by user

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The username inside each stored record, per dialect: tokens issued before this revision
# are indexed by user too, so revoking a user reaches them.
_USERNAME_OF_DATA = {
    "sqlite": "json_extract(data, '$.username')",
    "postgresql": "(data::json ->> 'username')",
    "mysql": "JSON_UNQUOTE(JSON_EXTRACT(data, '$.username'))",
    "mariadb": "JSON_UNQUOTE(JSON_EXTRACT(data, '$.username'))",
}


def upgrade() -> None:
    op.create_table(
        "routes",
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("path", sa.String(length=700), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("service"),
        sa.UniqueConstraint("path"),
    )
    op.create_table(
        "versions",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.execute("INSERT INTO versions (name, version) VALUES ('routes', 0)")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("previous_secret_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("previous_secret_expires_at", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("username", sa.String(length=255), nullable=True))
        batch_op.create_index("ix_tokens_username", ["username", "client_id"], unique=False)
    dialect = op.get_bind().dialect.name
    if dialect in _USERNAME_OF_DATA:
        op.execute(f"UPDATE tokens SET username = {_USERNAME_OF_DATA[dialect]}")  # noqa: S608 - fixed SQL


def downgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_tokens_username")
        batch_op.drop_column("username")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("previous_secret_expires_at")
        batch_op.drop_column("previous_secret_hash")
    op.drop_table("versions")
    op.drop_table("routes")
