"""hardening: lockout slots for attempts in flight

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows have no attempt in flight; the default only fills them in.
    with op.batch_alter_table("lockouts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("pending_until", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("lockouts", schema=None) as batch_op:
        batch_op.drop_column("pending_until")
        batch_op.drop_column("pending")
