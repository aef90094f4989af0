"""Materializing the asset graph in-process, on a SQLite and a PostgreSQL store."""

from __future__ import annotations

import dagster as dg

from audiences_dagster.defs.assets import QUARANTINE_CHECK
from audiences_dagster.defs.checks import GX_CHECK, PLAN_CAP_CHECK, RESOLVED_CHECK
from audiences_dagster_tests.defs.graph import (
    CONTACTS, IMPORT_ACCOUNTS, IMPORT_CRM, MALFORMED_CONTACT, UNIFIED_COMPANIES, UNIFIED_PEOPLE,
    check_evaluation, configure_crm, insert_unified, materialize, metadata_of,
)
from audiences_dagster_tests.support import Workspace


def test_whole_graph_materializes_with_counts_merges_quarantine_and_preview(workspace: Workspace):
    defs = configure_crm(workspace, [*CONTACTS, MALFORMED_CONTACT])

    result = materialize(defs, dg.DagsterInstance.ephemeral())

    assert result.success
    crm = metadata_of(result, IMPORT_CRM)
    assert (crm["rows_read"], crm["inserted"], crm["quarantined_rows"]) == (4, 3, 1)
    assert crm["quarantined_by_reason"] == {"missing_unique_id": 1}
    people = metadata_of(result, UNIFIED_PEOPLE)
    assert (people["unified_records"], people["source_records"], people["dagster/row_count"]) == (2, 3, 2)
    assert people["merges_by_reason"] == {"email": 1}
    assert people["quarantine_by_source"] == {"crm": {"row:missing_unique_id": 1}}
    assert people["seconds"] >= 0
    assert people["preview"].startswith("| id | sources |") and "bob@globex.com" in people["preview"]
    companies = metadata_of(result, UNIFIED_COMPANIES)
    assert (companies["unified_records"], companies["merges_by_reason"]) == (2, {"domain": 1})
    assert "globex.com" in companies["preview"]


def test_every_quality_check_passes_on_clean_sources(workspace: Workspace):
    result = materialize(configure_crm(workspace), dg.DagsterInstance.ephemeral())

    assert result.success
    evaluations = {(e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {
        ("import_crm", QUARANTINE_CHECK): True, ("import_accounts", QUARANTINE_CHECK): True,
        ("import_crm", PLAN_CAP_CHECK): True, ("import_accounts", PLAN_CAP_CHECK): True,
        ("unified_people", GX_CHECK): True, ("unified_people", RESOLVED_CHECK): True,
        ("unified_companies", GX_CHECK): True, ("unified_companies", RESOLVED_CHECK): True,
    }


def test_malformed_rows_above_the_limit_fail_the_quarantine_check_as_a_warning_without_failing_the_run(
        workspace: Workspace):
    defs = configure_crm(workspace, [*CONTACTS, MALFORMED_CONTACT])

    result = materialize(defs, dg.DagsterInstance.ephemeral(), IMPORT_CRM, IMPORT_ACCOUNTS)

    assert result.success
    quarantine = check_evaluation(result, IMPORT_CRM, QUARANTINE_CHECK)
    assert (quarantine.passed, quarantine.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert quarantine.description == ("1 of 4 rows (25.00%) quarantined as malformed, above the 1.0% limit; "
                                      "see the quarantine table")
    assert quarantine.metadata["quarantined_rows"].value == 1
    assert quarantine.metadata["by_reason"].value == {"missing_unique_id": 1}
    assert check_evaluation(result, IMPORT_ACCOUNTS, QUARANTINE_CHECK).passed


def test_malformed_rows_within_the_limit_pass_the_quarantine_check_and_are_still_counted(workspace: Workspace):
    defs = configure_crm(workspace, [*CONTACTS, MALFORMED_CONTACT],
                         checks={"quarantine": {"max_share": 0.01, "by_source": {"crm": 0.25}}})

    result = materialize(defs, dg.DagsterInstance.ephemeral(), IMPORT_CRM)

    quarantine = check_evaluation(result, IMPORT_CRM, QUARANTINE_CHECK)
    assert quarantine.passed
    assert (quarantine.metadata["rows_read"].value, quarantine.metadata["quarantined_rows"].value) == (4, 1)
    assert quarantine.metadata["by_reason"].value == {"missing_unique_id": 1}
    assert quarantine.metadata["max_share"].value == 0.25


def test_rows_read_add_up_to_records_kept_and_rows_quarantined(workspace: Workspace):
    keyless = {"id": "c4", "email": "", "linkedin": "", "first_name": "Kay"}
    defs = configure_crm(workspace, [*CONTACTS, MALFORMED_CONTACT, keyless])

    result = materialize(defs, dg.DagsterInstance.ephemeral(), IMPORT_CRM)

    crm = metadata_of(result, IMPORT_CRM)
    assert (crm["rows_read"], crm["records_kept"], crm["quarantined_rows"], crm["held_back_at_cap"]) == (5, 4, 1, 0)


def test_an_invalid_email_in_unified_people_fails_the_blocking_suite_and_the_run(workspace: Workspace):
    defs = configure_crm(workspace)
    instance = dg.DagsterInstance.ephemeral()
    assert materialize(defs, instance).success
    insert_unified(workspace, "people", email="not-an-email")

    result = materialize(defs, instance, UNIFIED_PEOPLE)

    assert not result.success
    suite = check_evaluation(result, UNIFIED_PEOPLE, GX_CHECK)
    assert (suite.passed, suite.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert "expect_column_values_to_match_regex(email)" in suite.metadata["failures"].value
    assert "not-an-email" in suite.description
    assert check_evaluation(result, UNIFIED_PEOPLE, RESOLVED_CHECK).passed


def test_keyless_people_within_the_key_coverage_pass_the_blocking_suite(workspace: Workspace):
    keyless = {"id": "c4", "email": "", "linkedin": "", "first_name": "Kay"}
    result = materialize(configure_crm(workspace, [*CONTACTS, keyless]), dg.DagsterInstance.ephemeral())

    assert result.success
    assert check_evaluation(result, UNIFIED_PEOPLE, GX_CHECK).passed
    assert "Kay" in metadata_of(result, UNIFIED_PEOPLE)["preview"]


def test_key_coverage_below_its_threshold_fails_the_blocking_suite_and_the_run(workspace: Workspace):
    keyless = [{"id": f"k{i}", "email": "", "linkedin": "", "first_name": f"Kay {i}"} for i in range(3)]
    defs = configure_crm(workspace, [*CONTACTS, *keyless], checks={"identity_key_coverage": {"people": 0.5}})

    result = materialize(defs, dg.DagsterInstance.ephemeral())

    assert not result.success
    suite = check_evaluation(result, UNIFIED_PEOPLE, GX_CHECK)
    assert (suite.passed, suite.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert "records without linkedin_url / email (key coverage at least 50% of 5)" in suite.metadata["failures"].value
    assert "observed 3, expected at most 2" in suite.description


def test_a_failed_company_suite_stops_unified_people_in_the_same_run(workspace: Workspace):
    defs = configure_crm(workspace)
    instance = dg.DagsterInstance.ephemeral()
    assert materialize(defs, instance).success
    insert_unified(workspace, "companies", domain="not a domain")

    result = materialize(defs, instance, UNIFIED_COMPANIES, UNIFIED_PEOPLE)

    assert not result.success
    assert not check_evaluation(result, UNIFIED_COMPANIES, GX_CHECK).passed
    assert [e.asset_key for e in result.get_asset_materialization_events()] == [UNIFIED_COMPANIES]
    assert "unified_people" not in _started_steps(result)


def _started_steps(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START}
