"""A store created before segments existed gets the segment tables on its next migrate."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from audiences_dagster.store.api import MIGRATIONS, Store
from audiences_dagster.store.schema import SEGMENT_TABLES

FIELDS = {"people": {"email": "email"}, "companies": {}}


def upgrade_to(store: Store, revision: str) -> None:
    with store.engine.begin() as conn:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


@contextmanager
def store_at(store_url: str, revision: str) -> Iterator[Store]:
    """A store brought up to an earlier revision (what a store made before a change looks like)."""
    store = Store(store_url, FIELDS)
    try:
        upgrade_to(store, revision)
        yield store
    finally:
        store.dispose()


def test_store_from_revision_0001_gets_the_segment_tables(store_url: str):
    with store_at(store_url, "0001") as store:
        with store.engine.begin() as conn:  # what a store made before this change looked like
            for name in SEGMENT_TABLES:
                conn.execute(sa.text(f"DROP TABLE {name}"))
        assert not set(SEGMENT_TABLES) & set(sa.inspect(store.engine).get_table_names())

        store.migrate()

        assert set(SEGMENT_TABLES) <= set(sa.inspect(store.engine).get_table_names())
        members = store.tables.segment_members
        with store.engine.begin() as conn:
            conn.execute(sa.insert(members).values(segment="s", record_id=1, entered_at=sa.func.now()))
        assert store.count(members) == 1


def test_store_from_revision_0003_gets_signal_tables_and_the_updated_at_index(store_url: str):
    from audiences_dagster.store.schema import SIGNAL_TABLES

    with store_at(store_url, "0003") as store:
        with store.engine.begin() as conn:  # what a store made before this change looked like
            for name in SIGNAL_TABLES:
                conn.execute(sa.text(f"DROP TABLE {name}"))
            conn.execute(sa.text("DROP INDEX ix_unified_people_updated_at"))
            conn.execute(sa.text("DROP INDEX ix_field_history_entity_field_changed_at"))

        store.migrate()

        inspector = sa.inspect(store.engine)
        assert set(SIGNAL_TABLES) <= set(inspector.get_table_names())
        assert ["updated_at"] in [ix["column_names"] for ix in inspector.get_indexes("unified_people")]
        assert ["entity", "field", "changed_at"] in [ix["column_names"] for ix in inspector.get_indexes("field_history")]


def test_store_from_revision_0004_trades_its_segment_event_indexes_for_the_ones_refreshes_read(store_url: str):
    with store_at(store_url, "0004") as store:
        with store.engine.begin() as conn:  # what a store made before this change looked like
            conn.execute(sa.text("DROP INDEX ix_segment_events_segment_id"))
            conn.execute(sa.text("DROP INDEX ix_segment_members_record_id"))
            conn.execute(sa.text("CREATE INDEX ix_segment_events_segment_at ON segment_events (segment, at)"))
            conn.execute(sa.text("CREATE INDEX ix_segment_events_segment_record_id ON segment_events (segment, record_id)"))

        store.migrate()

        inspector = sa.inspect(store.engine)
        event_indexes = [ix["column_names"] for ix in inspector.get_indexes("segment_events")]
        assert event_indexes == [["segment", "id"]]
        assert [ix["column_names"] for ix in inspector.get_indexes("segment_members")] == [["record_id"]]
