"""Declarative automation: what the automation sensor would request, tick by tick."""

from __future__ import annotations

import dagster as dg

from audiences_dagster.defs.checks import GX_CHECK, RESOLVED_CHECK
from audiences_dagster.defs.hub import DATA_HUB
from audiences_dagster_tests.defs.graph import (
    CONTACTS, IMPORT_ACCOUNTS, IMPORT_CRM, UNIFIED_COMPANIES, UNIFIED_PEOPLE, configure_crm, insert_unified,
    materialize,
)
from audiences_dagster_tests.support import Workspace

BLOCKING_CHECKS = {dg.AssetCheckKey(key, name) for key in (UNIFIED_PEOPLE, UNIFIED_COMPANIES)
                   for name in (GX_CHECK, RESOLVED_CHECK)}


def requested(tick: dg.EvaluateAutomationConditionsResult) -> set:
    """Asset and check keys the tick would launch."""
    return {result.key for result in tick.results if result.true_subset.size}


def test_nothing_is_requested_before_any_source_is_imported(workspace: Workspace):
    tick = dg.evaluate_automation_conditions(defs=configure_crm(workspace), instance=dg.DagsterInstance.ephemeral())

    assert requested(tick) == set()


def test_imported_sources_trigger_the_unified_tables_and_their_blocking_checks(workspace: Workspace):
    defs = configure_crm(workspace)
    instance = dg.DagsterInstance.ephemeral()
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert materialize(defs, instance, IMPORT_CRM, IMPORT_ACCOUNTS).success

    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)

    # The Data Hub follows in the same run, once the blocking checks have passed.
    assert requested(tick) == {UNIFIED_PEOPLE, UNIFIED_COMPANIES, *BLOCKING_CHECKS, DATA_HUB}


def test_a_failed_company_suite_keeps_new_people_out_of_unified_people(workspace: Workspace):
    defs = configure_crm(workspace)
    instance = dg.DagsterInstance.ephemeral()
    assert materialize(defs, instance).success
    settled = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert requested(settled) == set()
    insert_unified(workspace, "companies", domain="not a domain")
    assert not materialize(defs, instance, UNIFIED_COMPANIES).success
    workspace.write_csv("contacts.csv", [*CONTACTS, {"id": "c4", "email": "dan@acme.com", "first_name": "Dan"}])
    assert materialize(defs, instance, IMPORT_CRM).success

    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)

    assert UNIFIED_PEOPLE not in requested(tick)
