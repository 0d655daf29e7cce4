"""traffic monitor and manager sessions

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "traffic",
        sa.Column("tx_id", sa.String(length=32), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("client", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("outbound_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tx_id"),
    )
    with op.batch_alter_table("traffic", schema=None) as batch_op:
        batch_op.create_index("ix_traffic_started_ms", ["started_ms"], unique=False)
        batch_op.create_index("ix_traffic_service", ["service"], unique=False)
        batch_op.create_index("ix_traffic_client", ["client"], unique=False)

    op.create_table(
        "traffic_outbound",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tx_id", sa.String(length=32), nullable=False),
        sa.Column("tx_started_ms", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("offset_ms", sa.Float(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("traffic_outbound", schema=None) as batch_op:
        batch_op.create_index("ix_traffic_outbound_tx_id", ["tx_id"], unique=False)
        batch_op.create_index("ix_traffic_outbound_tx_started_ms", ["tx_started_ms"], unique=False)

    op.create_table(
        "manager_sessions",
        sa.Column("session_key", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("session_key"),
    )
    with op.batch_alter_table("manager_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_manager_sessions_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("manager_sessions")
    op.drop_table("traffic_outbound")
    op.drop_table("traffic")
