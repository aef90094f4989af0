"""Segment assets in the code location: graph shape, metadata, and automatic refresh."""

from __future__ import annotations

import dagster as dg

from audiences_dagster.defs import build_definitions
from audiences_dagster.defs.segments import segment_key
from audiences_dagster_tests.defs.graph import (
    ACCOUNTS, CONTACTS, IMPORT_ACCOUNTS, IMPORT_CRM, UNIFIED_COMPANIES, UNIFIED_PEOPLE, materialize, metadata_of,
)
from audiences_dagster_tests.support import Workspace, people_source

ACME = {"name": "acme_people", "entity": "people", "filter": {"field": "email", "op": "contains", "value": "@acme.com"}}
NAMED = {"name": "named_acme", "entity": "people", "description": "Acme people with a first name.",
         "filter": {"all": [{"member_of": "acme_people"}, {"field": "first_name", "op": "is_not_empty"}]}}
ACME_KEY, NAMED_KEY = segment_key("acme_people"), segment_key("named_acme")


def code_location(ws: Workspace, contacts: list[dict] = CONTACTS) -> dg.Definitions:
    ws.write_csv("contacts.csv", contacts, columns=["id", "email", "linkedin", "first_name"])
    ws.write_csv("accounts.csv", ACCOUNTS)
    config = ws.configure({
        "crm": people_source("contacts.csv"),
        "accounts": {"kind": "csv", "entity": "companies", "path": "accounts.csv", "unique_id": "id",
                     "fields": {"domain": {"column": "domain", "type": "url"}, "name": {"column": "name"}}},
    }, segments=[NAMED, ACME])
    return build_definitions(config, str(ws.config_path.resolve()))


def requested(tick: dg.EvaluateAutomationConditionsResult) -> set:
    return {result.key for result in tick.results if result.true_subset.size}


def test_each_segment_is_an_asset_depending_on_its_unified_table_and_referenced_segments(workspace: Workspace):
    graph = code_location(workspace).resolve_asset_graph()

    assert graph.get(ACME_KEY).parent_keys == {UNIFIED_PEOPLE}
    assert graph.get(NAMED_KEY).parent_keys == {UNIFIED_PEOPLE, ACME_KEY}
    assert graph.get(NAMED_KEY).group_name == "segments"


def test_materializing_the_graph_reports_members_entered_and_a_preview(workspace: Workspace):
    result = materialize(code_location(workspace), dg.DagsterInstance.ephemeral())

    assert result.success
    acme = metadata_of(result, ACME_KEY)
    assert (acme["members"], acme["entered"], acme["exited"], acme["dagster/row_count"]) == (1, 1, 0, 1)
    assert acme["preview"].startswith("| id | entered_at | email |") and "ann@acme.com" in acme["preview"]
    assert metadata_of(result, NAMED_KEY)["members"] == 1


def test_next_run_reports_what_entered_and_exited_since_the_last_run(workspace: Workspace):
    defs = code_location(workspace)
    instance = dg.DagsterInstance.ephemeral()
    assert materialize(defs, instance).success
    moved = [{**c, "email": "ann@initech.com"} if c["id"] in ("c1", "c2") else c for c in CONTACTS]
    defs = code_location(workspace, [*moved, {"id": "c4", "email": "dan@acme.com", "first_name": "Dan"}])

    result = materialize(defs, instance)

    acme = metadata_of(result, ACME_KEY)
    assert (acme["members"], acme["entered"], acme["exited"], acme["refresh_mode"]) == (1, 1, 1, "incremental")


def test_segments_are_requested_after_the_unified_tables_change(workspace: Workspace):
    defs = code_location(workspace)
    instance = dg.DagsterInstance.ephemeral()
    assert materialize(defs, instance).success
    settled = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert not requested(settled) & {ACME_KEY, NAMED_KEY}
    assert materialize(defs, instance, IMPORT_CRM, IMPORT_ACCOUNTS, UNIFIED_PEOPLE, UNIFIED_COMPANIES).success

    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)

    assert {ACME_KEY, NAMED_KEY} <= requested(tick)
