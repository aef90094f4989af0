"""The store schema follows audiences.yaml, and a store that cannot be used fails before any write."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from alembic.script import ScriptDirectory
from alembic.config import Config as AlembicConfig

from audiences_dagster.store.api import MIGRATIONS, Store, StoreError
from audiences_dagster_tests.support import Workspace, people_source

def _head() -> str:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


HEAD = _head()
FIELDS = {"people": {"email": "email", "title": "text"}, "companies": {}}
PEOPLE = [{"id": f"p{i}", "email": f"person{i}@acme.com", "linkedin": "", "first_name": f"Name{i}",
           "title": f"Title{i}", "score": str(i)} for i in range(3)]


def with_fields(**extra: dict) -> dict:
    source = people_source("people.csv")
    source["fields"] = {**source["fields"], **extra}
    return source


def columns(workspace: Workspace, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(workspace.store.engine).get_columns(table)}


def test_migrate_twice_changes_nothing(workspace: Workspace) -> None:
    workspace.write_csv("people.csv", PEOPLE)
    workspace.configure({"crm": with_fields()})
    before = {t: columns(workspace, t) for t in ("source_people", "unified_people", "sync_state")}
    assert workspace.store.migrate() == []
    assert {t: columns(workspace, t) for t in before} == before
    with workspace.store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]


def test_store_with_pending_flags_moves_them_to_the_queue(workspace: Workspace) -> None:
    """A store from before revision 0003 keeps its pending work: flagged rows join the queue,
    rows without a unified id get their own, and the wide flag column goes."""
    workspace.write_csv("people.csv", PEOPLE)
    workspace.configure({"crm": with_fields()})
    workspace.import_all()
    workspace.unify_all()
    engine = workspace.store.engine
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM unified_people WHERE id IN "
                             "(SELECT id FROM source_people WHERE source_id <> 'p0')"))
        conn.execute(sa.text("ALTER TABLE source_people ADD COLUMN pending BOOLEAN NOT NULL DEFAULT false"))
        conn.execute(sa.text("CREATE INDEX ix_source_people_pending ON source_people (pending)"))
        conn.execute(sa.text("ALTER TABLE source_companies ADD COLUMN pending BOOLEAN NOT NULL DEFAULT false"))
        conn.execute(sa.text("UPDATE source_people SET pending = true, unified_id = NULL WHERE source_id <> 'p0'"))
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0002'"))
    workspace.store.migrate()
    assert "pending" not in columns(workspace, "source_people") | columns(workspace, "source_companies")
    queued = {r["record_id"] for r in workspace.rows("pending_records", order_by="record_id")}
    rows = workspace.rows("source_people")
    assert queued == {r["id"] for r in rows if r["source_id"] != "p0"}
    assert all(r["unified_id"] == r["id"] for r in rows)
    workspace.unify_all()
    assert workspace.rows("pending_records", order_by="record_id") == []
    assert len(workspace.unified()) == 3


def test_new_field_adds_its_column_and_keeps_imported_rows(workspace: Workspace) -> None:
    workspace.write_csv("people.csv", PEOPLE)
    workspace.configure({"crm": with_fields()})
    workspace.import_all()
    before = {r["source_id"]: (r["id"], r["email"]) for r in workspace.rows("source_people")}
    workspace.configure({"crm": with_fields(title={"column": "title"})})
    assert {"title"} <= columns(workspace, "source_people")
    assert {"title", "title__from"} <= columns(workspace, "unified_people")
    assert {r["source_id"]: (r["id"], r["email"]) for r in workspace.rows("source_people")} == before


def test_new_field_is_filled_by_rereading_the_source(workspace: Workspace) -> None:
    workspace.write_csv("people.csv", PEOPLE)
    workspace.configure({"crm": with_fields()})
    workspace.import_all()
    workspace.configure({"crm": with_fields(title={"column": "title"})})
    report = workspace.import_all()["crm"]
    assert report.skipped is None
    assert (report.counts.inserted, report.counts.updated) == (0, 3)
    assert [r["title"] for r in workspace.rows("source_people")] == ["Title0", "Title1", "Title2"]


def test_changing_a_field_type_names_table_and_column(workspace: Workspace) -> None:
    workspace.write_csv("people.csv", PEOPLE)
    workspace.configure({"crm": with_fields(score={"column": "score", "type": "number"})})
    with pytest.raises(StoreError, match=r"source_people\.score is stored as number .* now declares it 'date'"):
        workspace.configure({"crm": with_fields(score={"column": "score", "type": "date"})})


def test_migrate_keeps_working_when_a_field_type_stays_in_its_family(workspace: Workspace) -> None:
    workspace.write_csv("people.csv", PEOPLE)
    workspace.configure({"crm": with_fields(title={"column": "title", "type": "text"})})
    workspace.configure({"crm": with_fields(title={"column": "title", "type": "url"})})
    assert "title" in columns(workspace, "source_people")


def test_unreachable_store_is_a_store_error_without_the_password() -> None:
    store = Store("postgresql+psycopg2://postgres:s3cret@127.0.0.1:1/audiences", FIELDS)
    hidden = r"cannot reach the store at postgresql\+psycopg2://postgres:\*\*\*@"
    with pytest.raises(StoreError, match=hidden) as caught:
        store.migrate()
    assert "s3cret" not in str(caught.value)


def test_bare_postgresql_url_asks_for_the_driver() -> None:
    with pytest.raises(StoreError, match=r"name the driver in the store URL: postgresql\+psycopg2://"):
        Store("postgresql://postgres@127.0.0.1:5432/audiences", FIELDS)
