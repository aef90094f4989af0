"""identity_keys' index by key value also carries record_id and blocked, so resolution reads a
key's holders from the index alone instead of visiting the table once per holder.

A store created by 0001 after this change already has the new index (0001 creates every declared
index), so each step runs only where needed.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLE = "identity_keys"
OLD = ["entity", "key_type", "key_value"]
NEW = ["entity", "key_type", "key_value", "record_id", "blocked"]


def upgrade() -> None:
    indexes = sa.inspect(op.get_bind()).get_indexes(TABLE)
    for ix in indexes:
        if ix["column_names"] == OLD:
            op.drop_index(ix["name"], table_name=TABLE)
    if not any(ix["column_names"] == NEW for ix in indexes):
        op.create_index(f"ix_{TABLE}_{'_'.join(NEW)}", TABLE, NEW)


def downgrade() -> None:
    op.drop_index(f"ix_{TABLE}_{'_'.join(NEW)}", table_name=TABLE)
    op.create_index(f"ix_{TABLE}_{'_'.join(OLD)}", TABLE, OLD)
