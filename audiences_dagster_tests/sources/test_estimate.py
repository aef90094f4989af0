"""`audiences estimate`: the API math for the configured sources (records / 50,000 import calls,
records / 10,000 export batches, the plan's polls) against the CRM connections' daily limits."""

from __future__ import annotations

import pytest

from audiences_dagster import cli
from audiences_dagster.sources import estimate as estimates
from audiences_dagster.sources.estimate import SourceEstimate, estimate, render
from audiences_dagster.sources.importer import READERS
from audiences_dagster_tests.sources.warehouse import Warehouse, contact
from audiences_dagster_tests.support import Workspace, people_source

PEOPLE = [{"id": f"p{i}", "email": f"person{i}@acme.com", "linkedin": "", "first_name": f"P{i}"} for i in range(3)]
HUBSPOT = {"hub": {"kind": "hubspot", "access_token_env": "HUBSPOT_TOKEN", "daily_request_limit": 1_000}}


def test_import_calls_are_records_over_50000_and_export_batches_records_over_10000():
    source = SourceEstimate("crm", "salesforce", 120_001, "counted by the salesforce connector", polls_per_day=96)

    assert (source.import_calls, source.export_batches, source.calls_per_day) == (3, 13, 99)


def test_a_csv_is_counted_by_its_rows(workspace: Workspace):
    workspace.write_csv("people.csv", [*PEOPLE, {**PEOPLE[0], "id": "multi", "first_name": "two\nlines"}])
    config = workspace.configure({"crm": people_source("people.csv")})

    [source] = estimate(config, workspace.store).sources

    assert (source.records, source.counted_from, source.import_calls) == (4, "rows in the file", 1)


def test_a_warehouse_is_counted_by_its_query(workspace: Workspace, warehouse: Warehouse):
    warehouse.put(*(contact(f"c{i}") for i in range(7)))
    config = workspace.configure({"wh": warehouse.source()})

    [source] = estimate(config, workspace.store).sources

    assert (source.records, source.counted_from) == (7, "COUNT(*) over the query")


@pytest.mark.parametrize(("plan", "polls"), [("growth", 1), ("enterprise", 96)])
def test_polls_per_day_follow_the_plans_cadence(workspace: Workspace, plan: str, polls: int):
    workspace.write_csv("people.csv", PEOPLE)
    config = workspace.configure({"crm": people_source("people.csv")}, plan=plan)

    assert estimate(config, workspace.store).sources[0].polls_per_day == polls


def test_a_connector_without_a_count_is_counted_from_the_store_and_says_so(
        workspace: Workspace, monkeypatch: pytest.MonkeyPatch):
    workspace.write_csv("people.csv", PEOPLE)
    config = workspace.configure({"crm": people_source("people.csv")})
    workspace.import_all()
    monkeypatch.delitem(READERS, "csv")  # a connector that cannot count its records

    [source] = estimate(config, workspace.store).sources

    assert source.records == 3
    assert source.counted_from == "the store, as of the last import (the connector offers no count)"


def test_crm_calls_are_summed_per_connection_against_its_daily_limit(
        workspace: Workspace, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(estimates, "CRM_KINDS", frozenset({"csv"}))  # files standing in for CRM objects
    workspace.write_csv("people.csv", PEOPLE)
    config = workspace.configure({"contacts": people_source("people.csv", connection="hub"),
                                  "leads": people_source("people.csv", connection="hub")},
                                 plan="enterprise", connections=HUBSPOT)

    [hub] = estimate(config, workspace.store).connections

    assert (hub.name, hub.daily_limit, hub.calls_per_day) == ("hub", 1_000, 2 * (1 + 96))
    assert hub.share_of_limit == pytest.approx(0.194)


def test_estimate_prints_the_math_per_source_and_the_totals(
        workspace: Workspace, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    workspace.write_csv("people.csv", PEOPLE)
    workspace.configure({"crm": people_source("people.csv")}, plan="enterprise")
    monkeypatch.setenv("AUDIENCES_CONFIG", str(workspace.config_path))

    code = cli.main(["estimate"])

    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("API math for 1 source(s), 3 records (enterprise plan: changes polled every 15 min)")
    assert [line.split()[:6] for line in out.splitlines() if line.strip().startswith("crm ")] == [
        ["crm", "csv", "3", "1", "1", "96"]]
    assert "no CRM sources: files and warehouses have no API limit" in out


def test_rendered_connections_show_the_share_of_the_daily_limit(
        workspace: Workspace, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(estimates, "CRM_KINDS", frozenset({"csv"}))
    workspace.write_csv("people.csv", PEOPLE)
    config = workspace.configure({"contacts": people_source("people.csv", connection="hub")},
                                 plan="enterprise", connections=HUBSPOT)

    text = render(estimate(config, workspace.store))

    assert "  hub (hubspot): 97 calls/day of 1,000 (9.70%)" in text
