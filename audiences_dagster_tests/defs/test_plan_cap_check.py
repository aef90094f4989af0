"""The `within_plan_cap` check on every import asset: an ERROR with the reason when new records
were held back at the plan's cap, without stopping the records already imported."""

from __future__ import annotations

import dagster as dg
import pytest

from audiences_dagster.config.models import PLAN_RECORD_CAP, Plan
from audiences_dagster.defs import build_definitions
from audiences_dagster.defs.checks import PLAN_CAP_CHECK
from audiences_dagster_tests.defs.graph import IMPORT_CRM, check_evaluation, materialize, metadata_of
from audiences_dagster_tests.support import Workspace, people_source

PEOPLE = [{"id": f"p{i}", "email": f"person{i}@acme.com", "linkedin": "", "first_name": f"P{i}"} for i in range(6)]


@pytest.fixture
def defs(workspace: Workspace) -> dg.Definitions:
    workspace.write_csv("people.csv", PEOPLE)
    config = workspace.configure({"crm": people_source("people.csv")})
    return build_definitions(config, str(workspace.config_path.resolve()))


def test_an_import_within_the_cap_passes_the_check(defs: dg.Definitions):
    result = materialize(defs, dg.DagsterInstance.ephemeral(), IMPORT_CRM)

    check = check_evaluation(result, IMPORT_CRM, PLAN_CAP_CHECK)
    assert check.passed and check.metadata["plan_record_cap"].value == 250_000


def test_reaching_the_cap_fails_the_check_as_an_error_with_the_reason(defs: dg.Definitions,
                                                                      monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(PLAN_RECORD_CAP, Plan.growth, 4)

    result = materialize(defs, dg.DagsterInstance.ephemeral(), IMPORT_CRM)

    check = check_evaluation(result, IMPORT_CRM, PLAN_CAP_CHECK)
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert check.description.startswith("plan cap reached: the plan allows 4 people + companies")
    assert check.metadata["held_back_at_cap"].value == 2


def test_reaching_the_cap_shows_in_the_import_metadata(defs: dg.Definitions, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(PLAN_RECORD_CAP, Plan.growth, 4)

    result = materialize(defs, dg.DagsterInstance.ephemeral(), IMPORT_CRM)

    imported = metadata_of(result, IMPORT_CRM)
    assert (imported["cap_reached"], imported["held_back_at_cap"], imported["inserted"]) == (True, 2, 4)
    assert "2 new record(s) from source 'crm' were not imported" in imported["cap_reason"]


def test_records_imported_up_to_the_cap_still_reach_the_unified_table(defs: dg.Definitions,
                                                                      monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(PLAN_RECORD_CAP, Plan.growth, 4)

    result = materialize(defs, dg.DagsterInstance.ephemeral())

    assert metadata_of(result, dg.AssetKey("unified_people"))["unified_records"] == 4
