"""Alembic environment: authgate hands in an open connection (see authgate.db.migrate)."""

from alembic import context

from authgate.db.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
