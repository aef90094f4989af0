"""Source tables leave room on each page for rewritten rows (PostgreSQL's fillfactor), so an
import that changes a row, or a merge that moves it, updates it without touching any index.

Pages already full keep no room until they are rewritten; new pages get it. SQLite has no such
setting. A store created by 0001 after this change already has it.

Revision ID: 0007
Revises: 0006
"""
from alembic import op

from audiences_dagster.store.schema import ENTITIES, SOURCE_FILLFACTOR

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for entity in ENTITIES:
            op.execute(f"ALTER TABLE source_{entity} SET (fillfactor = {SOURCE_FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for entity in ENTITIES:
            op.execute(f"ALTER TABLE source_{entity} RESET (fillfactor)")
