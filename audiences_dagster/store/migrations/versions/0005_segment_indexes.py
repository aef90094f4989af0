"""Segment indexes for incremental refreshes: segment_members gets an index on record_id (a
candidate's memberships in one probe), and segment_events is read by segment after an event id
(by refreshes of segments using `member of`, and later by actions), so one index on
(segment, id) replaces the two on (segment, at) and (segment, record_id) that nothing read and
every logged event paid for.

A store created by 0001 after this change already has the new indexes (0001 creates every
declared index), so each step runs only where needed.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DROPPED = [("segment_events", ["segment", "at"]), ("segment_events", ["segment", "record_id"])]
ADDED = [("segment_events", ["segment", "id"]), ("segment_members", ["record_id"])]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, columns in DROPPED:
        for ix in inspector.get_indexes(table):
            if ix["column_names"] == columns:
                op.drop_index(ix["name"], table_name=table)
    for table, columns in ADDED:
        if not any(ix["column_names"] == columns for ix in inspector.get_indexes(table)):
            op.create_index(_name(table, columns), table, columns)


def downgrade() -> None:
    for table, columns in ADDED:
        op.drop_index(_name(table, columns), table_name=table)
    for table, columns in DROPPED:
        op.create_index(_name(table, columns), table, columns)


def _name(table: str, columns: list[str]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"
