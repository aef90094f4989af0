"""History: every field change and merge is kept and a record's history reads back in order."""

from __future__ import annotations

from audiences_dagster.identity.merges import record_history
from audiences_dagster_tests.identity.records import source_record_id
from audiences_dagster_tests.support import Workspace, people_source

JANE = {"id": "c1", "email": "jane@acme.com", "linkedin": "", "first_name": "Jane"}


def _run(ws: Workspace, run_id: str) -> None:
    """Workspace.run() under a run id the test can look for."""
    ws.import_all(run_id)
    ws.unify_all(run_id)


def test_changed_field_in_a_reimport_writes_field_history(workspace: Workspace) -> None:
    workspace.write_csv("crm.csv", [JANE])
    workspace.configure({"crm": people_source("crm.csv")})
    _run(workspace, "run-1")
    workspace.write_csv("crm.csv", [{**JANE, "first_name": "Janet"}])
    _run(workspace, "run-2")
    [change] = [h for h in workspace.rows("field_history") if h["field"] == "first_name"]
    assert (change["unified_id"], change["old_value"], change["new_value"], change["source"],
            change["source_record_id"], change["run_id"]) == (
        workspace.unified_id_of("crm", "c1"), "Jane", "Janet", "crm", source_record_id(workspace, "crm", "c1"), "run-2")


def test_record_history_lists_creation_merge_and_field_change_in_order(workspace: Workspace) -> None:
    workspace.write_csv("crm.csv", [JANE])
    workspace.write_csv("events.csv", [], ["id", "email", "linkedin", "first_name"])
    workspace.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv")})
    _run(workspace, "run-1")
    workspace.write_csv("events.csv", [{"id": "e1", "email": "JANE@acme.com", "linkedin": "", "first_name": ""}])
    _run(workspace, "run-2")
    workspace.write_csv("crm.csv", [{**JANE, "first_name": "Janet"}])
    _run(workspace, "run-3")
    history = record_history(workspace.store, "people", workspace.unified_id_of("crm", "c1"))
    assert [(e["event"].split(" #")[0], e["field"], e["old"], e["new"], e["run"]) for e in history] == [
        ("created", None, None, "crm", "run-1"),
        ("merge", None, None, history[1]["new"], "run-2"),
        ("field change", "first_name", "Jane", "Janet", "run-3"),
    ]
    assert history[1]["new"].endswith("by email jane@acme.com")
