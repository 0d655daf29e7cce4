"""hardening: lockout slots for attempts in flight; canonical usernames; administrators'
lockout; server secrets

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from authgate.usernames import canonical_or_none

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The username columns, and whether each may be NULL.
USERNAME_COLUMNS = {
    "users": False,
    "admins": False,
    "consents": False,
    "sessions": True,
    "lockouts": False,
}


def upgrade() -> None:
    # Existing rows have no attempt in flight; the default only fills them in.
    with op.batch_alter_table("lockouts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("pending_until", sa.BigInteger(), nullable=False, server_default="0")
        )
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        for table, nullable in USERNAME_COLUMNS.items():
            op.alter_column(
                table,
                "username",
                existing_type=sa.String(length=255),
                existing_nullable=nullable,
                type_=mysql.VARCHAR(255, collation="utf8mb4_bin"),
            )
    _canonical_names("users", ("consents",))
    _canonical_names("admins", ())
    op.create_table(
        "admin_lockouts",
        sa.Column("username", _username_type(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("lock_count", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.BigInteger(), nullable=False),
        sa.Column("last_failure", sa.BigInteger(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column("pending_until", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def _username_type() -> sa.types.TypeEngine[str]:
    return sa.String(length=255).with_variant(
        mysql.VARCHAR(255, collation="utf8mb4_bin"), "mysql", "mariadb"
    )


def _canonical_names(table: str, followers: tuple[str, ...]) -> None:
    """Store each account under its canonical name, where that merges it with no other (a
    name that would is left as it was, and logs in no more: `user delete` it)."""
    bind = op.get_bind()
    names = {row[0] for row in bind.execute(sa.text(f"SELECT username FROM {table}"))}  # noqa: S608
    for name in sorted(names):
        canonical = canonical_or_none(name)
        if canonical is None or canonical == name or canonical in names:
            continue
        names.add(canonical)
        for target in (table, *followers):
            bind.execute(
                sa.text(f"UPDATE {target} SET username = :new WHERE username = :old"),  # noqa: S608
                {"new": canonical, "old": name},
            )


def downgrade() -> None:
    op.drop_table("server_secrets")
    op.drop_table("admin_lockouts")
    # Canonical names stay canonical; the columns get the collation of the database back.
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        for table, nullable in USERNAME_COLUMNS.items():
            op.alter_column(
                table,
                "username",
                existing_type=mysql.VARCHAR(255, collation="utf8mb4_bin"),
                existing_nullable=nullable,
                type_=sa.String(length=255),
            )
    with op.batch_alter_table("lockouts", schema=None) as batch_op:
        batch_op.drop_column("pending_until")
        batch_op.drop_column("pending")
