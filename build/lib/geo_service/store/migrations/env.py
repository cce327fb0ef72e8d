"""Alembic environment: runs on the connection the service hands it (see store.engine.upgrade)."""

from alembic import context

from geo_service.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
