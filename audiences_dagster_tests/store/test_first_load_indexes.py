"""A first load goes in without the lookup indexes, which resolution builds once the rows are in
place; once there are unified records, imports keep them (and the next resolution restores them
after a first load that stopped before resolution)."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from audiences_dagster.identity import resolve
from audiences_dagster.store.api import MIGRATIONS
from audiences_dagster_tests.segments.test_migration import store_at
from audiences_dagster_tests.support import Workspace, people_source

HEAD = ScriptDirectory(str(MIGRATIONS)).get_current_head()
KEY_INDEX = ("identity_keys", ("key_value", "key_type", "entity"))
BY_RECORD = ("identity_keys", ("record_id", "entity"))
LOOKUPS = {("source_people", ("unified_id",)), ("source_people", ("company_domain",)),
           ("source_people", ("company_account_source", "company_account_id")), KEY_INDEX, BY_RECORD}


def lookups(workspace: Workspace) -> set[tuple[str, tuple[str, ...]]]:
    inspector = sa.inspect(workspace.store.engine)
    return {(table, tuple(ix["column_names"])) for table in ("source_people", "identity_keys")
            for ix in inspector.get_indexes(table)} & LOOKUPS


def kept_on_this_store(workspace: Workspace) -> set[tuple[str, tuple[str, ...]]]:
    """SQLite keeps the source table's indexes and the keys' by record through a first load (it
    resolves and re-imports by them, having no hash joins)."""
    if workspace.store.engine.dialect.name == "postgresql":
        return set()
    return LOOKUPS - {KEY_INDEX}


def people(*ids: str) -> list[dict]:
    return [{"id": i, "email": f"{i}@acme.com", "linkedin": "", "first_name": i.upper()} for i in ids]


def test_first_import_drops_the_lookup_indexes_and_resolution_builds_them(workspace: Workspace):
    workspace.write_csv("crm.csv", people("a", "b"))
    workspace.configure({"crm": people_source("crm.csv")})

    workspace.import_all()
    assert lookups(workspace) == kept_on_this_store(workspace)

    workspace.unify_all()
    assert lookups(workspace) == LOOKUPS
    assert len(workspace.unified()) == 2


def test_imports_into_a_resolved_store_keep_the_lookup_indexes(workspace: Workspace):
    workspace.write_csv("crm.csv", people("a", "b"))
    workspace.configure({"crm": people_source("crm.csv")})
    workspace.run()

    workspace.write_csv("crm.csv", people("a", "b", "c"))
    workspace.import_all()

    assert lookups(workspace) == LOOKUPS


def test_resolution_after_an_interrupted_first_load_restores_the_indexes(workspace: Workspace):
    workspace.write_csv("crm.csv", people("a", "b"))
    workspace.configure({"crm": people_source("crm.csv")})
    workspace.run()  # resolved: a's and b's indexes in place
    with workspace.store.engine.begin() as conn:  # what a first load stopped before resolution leaves
        for index in workspace.store.tables.identity_keys.indexes:
            if "key_value" in index.columns:
                index.drop(conn)

    workspace.write_csv("crm.csv", people("a", "b", "c"))
    workspace.run()  # an incremental run: finding the touched keys needs the index, so it is built first

    assert lookups(workspace) == LOOKUPS
    assert len(workspace.unified()) == 3


def test_a_first_load_of_companies_keeps_the_key_index_resolved_people_use(workspace: Workspace):
    workspace.write_csv("crm.csv", people("a"))
    workspace.configure({"crm": people_source("crm.csv")})
    workspace.run()  # people resolved; no company yet

    workspace.store.begin_first_load("companies")

    assert {KEY_INDEX, BY_RECORD} <= lookups(workspace)


def test_store_from_revision_0005_gets_the_covering_key_index(store_url: str):
    with store_at(store_url, "0005") as store:
        with store.engine.begin() as conn:  # what a store made before this change looked like
            for ix in sa.inspect(conn).get_indexes("identity_keys"):
                if "key_value" in ix["column_names"]:
                    conn.execute(sa.text(f"DROP INDEX {ix['name']}"))
            conn.execute(sa.text("CREATE INDEX ix_identity_keys_entity_key_type_key_value "
                                 "ON identity_keys (entity, key_type, key_value)"))

        store.migrate()

        indexes = [ix["column_names"] for ix in sa.inspect(store.engine).get_indexes("identity_keys")]
        assert sorted(indexes) == [list(KEY_INDEX[1]), list(BY_RECORD[1])]


def test_store_from_revision_0006_leaves_room_on_source_pages_for_rewritten_rows(store_url: str):
    with store_at(store_url, "0006") as store:
        if store.engine.dialect.name == "postgresql":  # what a store made before this change looked like
            with store.engine.begin() as conn:
                conn.execute(sa.text("ALTER TABLE source_people RESET (fillfactor)"))

        store.migrate()

        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD
            if store.engine.dialect.name == "postgresql":  # SQLite has no such setting
                options = conn.execute(sa.text("SELECT reloptions FROM pg_class WHERE relname = 'source_people'")).scalar()
                assert options == ["fillfactor=85"]


def test_store_from_revision_0007_compares_identity_keys_byte_by_byte(store_url: str):
    key_columns = {"entity": "people", "key_type": "email", "key_value": "ana@acme.com"}
    with store_at(store_url, "0007") as store:
        postgres = store.engine.dialect.name == "postgresql"
        with store.engine.begin() as conn:
            if postgres:  # what a store made before this change looked like
                conn.execute(sa.text('ALTER TABLE identity_keys ALTER COLUMN entity TYPE VARCHAR(16) COLLATE "default", '
                                     'ALTER COLUMN key_type TYPE VARCHAR(32) COLLATE "default", '
                                     'ALTER COLUMN key_value TYPE VARCHAR(2048) COLLATE "default"'))
            conn.execute(sa.insert(store.tables.identity_keys).values(**key_columns, record_id=1))

        store.migrate()

        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD
            keys = store.tables.identity_keys
            assert conn.execute(sa.select(keys.c.entity, keys.c.key_type, keys.c.key_value)).all() == [
                tuple(key_columns.values())]
            if postgres:  # SQLite compares text byte by byte already
                collations = conn.execute(sa.text(
                    "SELECT column_name, collation_name FROM information_schema.columns "
                    "WHERE table_name = 'identity_keys' AND column_name IN ('entity', 'key_type', 'key_value')")).all()
                assert dict(collations) == {"entity": "C", "key_type": "C", "key_value": "C"}


def index_names(workspace: Workspace, *tables: str) -> set[str]:
    inspector = sa.inspect(workspace.store.engine)
    return {ix["name"] for table in tables for ix in inspector.get_indexes(table)}


DEFERRED = ("unified_people", "merge_log", "field_history")


def test_a_first_resolution_builds_the_unified_log_and_history_indexes_once_its_rows_are_in(
        workspace: Workspace, monkeypatch):
    workspace.write_csv("crm.csv", people("a", "b"))
    workspace.write_csv("events.csv", people("a", "c"))
    workspace.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv")})
    declared = {ix.name for table in DEFERRED for ix in workspace.store.tables.metadata.tables[table].indexes}
    during = []
    assign, survivorship = resolve._Resolver.assign, resolve.apply_survivorship

    def watch_the_log(self):
        assign(self)
        if self.entity == "people":
            during.extend(index_names_on(self.conn, "merge_log"))

    def watch_the_records(conn, store, config, entity, *args, **kwargs):
        # (on PostgreSQL a first load's unified rows are written on a connection of their own)
        if entity == "people":
            during.extend(index_names_on(conn, "unified_people", "field_history"))
        return survivorship(conn, store, config, entity, *args, **kwargs)

    monkeypatch.setattr(resolve._Resolver, "assign", watch_the_log)
    monkeypatch.setattr(resolve, "apply_survivorship", watch_the_records)
    workspace.run()

    assert not declared & set(during)  # they were dropped for the load...
    assert declared <= index_names(workspace, *DEFERRED)  # ...and are back
    assert len(workspace.rows("merge_log")) == 1


def index_names_on(conn: sa.Connection, *tables: str) -> set[str]:
    inspector = sa.inspect(conn)
    return {ix["name"] for table in tables for ix in inspector.get_indexes(table)}


def test_the_next_resolution_builds_what_a_first_one_stopped_after_its_commit_left(workspace: Workspace, monkeypatch):
    workspace.write_csv("crm.csv", people("a", "b"))
    workspace.configure({"crm": people_source("crm.csv")})
    declared = {ix.name for table in DEFERRED for ix in workspace.store.tables.metadata.tables[table].indexes}

    def killed(*args):
        raise RuntimeError("killed after the commit")

    monkeypatch.setattr(resolve, "_settle", killed)
    with pytest.raises(RuntimeError, match="killed after the commit"):
        workspace.run()
    assert len(workspace.unified()) == 2  # committed...
    assert not declared & index_names(workspace, *DEFERRED)  # ...without its indexes

    monkeypatch.undo()
    workspace.write_csv("crm.csv", people("a", "b", "c"))
    workspace.run()

    assert declared <= index_names(workspace, *DEFERRED)
    assert lookups(workspace) == LOOKUPS
    assert len(workspace.unified()) == 3


def test_a_first_loads_key_indexes_are_built_while_its_resolution_runs(workspace: Workspace, monkeypatch):
    workspace.write_csv("crm.csv", people("a", "b"))
    workspace.configure({"crm": people_source("crm.csv")})
    workspace.import_all()
    postgres = workspace.store.engine.dialect.name == "postgresql"
    seen_during = []
    survivorship = resolve.apply_survivorship

    def watch(conn, store, *args, **kwargs):
        if args[1] == "people":  # (config, entity, ...): poll from another connection, up to 30 s
            deadline = time.monotonic() + 30
            while (not (found := KEY_INDEX in lookups(workspace) and BY_RECORD in lookups(workspace))
                   and postgres and time.monotonic() < deadline):
                time.sleep(0.05)
            seen_during.append(found)
        return survivorship(conn, store, *args, **kwargs)

    monkeypatch.setattr(resolve, "apply_survivorship", watch)
    resolve.unify(workspace.store, workspace.config, "people", "run")  # people only: no companies step first

    # On PostgreSQL built beside the open resolution; SQLite (one writer) builds them afterwards.
    assert seen_during == [postgres]
    assert lookups(workspace) == LOOKUPS


def test_a_resolution_that_fails_midway_leaves_the_indexes_it_deferred(workspace: Workspace, monkeypatch):
    workspace.write_csv("crm.csv", people("a", "b"))
    workspace.configure({"crm": people_source("crm.csv")})
    workspace.import_all()
    before = index_names(workspace, *DEFERRED)

    def fail(self):
        raise RuntimeError("killed mid-resolution")

    monkeypatch.setattr(resolve._Resolver, "log_merges", fail)
    with pytest.raises(RuntimeError, match="killed mid-resolution"):
        workspace.unify_all()

    assert index_names(workspace, *DEFERRED) == before
    assert workspace.unified() == []


def test_store_from_revision_0009_drops_the_key_id_and_leads_the_key_index_by_value(store_url: str):
    with store_at(store_url, "0009") as store:
        postgres = store.engine.dialect.name == "postgresql"
        text, serial = ('COLLATE "C"', "BIGSERIAL") if postgres else ("", "INTEGER")
        with store.engine.begin() as conn:  # what a store made before this change looked like
            conn.execute(sa.text("DROP TABLE identity_keys"))
            conn.execute(sa.text(
                f"CREATE TABLE identity_keys (id {serial} PRIMARY KEY, entity VARCHAR(16) {text} NOT NULL, "
                f"key_type VARCHAR(32) {text} NOT NULL, key_value VARCHAR(2048) {text} NOT NULL, "
                "record_id BIGINT NOT NULL, blocked VARCHAR(64))"))
            conn.execute(sa.text("CREATE INDEX ix_identity_keys_entity_key_type_key_value_record_id_blocked "
                                 "ON identity_keys (entity, key_type, key_value, record_id, blocked)"))
            conn.execute(sa.text("CREATE INDEX ix_identity_keys_entity_record_id ON identity_keys (entity, record_id)"))
            conn.execute(sa.text("INSERT INTO identity_keys (entity, key_type, key_value, record_id, blocked) VALUES "
                                 "('people', 'email', 'ana@acme.com', 1, NULL), "
                                 "('people', 'email', 'bo@acme.com', 2, 'split:7')"))

        store.migrate()

        inspector = sa.inspect(store.engine)
        assert [c["name"] for c in inspector.get_columns("identity_keys")] == [
            "entity", "key_type", "key_value", "record_id", "blocked"]
        indexes = {tuple(ix["column_names"]): ix for ix in inspector.get_indexes("identity_keys")}
        assert sorted(indexes) == [KEY_INDEX[1], BY_RECORD[1]]
        if postgres:  # covering: the holders come from the index alone
            assert indexes[KEY_INDEX[1]]["dialect_options"]["postgresql_include"] == ["record_id", "blocked"]
        keys = store.tables.identity_keys
        with store.engine.begin() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD
            assert sorted(conn.execute(sa.select(keys.c.key_value, keys.c.record_id, keys.c.blocked)).all()) == [
                ("ana@acme.com", 1, None), ("bo@acme.com", 2, "split:7")]
            conn.execute(sa.insert(keys).values(entity="people", key_type="email", key_value="cy@acme.com", record_id=3))
        assert store.count(keys) == 3
