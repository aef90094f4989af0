"""Alembic environment: migrations always run on the connection the store hands over."""

from alembic import context

from audiences_dagster.store.schema import build_metadata

target_metadata = build_metadata()
connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
