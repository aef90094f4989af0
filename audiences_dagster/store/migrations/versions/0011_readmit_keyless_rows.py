"""A well-formed row needs only its unique id: the rows earlier versions quarantined as
`no_identity_key` leave the quarantine for `readmissions`, raw row and all, and each source's
next import maps them with the current configuration and takes them in (see
sources.importer). signal_events gains an index by record, so a merge or a split can move a
record's events. A store created by 0001 after this change already has both.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

from audiences_dagster.store.schema import build_metadata

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

REASON = "no_identity_key"
EVENTS_BY_RECORD = ["record_id", "entity"]


def upgrade() -> None:
    bind = op.get_bind()
    metadata = build_metadata()
    readmissions, quarantine = metadata.tables["readmissions"], metadata.tables["quarantine"]
    readmissions.create(bind, checkfirst=True)
    keyless = sa.and_(quarantine.c.scope == "row", quarantine.c.reason == REASON)
    columns = ["source", "row_number", "source_id", "raw", "quarantined_at"]
    bind.execute(sa.insert(readmissions).from_select(
        columns, sa.select(*(quarantine.c[c] for c in columns)).where(keyless).order_by(quarantine.c.id)))
    bind.execute(sa.delete(quarantine).where(keyless))
    indexes = sa.inspect(bind).get_indexes("signal_events")
    if not any(ix["column_names"] == EVENTS_BY_RECORD for ix in indexes):
        op.create_index("ix_signal_events_record_id_entity", "signal_events", EVENTS_BY_RECORD)


def downgrade() -> None:
    """Rows still waiting go back to the quarantine (re-admitted ones stay records)."""
    bind = op.get_bind()
    metadata = build_metadata()
    readmissions, quarantine = metadata.tables["readmissions"], metadata.tables["quarantine"]
    columns = ["source", "row_number", "source_id", "raw", "quarantined_at"]
    bind.execute(sa.insert(quarantine).from_select(
        [*columns, "scope", "reason"],
        sa.select(*(readmissions.c[c] for c in columns), sa.literal("row"), sa.literal(REASON))))
    op.drop_index("ix_signal_events_record_id_entity", table_name="signal_events")
    op.drop_table("readmissions")
