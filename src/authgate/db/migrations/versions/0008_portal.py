"""portal: developer applications, the application and environment of their keys, and the
token behind each gateway call in the traffic log

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import VARCHAR

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Username = sa.String(255).with_variant(VARCHAR(255, collation="utf8mb4_bin"), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("app_id", sa.String(length=32), nullable=False),
        sa.Column("owner", Username, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("app_id"),
    )
    op.create_index("ix_applications_owner", "applications", ["owner"], unique=False)
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("app_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("environment", sa.String(length=16), nullable=True))
        batch_op.create_index("ix_clients_app_environment", ["app_id", "environment"], unique=True)
    with op.batch_alter_table("traffic", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_client_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("token_username", sa.String(length=255), nullable=True))
        batch_op.create_index(
            "ix_traffic_token_client_id", ["token_client_id", "started_ms"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("traffic", schema=None) as batch_op:
        batch_op.drop_index("ix_traffic_token_client_id")
        batch_op.drop_column("token_username")
        batch_op.drop_column("token_client_id")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_index("ix_clients_app_environment")
        batch_op.drop_column("environment")
        batch_op.drop_column("app_id")
    op.drop_index("ix_applications_owner", table_name="applications")
    op.drop_table("applications")
