"""Merges are logged and can be undone: a split restores the absorbed record and is not redone."""

from __future__ import annotations

import pytest

from audiences_dagster.identity.merges import MergeError, record_history, split_merge
from audiences_dagster_tests.identity.records import unified_record
from audiences_dagster_tests.support import Workspace, people_source

JANE = {"id": "c1", "email": "jane@acme.com", "linkedin": "", "first_name": ""}
JANIE = {"id": "e1", "email": "janie@gmail.com", "linkedin": "linkedin.com/in/jane-doe", "first_name": "Janie"}
COMPARED = ("id", "created_at", "sources", "deleted_in_source", "email", "email__from", "first_name",
            "first_name__from", "linkedin_url", "linkedin_url__from")


def _apart_then_merged(ws: Workspace) -> dict:
    """Jane and Janie are two records in run 1 (returns Janie's); Jane gains Janie's LinkedIn URL in run 2."""
    ws.write_csv("crm.csv", [JANE])
    ws.write_csv("events.csv", [JANIE])
    ws.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv")})
    ws.run()
    apart = unified_record(ws, "events", "e1")
    ws.write_csv("crm.csv", [{**JANE, "linkedin": "https://uk.linkedin.com/in/Jane-Doe/"}])
    ws.run()
    return apart


def _only_merge(ws: Workspace) -> dict:
    [merge] = ws.rows("merge_log")
    return merge


def _split(ws: Workspace, merge_id: int, run_id: str = "split-run"):
    return split_merge(ws.store, ws.config, merge_id, run_id)


def test_every_merge_is_logged_with_survivor_absorbed_reason_and_key(workspace: Workspace) -> None:
    apart = _apart_then_merged(workspace)
    merge = _only_merge(workspace)
    assert (merge["entity"], merge["survivor_id"], merge["absorbed_id"], merge["reason"], merge["key_value"]) == (
        "people", workspace.unified_id_of("crm", "c1"), apart["id"], "linkedin_url",
        "https://www.linkedin.com/in/jane-doe")
    assert merge["merged_at"] is not None and merge["run_id"] and merge["undone_at"] is None


def test_split_restores_the_absorbed_record_with_its_original_id_and_values(workspace: Workspace) -> None:
    apart = _apart_then_merged(workspace)
    _split(workspace, _only_merge(workspace)["id"])
    restored = unified_record(workspace, "events", "e1")
    assert {k: restored[k] for k in COMPARED} == {k: apart[k] for k in COMPARED}


def test_split_is_recorded_in_field_history_and_merge_log(workspace: Workspace) -> None:
    _apart_then_merged(workspace)
    merge = _only_merge(workspace)
    _split(workspace, merge["id"])
    changes = [(h["unified_id"], h["field"], h["old_value"], h["new_value"])
               for h in workspace.rows("field_history") if h["run_id"] == "split-run"]
    assert (merge["survivor_id"], "first_name", "Janie", None) in changes
    assert (merge["absorbed_id"], "__restored__", None, "events") in changes
    assert _only_merge(workspace)["undone_by"] == "split-run"
    events = [e["event"] for e in record_history(workspace.store, "people", merge["absorbed_id"])]
    assert events[-1] == f"split #{merge['id']}"


def test_next_run_does_not_merge_split_records_again(workspace: Workspace) -> None:
    _apart_then_merged(workspace)
    _split(workspace, _only_merge(workspace)["id"])
    workspace.write_csv("crm.csv", [{**JANE, "first_name": "Jane", "linkedin": "linkedin.com/in/jane-doe"}])
    workspace.write_csv("events.csv", [{**JANIE, "first_name": "Janie D."}])
    report = workspace.run()
    assert report["people"].pending == 2
    assert len(workspace.unified()) == 2
    assert len(workspace.rows("merge_log")) == 1


def test_splitting_a_merge_twice_raises_merge_error(workspace: Workspace) -> None:
    _apart_then_merged(workspace)
    merge_id = _only_merge(workspace)["id"]
    _split(workspace, merge_id)
    with pytest.raises(MergeError, match="already undone"):
        _split(workspace, merge_id, "split-again")


def test_split_of_a_first_run_merge_gives_the_absorbed_row_its_own_record(workspace: Workspace) -> None:
    workspace.write_csv("crm.csv", [{**JANE, "linkedin": "linkedin.com/in/jane-doe"}])
    workspace.write_csv("events.csv", [JANIE])
    workspace.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv")})
    workspace.run()
    merge = _only_merge(workspace)
    report = _split(workspace, merge["id"])
    restored = unified_record(workspace, "events", "e1")
    assert restored["id"] == report.restored_id == merge["absorbed_id"]
    assert (restored["email"], restored["first_name"], restored["sources"]) == ("janie@gmail.com", "Janie", "events")
    assert unified_record(workspace, "crm", "c1")["sources"] == "crm"
