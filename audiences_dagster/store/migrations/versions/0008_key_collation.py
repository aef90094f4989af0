"""Identity keys in the "C" collation on PostgreSQL (see schema.key_text): sorting them, grouping
them and building their index compare bytes instead of calling strcoll for every comparison.

The ALTER rewrites identity_keys and rebuilds its indexes once. A column already in "C" (a store
created by 0001 after this change) is left as it is. SQLite compares text byte by byte already.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COLUMNS = {"entity": 16, "key_type": 32, "key_value": 2048}


def _alter(collation: str | None) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    current = dict(bind.execute(sa.text(
        "SELECT column_name, collation_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = 'identity_keys'")).all())
    changes = [f'ALTER COLUMN {name} TYPE VARCHAR({length})' + (f' COLLATE "{collation}"' if collation else ' COLLATE "default"')
               for name, length in COLUMNS.items() if current.get(name) != collation]
    if changes:
        op.execute(f"ALTER TABLE identity_keys {', '.join(changes)}")


def upgrade() -> None:
    _alter("C")


def downgrade() -> None:
    _alter(None)
