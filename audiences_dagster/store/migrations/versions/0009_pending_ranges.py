"""Batches of only new records queue them as one id range (pending_ranges) instead of one
pending_records row per record. A store created by 0001 after this change already has the table.

Revision ID: 0009
Revises: 0008
"""
from alembic import op

from audiences_dagster.store.schema import build_metadata

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    build_metadata().tables["pending_ranges"].create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    op.drop_table("pending_ranges")
