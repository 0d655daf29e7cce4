"""clients authenticated by certificate (RFC 8705): auth_method, tls_subject_dn, tls_certificate

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every existing client authenticates with its secret (or is public).
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("auth_method", sa.String(length=32), nullable=False, server_default="secret")
        )
        batch_op.add_column(sa.Column("tls_subject_dn", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("tls_certificate", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("tls_certificate")
        batch_op.drop_column("tls_subject_dn")
        batch_op.drop_column("auth_method")
