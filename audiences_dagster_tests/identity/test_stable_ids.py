"""Unified ids are stable: incremental runs never renumber a record, and a merge keeps the older id."""

from __future__ import annotations

from audiences_dagster_tests.identity.records import unified_record
from audiences_dagster_tests.support import Workspace, people_source

CRM = [
    {"id": "c1", "email": "jane@acme.com", "linkedin": "linkedin.com/in/jane", "first_name": "Jane"},
    {"id": "c2", "email": "bob@acme.com", "linkedin": "", "first_name": "Bob"},
    {"id": "c3", "email": "eve@acme.com", "linkedin": "linkedin.com/in/eve", "first_name": "Eve"},
]


def _ids(ws: Workspace) -> dict[str, int | None]:
    return {row["id"]: ws.unified_id_of("crm", row["id"]) for row in CRM}


def _first_run(ws: Workspace) -> dict[str, int | None]:
    ws.write_csv("crm.csv", CRM)
    ws.configure({"crm": people_source("crm.csv")})
    ws.run()
    return _ids(ws)


def test_editing_a_name_keeps_every_unified_id(workspace: Workspace) -> None:
    before = _first_run(workspace)
    workspace.write_csv("crm.csv", [{**CRM[0], "first_name": "Janet"}, *CRM[1:]])
    workspace.run()
    assert _ids(workspace) == before
    assert unified_record(workspace, "crm", "c1")["first_name"] == "Janet"


def test_new_row_matching_an_existing_person_joins_that_record(workspace: Workspace) -> None:
    before = _first_run(workspace)
    robert = {"id": "c4", "email": "BOB@acme.com ", "linkedin": "", "first_name": "Robert"}
    workspace.write_csv("crm.csv", [*CRM, robert])
    workspace.run()
    assert _ids(workspace) == before
    assert workspace.unified_id_of("crm", "c4") == before["c2"]
    assert len(workspace.unified()) == 3


def test_new_unrelated_row_gets_a_new_id(workspace: Workspace) -> None:
    before = _first_run(workspace)
    workspace.write_csv("crm.csv", [*CRM, {"id": "c5", "email": "dan@other.io", "linkedin": "", "first_name": "Dan"}])
    workspace.run()
    assert _ids(workspace) == before
    assert workspace.unified_id_of("crm", "c5") not in before.values()
    assert len(workspace.unified()) == 4


def test_merging_two_existing_records_keeps_the_older_id(workspace: Workspace) -> None:
    before = _first_run(workspace)
    bridge = {"id": "w1", "email": "eve@acme.com", "linkedin": "linkedin.com/in/jane", "first_name": "Eve"}
    workspace.write_csv("web.csv", [bridge])
    workspace.configure({"crm": people_source("crm.csv"), "web": people_source("web.csv")})
    workspace.run()
    older, newer = sorted([before["c1"], before["c3"]])
    assert {workspace.unified_id_of("crm", "c1"), workspace.unified_id_of("crm", "c3"),
            workspace.unified_id_of("web", "w1")} == {older}
    assert workspace.unified_id_of("crm", "c2") == before["c2"]
    absorbed_records = [m for m in workspace.rows("merge_log") if m["absorbed_created_at"] is not None]
    assert [(m["survivor_id"], m["absorbed_id"]) for m in absorbed_records] == [(older, newer)]
    assert [r["id"] for r in workspace.unified()] == sorted([older, before["c2"]])


def test_rerunning_an_unchanged_source_changes_nothing(workspace: Workspace) -> None:
    before = _first_run(workspace)
    report = workspace.run()
    assert _ids(workspace) == before
    assert report["people"].pending == 0
    assert workspace.rows("merge_log") == []
