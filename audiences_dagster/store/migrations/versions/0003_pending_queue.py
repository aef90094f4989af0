"""Pending records move from a flag on the wide source rows to the narrow pending_records queue,
and every source record carries a unified id from the start (its own id until it merges).

A store created by 0001 after this change already has the new shape (0001 creates every declared
table), so each step runs only where the old shape is still there.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

from audiences_dagster.store.schema import ENTITIES, build_metadata

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    queue = build_metadata().tables["pending_records"]
    queue.create(bind, checkfirst=True)
    inspector = sa.inspect(bind)
    for entity in ENTITIES:
        name = f"source_{entity}"
        if "pending" not in {c["name"] for c in inspector.get_columns(name)}:
            continue
        src = sa.table(name, sa.column("id"), sa.column("pending"), sa.column("unified_id"))
        op.execute(sa.insert(queue).from_select(
            ["entity", "record_id"], sa.select(sa.literal(entity), src.c.id).where(src.c.pending == sa.true())))
        if any(ix["name"] == f"ix_{name}_pending" for ix in inspector.get_indexes(name)):
            op.drop_index(f"ix_{name}_pending", table_name=name)
        op.drop_column(name, "pending")
        op.execute(sa.update(src).where(src.c.unified_id.is_(None)).values(unified_id=src.c.id))


def downgrade() -> None:
    queue = build_metadata().tables["pending_records"]
    for entity in ENTITIES:
        name = f"source_{entity}"
        op.add_column(name, sa.Column("pending", sa.Boolean(), nullable=False, server_default=sa.false()))
        src = sa.table(name, sa.column("id"), sa.column("pending"))
        op.execute(sa.update(src).where(src.c.id.in_(
            sa.select(queue.c.record_id).where(queue.c.entity == entity))).values(pending=True))
    op.drop_table("pending_records")
