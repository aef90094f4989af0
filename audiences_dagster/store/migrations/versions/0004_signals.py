"""Signals (signal_events, signal_summary, signal_state), an index for reading one field's recent
history, and an index on unified_*.updated_at so segment refreshes find changed records by range.

A store created by 0001 after these were declared already has them (0001 creates every declared
table and index), so each is created only where missing.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

from audiences_dagster.store.schema import ENTITIES, SIGNAL_TABLES, build_metadata

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEXES = [(f"unified_{entity}", ["updated_at"]) for entity in ENTITIES] + [
    ("field_history", ["entity", "field", "changed_at"])]


def upgrade() -> None:
    bind = op.get_bind()
    tables = build_metadata().tables
    for name in SIGNAL_TABLES:
        tables[name].create(bind, checkfirst=True)
    inspector = sa.inspect(bind)
    for table, columns in INDEXES:
        if not any(ix["column_names"] == columns for ix in inspector.get_indexes(table)):
            op.create_index(f"ix_{table}_{'_'.join(columns)}", table, columns)


def downgrade() -> None:
    for table, columns in INDEXES:
        op.drop_index(f"ix_{table}_{'_'.join(columns)}", table_name=table)
    tables = build_metadata().tables
    for name in reversed(SIGNAL_TABLES):
        tables[name].drop(op.get_bind(), checkfirst=True)
