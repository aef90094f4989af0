"""Plan-driven refresh, the domain side: has a source changed since its last import, and what is
the run key for that change. Every test runs on a SQLite and a PostgreSQL store."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from audiences_dagster.sources.refresh import RefreshCheck, check_for_changes
from audiences_dagster.store.api import utcnow
from audiences_dagster_tests.sources.warehouse import Warehouse, contact
from audiences_dagster_tests.support import Workspace, people_source

ANN = {"id": "p1", "email": "ann@acme.com", "linkedin": "", "first_name": "Ann"}
BOB = {"id": "p2", "email": "bob@globex.com", "linkedin": "", "first_name": "Bob"}


def check(workspace: Workspace, name: str) -> RefreshCheck:
    return check_for_changes(workspace.store, workspace.config, name)


def set_last_full_sync(workspace: Workspace, name: str, hours_ago: float) -> None:
    state = workspace.store.tables.sync_state
    with workspace.store.engine.begin() as conn:
        conn.execute(sa.update(state).where(state.c.source == name)
                     .values(last_full_sync_at=utcnow() - timedelta(hours=hours_ago)))


def test_a_csv_never_imported_has_changed(workspace: Workspace):
    workspace.write_csv("people.csv", [ANN])
    workspace.configure({"crm": people_source("people.csv")})

    found = check(workspace, "crm")

    assert found.changed and "never imported" in found.detail and found.run_key.startswith("crm-")


def test_a_csv_unchanged_since_its_import_has_not_changed(workspace: Workspace):
    workspace.write_csv("people.csv", [ANN])
    workspace.configure({"crm": people_source("people.csv")})
    workspace.import_all()

    found = check(workspace, "crm")

    assert not found.changed and found.run_key is None
    assert "unchanged since the last complete import" in found.detail


def test_an_edited_csv_has_changed(workspace: Workspace):
    workspace.write_csv("people.csv", [ANN])
    workspace.configure({"crm": people_source("people.csv")})
    workspace.import_all()
    workspace.write_csv("people.csv", [ANN, BOB])

    found = check(workspace, "crm")

    assert found.changed and "changed since the last import" in found.detail


def test_the_same_change_seen_twice_has_the_same_run_key(workspace: Workspace):
    workspace.write_csv("people.csv", [ANN])
    workspace.configure({"crm": people_source("people.csv")})

    assert check(workspace, "crm").run_key == check(workspace, "crm").run_key


def test_a_change_after_an_import_has_a_new_run_key(workspace: Workspace):
    workspace.write_csv("people.csv", [ANN])
    workspace.configure({"crm": people_source("people.csv")})
    first = check(workspace, "crm")
    workspace.import_all()
    workspace.write_csv("people.csv", [ANN, BOB])

    second = check(workspace, "crm")

    assert second.changed and second.run_key != first.run_key


def test_a_reverted_csv_is_imported_again_under_a_new_run_key(workspace: Workspace):
    workspace.write_csv("people.csv", [ANN])
    workspace.configure({"crm": people_source("people.csv")})
    first = check(workspace, "crm")
    workspace.import_all()
    workspace.write_csv("people.csv", [ANN, BOB])
    workspace.import_all()
    workspace.write_csv("people.csv", [ANN])

    again = check(workspace, "crm")

    assert again.changed and again.run_key != first.run_key


def test_an_empty_timestamped_warehouse_has_not_changed(workspace: Workspace, warehouse: Warehouse):
    workspace.configure({"wh": warehouse.source()})

    found = check(workspace, "wh")

    assert not found.changed and found.detail == "the query returns no rows"


def test_a_timestamped_warehouse_never_imported_has_changed(workspace: Workspace, warehouse: Warehouse):
    warehouse.put(contact("c1", 0), contact("c2", 5))
    workspace.configure({"wh": warehouse.source()})

    found = check(workspace, "wh")

    assert found.changed and "newest row 'c2'" in found.detail and "never imported" in found.detail


def test_a_timestamped_warehouse_without_new_rows_has_not_changed(workspace: Workspace, warehouse: Warehouse):
    warehouse.put(contact("c1", 0), contact("c2", 5))
    workspace.configure({"wh": warehouse.source()})
    workspace.import_all()

    found = check(workspace, "wh")

    assert not found.changed and found.detail == "no row updated past the last import"


def test_a_row_updated_after_the_import_is_a_change_named_in_the_detail(workspace: Workspace, warehouse: Warehouse):
    warehouse.put(contact("c1", 0), contact("c2", 5))
    workspace.configure({"wh": warehouse.source()})
    workspace.import_all()
    warehouse.put(contact("c1", 9, name="Renamed"))

    found = check(workspace, "wh")

    assert found.changed and "newest row 'c1'" in found.detail and "past the last import" in found.detail


def test_a_new_row_at_the_watermark_timestamp_is_a_change(workspace: Workspace, warehouse: Warehouse):
    warehouse.put(contact("c1", 5), contact("c2", 5))
    workspace.configure({"wh": warehouse.source()})
    workspace.import_all()
    warehouse.put(contact("c3", 5))

    found = check(workspace, "wh")

    assert found.changed and "newest row 'c3'" in found.detail


def test_each_new_warehouse_change_has_a_new_run_key(workspace: Workspace, warehouse: Warehouse):
    warehouse.put(contact("c1", 0))
    workspace.configure({"wh": warehouse.source()})
    workspace.import_all()
    warehouse.put(contact("c2", 5))
    first = check(workspace, "wh")
    warehouse.put(contact("c3", 6))

    assert check(workspace, "wh").run_key != first.run_key


def test_a_warehouse_without_timestamp_is_due_before_its_first_full_read(workspace: Workspace, warehouse: Warehouse):
    warehouse.put(contact("c1"))
    workspace.configure({"wh": warehouse.source(timestamped=False)})

    found = check(workspace, "wh")

    assert found.changed and found.detail == "never read in full with this mapping"


def test_a_warehouse_without_timestamp_is_not_due_within_12_hours(workspace: Workspace, warehouse: Warehouse):
    warehouse.put(contact("c1"))
    workspace.configure({"wh": warehouse.source(timestamped=False)})
    workspace.import_all()
    set_last_full_sync(workspace, "wh", hours_ago=11.5)

    found = check(workspace, "wh")

    assert not found.changed and "the next is due at" in found.detail and "every 12 h" in found.detail


def test_a_warehouse_without_timestamp_is_due_again_after_12_hours(workspace: Workspace, warehouse: Warehouse):
    warehouse.put(contact("c1"))
    workspace.configure({"wh": warehouse.source(timestamped=False)})
    workspace.import_all()
    set_last_full_sync(workspace, "wh", hours_ago=12.5)

    found = check(workspace, "wh")

    assert found.changed and "older than 12 h" in found.detail


def test_the_requery_interval_is_configurable_per_source(workspace: Workspace, warehouse: Warehouse):
    warehouse.put(contact("c1"))
    workspace.configure({"wh": warehouse.source(timestamped=False, full_requery_hours=2)})
    workspace.import_all()
    set_last_full_sync(workspace, "wh", hours_ago=3)

    assert check(workspace, "wh").changed


def test_a_due_requery_keeps_its_run_key_until_it_has_run(workspace: Workspace, warehouse: Warehouse):
    warehouse.put(contact("c1"))
    workspace.configure({"wh": warehouse.source(timestamped=False)})
    workspace.import_all()
    set_last_full_sync(workspace, "wh", hours_ago=13)

    assert check(workspace, "wh").run_key == check(workspace, "wh").run_key
