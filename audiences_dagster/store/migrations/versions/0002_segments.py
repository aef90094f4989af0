"""Segment membership, its enter/exit event log and per-segment refresh state.

A store created by 0001 after these tables were declared already has them (0001 creates every
declared table), so they are created only where missing.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

from audiences_dagster.store.schema import SEGMENT_TABLES, build_metadata

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tables = build_metadata().tables
    for name in SEGMENT_TABLES:
        tables[name].create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    tables = build_metadata().tables
    for name in reversed(SEGMENT_TABLES):
        tables[name].drop(op.get_bind(), checkfirst=True)
