"""identity_keys loses its id (nothing looks a key up by it; a first load paid a sequence call
and a primary-key entry per key) and its indexes lead with what tells keys apart, the value and
the record id: a build sorts on them instead of on an entity and a type that millions of keys
share. On PostgreSQL the record id and the block ride along the value index as included
columns (still covering).

A store created by 0001 after this change already has this shape, so each step runs only where
needed. SQLite cannot drop a primary-key column in place: the table is copied without it.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLE = "identity_keys"
OLD = ["entity", "key_type", "key_value", "record_id", "blocked"]
NEW = ["key_value", "key_type", "entity"]
INCLUDED = ["record_id", "blocked"]
OLD_BY_RECORD = ["entity", "record_id"]
BY_RECORD = ["record_id", "entity"]


def _index_name(columns: list[str]) -> str:
    return f"ix_{TABLE}_{'_'.join(columns)}"


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if "id" in {column["name"] for column in inspector.get_columns(TABLE)}:
        if bind.dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {TABLE} DROP COLUMN id")  # its sequence goes with it
        else:
            with op.batch_alter_table(TABLE) as batch:
                batch.drop_column("id")
        inspector = sa.inspect(bind)
    indexes = inspector.get_indexes(TABLE)
    for ix in indexes:
        if ix["column_names"] in (OLD, OLD_BY_RECORD):
            op.drop_index(ix["name"], table_name=TABLE)
    if not any(ix["column_names"] == NEW for ix in indexes):
        op.create_index(_index_name(NEW), TABLE, NEW, postgresql_include=INCLUDED)
    if not any(ix["column_names"] == BY_RECORD for ix in indexes):
        op.create_index(_index_name(BY_RECORD), TABLE, BY_RECORD)


def downgrade() -> None:
    op.drop_index(_index_name(NEW), table_name=TABLE)
    op.drop_index(_index_name(BY_RECORD), table_name=TABLE)
    op.create_index(_index_name(OLD), TABLE, OLD)
    op.create_index(_index_name(OLD_BY_RECORD), TABLE, OLD_BY_RECORD)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {TABLE} ADD COLUMN id BIGSERIAL PRIMARY KEY")
    else:
        with op.batch_alter_table(TABLE, recreate="always") as batch:
            batch.add_column(sa.Column("id", sa.Integer(), primary_key=True))
