"""Rows deleted in a source stay in the store; a person is deleted only when every source deleted them."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from audiences_dagster_tests.identity.records import unified_record
from audiences_dagster_tests.support import Workspace, people_source

JANE = ("w1", "jane@acme.com", "Jane W.")
BOB = ("w2", "bob@acme.com", "Bob")


def _warehouse_holds(ws: Workspace, *rows: tuple[str, str, str]) -> None:
    with closing(sqlite3.connect(ws.root / "warehouse.db")) as db, db:
        db.execute("CREATE TABLE IF NOT EXISTS people "
                   "(id TEXT PRIMARY KEY, email TEXT, linkedin TEXT, first_name TEXT)")
        db.execute("DELETE FROM people")
        db.executemany("INSERT INTO people VALUES (?, ?, '', ?)", rows)


def _first_run(ws: Workspace) -> None:
    """Jane is in the CRM and the warehouse, Bob only in the warehouse (a full pass every run)."""
    _warehouse_holds(ws, JANE, BOB)
    ws.write_csv("crm.csv", [{"id": "c1", "email": "jane@acme.com", "linkedin": "", "first_name": "Jane"}])
    warehouse = {"kind": "sql", "entity": "people", "url": f"sqlite:///{ws.root / 'warehouse.db'}",
                 "query": "SELECT id, email, linkedin, first_name FROM people", "unique_id": "id",
                 "fields": people_source("")["fields"]}
    ws.configure({"crm": people_source("crm.csv"), "warehouse": warehouse})
    ws.run()


def test_row_deleted_in_source_stays_in_the_store_marked_deleted(workspace: Workspace) -> None:
    _first_run(workspace)
    _warehouse_holds(workspace, JANE)
    workspace.run()
    [bob] = [r for r in workspace.rows("source_people") if r["source_id"] == "w2"]
    assert bob["deleted_in_source"] is True and bob["deleted_at"] is not None


def test_person_deleted_in_every_source_is_marked_deleted(workspace: Workspace) -> None:
    _first_run(workspace)
    _warehouse_holds(workspace, JANE)
    workspace.run()
    assert unified_record(workspace, "warehouse", "w2")["deleted_in_source"] is True


def test_person_still_live_in_another_source_is_not_marked_deleted(workspace: Workspace) -> None:
    _first_run(workspace)
    _warehouse_holds(workspace, BOB)
    workspace.run()
    jane = unified_record(workspace, "warehouse", "w1")
    assert (jane["deleted_in_source"], jane["first_name"], jane["sources"]) == (False, "Jane", "crm,warehouse")


def test_row_reappearing_in_source_revives_the_person(workspace: Workspace) -> None:
    _first_run(workspace)
    bob_id = workspace.unified_id_of("warehouse", "w2")
    _warehouse_holds(workspace, JANE)
    workspace.run()
    _warehouse_holds(workspace, JANE, BOB)
    workspace.run()
    bob = unified_record(workspace, "warehouse", "w2")
    assert (bob["id"], bob["deleted_in_source"]) == (bob_id, False)
