"""The store schema follows audiences.yaml, and a store that cannot be used fails before any write."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from audiences_dagster.store.api import Store, StoreError
from audiences_dagster_tests.support import Workspace, people_source

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
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == ["0001"]


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
