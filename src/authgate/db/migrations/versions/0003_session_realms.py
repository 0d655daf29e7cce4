"""one sessions table for every page: a realm column; manager_sessions folded in

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every existing row is a session of the login pages; the default only fills them in.
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("realm", sa.String(length=16), nullable=False, server_default="user")
        )
    # Administrators stay logged in across the upgrade.
    op.execute(
        "INSERT INTO sessions (session_key, realm, username, csrf_token, data, expires_at) "
        "SELECT session_key, 'admin', username, csrf_token, '{}', expires_at "
        "FROM manager_sessions"
    )
    # From now on every insert names its realm.
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.alter_column(
            "realm",
            existing_type=sa.String(length=16),
            existing_nullable=False,
            server_default=None,
        )
    with op.batch_alter_table("manager_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_manager_sessions_expires_at")
    op.drop_table("manager_sessions")


def downgrade() -> None:
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
    op.execute(
        "INSERT INTO manager_sessions (session_key, username, csrf_token, expires_at) "
        "SELECT session_key, username, csrf_token, expires_at FROM sessions "
        "WHERE realm = 'admin'"
    )
    op.execute("DELETE FROM sessions WHERE realm = 'admin'")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("realm")
