"""The initial store: system tables and the source/unified tables without configured fields.

Configured field columns are not part of any revision: the store adds them from audiences.yaml
(see store.api.Store.migrate). Later revisions change system tables with explicit ops.

Revision ID: 0001
Revises:
"""
from alembic import op

from audiences_dagster.store.schema import build_metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    build_metadata().create_all(op.get_bind())


def downgrade() -> None:
    build_metadata().drop_all(op.get_bind())
