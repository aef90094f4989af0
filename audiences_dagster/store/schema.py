"""Every table of the store, declared once. Field columns come from the config at run time."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

ENTITIES = ("people", "companies")

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a real BIGINT identity.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}


def key_text(length: int) -> sa.types.TypeEngine:
    """Text that identity resolution sorts, groups, joins and indexes (an identity key's entity,
    type and value). On PostgreSQL it is in the "C" collation: compared byte by byte, sorted with
    abbreviated keys, a key index builds and a sort runs about twice as fast as in the database's
    default (C.UTF-8 here is a libc collation: strcoll per comparison). Keys are normalized text
    matched for equality, so their order means nothing. Every column compared with one must be
    declared with this type too: PostgreSQL refuses to compare two different implicit collations."""
    return sa.String(length).with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql")


SQL_TYPES: dict[str, sa.types.TypeEngine] = {
    "text": sa.Text(),
    "email": sa.String(320),
    "url": sa.String(2048),
    "phone": sa.String(32),
    "number": sa.Float(),
    "date": sa.DateTime(),
    "boolean": sa.Boolean(),
}


# Source rows are rewritten in place when their source changes them (and when they merge): room
# left on each page lets PostgreSQL keep the new version on the same page and skip every index
# (a HOT update), since no indexed column changes.
SOURCE_FILLFACTOR = 85


def sql_type(field_type: str) -> sa.types.TypeEngine:
    return SQL_TYPES[field_type]


def _source_columns(entity: str) -> list[sa.Column]:
    columns = [
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("object", sa.String(100)),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("source_updated_at", sa.DateTime()),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("row_hash", sa.String(32), nullable=False),
        sa.Column("deleted_in_source", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("deleted_at", sa.DateTime()),
        sa.Column("seen_pass", sa.Integer()),
        # A new record starts as its own unified record (its id); resolution moves only the
        # records that merge, so a first load does not rewrite every wide row.
        sa.Column("unified_id", sa.BigInteger()),
        sa.UniqueConstraint("source", "source_id"),
        sa.Index(None, "unified_id"),
    ]
    if entity == "people":
        columns += [
            sa.Column("company_account_id", sa.String(255)),
            sa.Column("company_account_source", sa.String(100)),
            sa.Column("company_domain", sa.String(255)),
            sa.Column("converted_to", sa.String(255)),
            sa.Index(None, "company_domain"),
            sa.Index(None, "company_account_source", "company_account_id"),
        ]
    return columns


def _unified_columns(entity: str) -> list[sa.Column]:
    columns = [
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        # Indexed: each segment refresh looks up the records changed since the previous one.
        sa.Column("updated_at", sa.DateTime(), nullable=False, index=True),
        sa.Column("sources", sa.Text(), nullable=False, server_default=""),
        sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("deleted_in_source", sa.Boolean(), nullable=False, server_default=sa.false()),
    ]
    if entity == "people":
        columns.append(sa.Column("company_id", sa.BigInteger(), index=True))
    return columns


def _system_tables(metadata: sa.MetaData) -> None:
    sa.Table(
        "identity_keys", metadata,  # no id of its own: a key is its record and its value
        sa.Column("entity", key_text(16), nullable=False),
        sa.Column("key_type", key_text(32), nullable=False),
        sa.Column("key_value", key_text(2048), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("blocked", sa.String(64)),
        # Led by the value, the text that tells keys apart: a build sorts on it (with abbreviated
        # keys) instead of on an entity and a type that millions of keys share. On PostgreSQL it
        # covers the holders, read from the index alone (no visit to the table).
        sa.Index(None, "key_value", "key_type", "entity", postgresql_include=["record_id", "blocked"]),
        sa.Index(None, "record_id", "entity"),  # by record first, for the same reason
    )
    # Records waiting for identity resolution: a narrow queue, so marking and clearing it never
    # touches the wide source rows.
    sa.Table(
        "pending_records", metadata,
        sa.Column("entity", sa.String(16), primary_key=True),
        sa.Column("record_id", sa.BigInteger(), primary_key=True),
    )
    # A batch of only new records queues them as one id range (their ids come from one
    # statement): a first load writes a few rows here instead of one queue row per record.
    sa.Table(
        "pending_ranges", metadata,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("first_id", sa.BigInteger(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
    )
    sa.Table(
        "field_history", metadata,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("unified_id", sa.BigInteger(), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("old_value", sa.Text()),
        sa.Column("new_value", sa.Text()),
        sa.Column("source", sa.String(100)),
        sa.Column("source_record_id", sa.BigInteger()),
        sa.Column("run_id", sa.String(64)),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Index(None, "entity", "unified_id"),
        # Signals read one field's recent changes.
        sa.Index(None, "entity", "field", "changed_at"),
    )
    sa.Table(
        "merge_log", metadata,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("survivor_id", sa.BigInteger(), nullable=False),
        sa.Column("absorbed_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("key_value", sa.String(2048)),
        sa.Column("run_id", sa.String(64)),
        sa.Column("merged_at", sa.DateTime(), nullable=False),
        sa.Column("absorbed_created_at", sa.DateTime()),
        sa.Column("undone_at", sa.DateTime()),
        sa.Column("undone_by", sa.String(64)),
        sa.Index(None, "entity", "survivor_id"),
        sa.Index(None, "entity", "absorbed_id"),
        sa.Index(None, "run_id"),
    )
    sa.Table(
        "merge_members", metadata,
        sa.Column("merge_id", sa.BigInteger(), primary_key=True),
        sa.Column("record_id", sa.BigInteger(), primary_key=True),
    )
    sa.Table(
        "blocked_links", metadata,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("key_type", sa.String(32), nullable=False),
        sa.Column("key_value", sa.String(2048), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text()),
        sa.Column("run_id", sa.String(64)),
        sa.Column("detected_at", sa.DateTime(), nullable=False),
    )
    sa.Table(
        "quarantine", metadata,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("row_number", sa.BigInteger()),
        sa.Column("source_id", sa.String(255)),
        sa.Column("field", sa.String(255)),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text()),
        sa.Column("raw", sa.Text()),
        sa.Column("quarantined_at", sa.DateTime(), nullable=False),
        sa.Index(None, "source", "reason"),
    )
    # Rows earlier versions quarantined for having no cross-source key (a well-formed row needs
    # only its id now): each source's next import maps them again and takes them in (migration 0011).
    sa.Table(
        "readmissions", metadata,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("row_number", sa.BigInteger()),
        sa.Column("source_id", sa.String(255)),
        sa.Column("raw", sa.Text()),
        sa.Column("quarantined_at", sa.DateTime(), nullable=False),
        sa.Index(None, "source", "id"),
    )
    sa.Table(
        "sync_state", metadata,
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("cursor", sa.Text()),
        sa.Column("pass_number", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("pass_open", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("last_full_sync_at", sa.DateTime()),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    sa.Table(
        "import_runs", metadata,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stats", sa.JSON()),
    )


# -- segments (PRODUCT.md §5): live membership, its enter/exit log, and per-segment refresh state --

SEGMENT_TABLES = ("segment_members", "segment_events", "segment_state")


def _segment_tables(metadata: sa.MetaData) -> None:
    sa.Table(
        "segment_members", metadata,
        sa.Column("segment", sa.String(100), primary_key=True),
        sa.Column("record_id", sa.BigInteger(), primary_key=True),
        sa.Column("entered_at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.String(64)),
        # A record's memberships in one probe (an incremental refresh copies its candidates').
        sa.Index(None, "record_id"),
    )
    sa.Table(
        "segment_events", metadata,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("segment", sa.String(100), nullable=False),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(8), nullable=False),  # entered | exited
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.String(64)),
        # Read after a watermark per segment (refreshes of segments using it, actions).
        sa.Index(None, "segment", "id"),
    )
    sa.Table(
        "segment_state", metadata,
        sa.Column("segment", sa.String(100), primary_key=True),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("definition_hash", sa.String(64), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(), nullable=False),  # the "now" relative windows used
        sa.Column("refreshed_at", sa.DateTime(), nullable=False),
        sa.Column("members", sa.BigInteger(), nullable=False),
        # The newest segment_events id when this segment was refreshed: referenced segments'
        # events after it are the ones still to apply.
        sa.Column("last_event_id", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("run_id", sa.String(64)),
    )


# -- signals (PRODUCT.md §7): events detected from field_history, a per-record summary, run state --

SIGNAL_TABLES = ("signal_events", "signal_summary", "signal_state")


def _signal_tables(metadata: sa.MetaData) -> None:
    sa.Table(
        "signal_events", metadata,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("signal", sa.String(100), nullable=False),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("fired_at", sa.DateTime(), nullable=False),  # when the change was recorded
        sa.Column("detected_at", sa.DateTime(), nullable=False),
        sa.Column("old_value", sa.Text()),
        sa.Column("new_value", sa.Text()),
        sa.Column("history_id", sa.BigInteger(), nullable=False),  # the field_history row it came from
        sa.Column("run_id", sa.String(64)),
        sa.UniqueConstraint("signal", "history_id"),
        sa.Index(None, "signal", "record_id", "fired_at"),
        sa.Index(None, "signal", "detected_at"),
        sa.Index(None, "record_id", "entity"),  # a merge or split moves a record's events
    )
    sa.Table(
        "signal_summary", metadata,
        sa.Column("signal", sa.String(100), primary_key=True),
        sa.Column("record_id", sa.BigInteger(), primary_key=True),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("times_fired", sa.Integer(), nullable=False),
        sa.Column("first_fired_at", sa.DateTime(), nullable=False),
        sa.Column("last_fired_at", sa.DateTime(), nullable=False),
        sa.Column("last_old_value", sa.Text()),
        sa.Column("last_new_value", sa.Text()),
    )
    sa.Table(
        "signal_state", metadata,
        sa.Column("signal", sa.String(100), primary_key=True),
        sa.Column("definition_hash", sa.String(64), nullable=False),
        sa.Column("first_run_at", sa.DateTime(), nullable=False),
        sa.Column("scanned_until", sa.DateTime(), nullable=False),  # history up to here has been read
        sa.Column("run_id", sa.String(64)),
    )


def build_metadata(fields: dict[str, dict[str, str]] | None = None) -> sa.MetaData:
    """The store's tables; `fields` (entity -> field -> type) adds the configured field columns."""
    metadata = sa.MetaData(naming_convention=NAMING)
    _system_tables(metadata)
    _segment_tables(metadata)
    _signal_tables(metadata)
    for entity in ENTITIES:
        entity_fields = (fields or {}).get(entity, {})
        source_cols = [sa.Column(name, sql_type(t)) for name, t in entity_fields.items()]
        unified_cols = [sa.Column(name, sql_type(t)) for name, t in entity_fields.items()]
        unified_cols += [sa.Column(f"{name}__from", sa.BigInteger()) for name in entity_fields]
        sa.Table(f"source_{entity}", metadata, *_source_columns(entity), *source_cols,
                 postgresql_with={"fillfactor": SOURCE_FILLFACTOR})
        sa.Table(f"unified_{entity}", metadata, *_unified_columns(entity), *unified_cols)
    return metadata


@dataclass(frozen=True)
class Tables:
    """Typed access to the tables of one configured store."""

    metadata: sa.MetaData

    def source(self, entity: str) -> sa.Table:
        return self.metadata.tables[f"source_{entity}"]

    def unified(self, entity: str) -> sa.Table:
        return self.metadata.tables[f"unified_{entity}"]

    def __getattr__(self, name: str) -> sa.Table:
        try:
            return self.metadata.tables[name]
        except KeyError:
            raise AttributeError(name) from None
