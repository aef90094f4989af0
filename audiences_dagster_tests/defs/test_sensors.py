"""Refresh sensors and the weekly full sync, as Dagster evaluates them: ticks with and without
changes at both plan cadences, run keys, skip reasons, default statuses, and the unified tables
following a sensor-launched import through automation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import dagster as dg
import pytest

from audiences_dagster.defs import build_definitions
from audiences_dagster.defs.assets import QUARANTINE_CHECK
from audiences_dagster.defs.checks import PLAN_CAP_CHECK
from audiences_dagster.defs.resources import AudiencesResource
from audiences_dagster.defs.sensors import SOURCE_TAG, full_sync_schedule_name, refresh_sensor_name
from audiences_dagster.sources import refresh
from audiences_dagster_tests.defs.graph import QUIET, UNIFIED_PEOPLE, metadata_of
from audiences_dagster_tests.defs.test_automation import requested
from audiences_dagster_tests.sources.conftest import postgres_warehouse_url, warehouse  # noqa: F401 (fixtures)
from audiences_dagster_tests.sources.warehouse import Warehouse, contact
from audiences_dagster_tests.support import Workspace, people_source

ANN = {"id": "p1", "email": "ann@acme.com", "linkedin": "", "first_name": "Ann"}
BOB = {"id": "p2", "email": "bob@globex.com", "linkedin": "", "first_name": "Bob"}
PLAN_CADENCE = {"growth": 24 * 60 * 60, "enterprise": 15 * 60}
SUNDAY_3AM = datetime(2026, 11, 22, 3, 0, tzinfo=timezone.utc)


def configure(workspace: Workspace, plan: str = "growth", **sources) -> dg.Definitions:
    config = workspace.configure(sources or {"crm": people_source("people.csv")}, plan=plan)
    return build_definitions(config, str(workspace.config_path.resolve()))


@contextmanager
def sensor_context(workspace: Workspace, instance: dg.DagsterInstance) -> Iterator[dg.SensorEvaluationContext]:
    resources = {"audiences": AudiencesResource(config_path=str(workspace.config_path.resolve()))}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        yield context


def tick(defs: dg.Definitions, workspace: Workspace, instance: dg.DagsterInstance, source: str = "crm"):
    with sensor_context(workspace, instance) as context:
        return defs.resolve_sensor_def(refresh_sensor_name(source)).evaluate_tick(context)


def launch(defs: dg.Definitions, instance: dg.DagsterInstance, job_name: str,
           request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """Run what a sensor or schedule requested, the way the daemon would: its job, config and tags."""
    job = defs.resolve_job_def(job_name)
    return job.execute_in_process(instance=instance, run_config={**request.run_config, **QUIET},
                                  tags=request.tags, raise_on_error=False)


@pytest.mark.parametrize("plan", ["growth", "enterprise"])
def test_every_source_has_a_refresh_sensor_running_by_default_at_the_plans_cadence(workspace: Workspace, plan: str):
    workspace.write_csv("people.csv", [ANN])
    workspace.write_csv("more.csv", [BOB])

    defs = configure(workspace, plan, crm=people_source("people.csv"), events=people_source("more.csv"))

    for name in ("crm", "events"):
        sensor = defs.resolve_sensor_def(refresh_sensor_name(name))
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
        assert sensor.minimum_interval_seconds == PLAN_CADENCE[plan]


@pytest.mark.parametrize("plan", ["growth", "enterprise"])
def test_a_tick_after_a_change_requests_the_import_under_a_run_key(workspace: Workspace, plan: str):
    workspace.write_csv("people.csv", [ANN])
    defs = configure(workspace, plan)

    result = tick(defs, workspace, dg.DagsterInstance.ephemeral())

    [request] = result.run_requests
    job = defs.resolve_job_def(defs.resolve_sensor_def(refresh_sensor_name("crm")).job_name)
    assert request.run_key.startswith("crm-") and job.asset_layer.selected_asset_keys == {dg.AssetKey("import_crm")}
    assert request.tags[SOURCE_TAG] == "crm" and "never imported" in request.tags["audiences/change"]
    assert result.skip_message is None


@pytest.mark.parametrize("plan", ["growth", "enterprise"])
def test_a_tick_without_a_change_skips_with_the_reason(workspace: Workspace, plan: str):
    workspace.write_csv("people.csv", [ANN])
    defs = configure(workspace, plan)
    workspace.import_all()

    result = tick(defs, workspace, dg.DagsterInstance.ephemeral())

    assert result.run_requests == []
    assert result.skip_message.startswith("crm: file people.csv with content ")
    assert result.skip_message.endswith("unchanged since the last complete import")


def test_ticks_before_the_import_has_run_repeat_the_same_run_key(workspace: Workspace):
    workspace.write_csv("people.csv", [ANN])
    defs = configure(workspace)
    instance = dg.DagsterInstance.ephemeral()

    first, second = tick(defs, workspace, instance), tick(defs, workspace, instance)

    assert first.run_requests[0].run_key == second.run_requests[0].run_key


def test_the_requested_run_imports_and_the_next_tick_skips(workspace: Workspace):
    workspace.write_csv("people.csv", [ANN, BOB])
    defs = configure(workspace)
    instance = dg.DagsterInstance.ephemeral()
    sensor = defs.resolve_sensor_def(refresh_sensor_name("crm"))
    [request] = tick(defs, workspace, instance).run_requests

    run = launch(defs, instance, sensor.job_name, request)

    assert run.success and metadata_of(run, dg.AssetKey("import_crm"))["inserted"] == 2
    assert tick(defs, workspace, instance).run_requests == []


def test_a_warehouse_row_updated_after_the_import_triggers_a_new_run_key(workspace: Workspace, warehouse: Warehouse):
    warehouse.put(contact("c1", 0))
    defs = configure(workspace, "enterprise", wh=warehouse.source())
    instance = dg.DagsterInstance.ephemeral()
    before = tick(defs, workspace, instance, "wh").run_requests[0].run_key
    workspace.import_all()
    assert tick(defs, workspace, instance, "wh").skip_message == "wh: no row updated past the last import"
    warehouse.put(contact("c1", 10, name="Renamed"))

    [request] = tick(defs, workspace, instance, "wh").run_requests

    assert request.run_key != before and "newest row 'c1'" in request.tags["audiences/change"]


def test_a_sensor_launched_import_requests_the_unified_tables(workspace: Workspace):
    workspace.write_csv("people.csv", [ANN])
    defs = configure(workspace)
    instance = dg.DagsterInstance.ephemeral()
    settled = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    [request] = tick(defs, workspace, instance).run_requests
    assert launch(defs, instance, defs.resolve_sensor_def(refresh_sensor_name("crm")).job_name, request).success

    automation = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)

    assert UNIFIED_PEOPLE in requested(automation)


def test_file_and_warehouse_sources_get_no_weekly_full_sync(workspace: Workspace, warehouse: Warehouse):
    workspace.write_csv("people.csv", [ANN])

    defs = configure(workspace, crm=people_source("people.csv"), wh=warehouse.source())

    assert list(defs.schedules or []) == []


def test_crm_sources_get_a_weekly_full_sync_running_by_default(
        workspace: Workspace, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(refresh, "CRM_KINDS", frozenset({"csv"}))  # a file standing in for a CRM object
    workspace.write_csv("people.csv", [ANN])

    defs = configure(workspace)

    schedule = defs.resolve_schedule_def(full_sync_schedule_name("crm"))
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 3 * * 0", "UTC")


def test_the_weekly_full_sync_runs_a_full_pass(
        workspace: Workspace, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(refresh, "CRM_KINDS", frozenset({"sql"}))  # a warehouse standing in for a CRM object
    warehouse.put(contact("c1", 0), contact("c2", 1))
    defs = configure(workspace, wh=warehouse.source())
    workspace.import_all()
    warehouse.remove("c2")
    schedule = defs.resolve_schedule_def(full_sync_schedule_name("wh"))
    [request] = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=SUNDAY_3AM)).run_requests

    run = launch(defs, dg.DagsterInstance.ephemeral(), schedule.job_name, request)

    imported = metadata_of(run, dg.AssetKey("import_wh"))
    assert (imported["plan"], imported["deleted_in_source"]) == ("full pass over the query", 1)
    assert (request.tags[SOURCE_TAG], request.tags["audiences/trigger"]) == ("wh", "weekly_full_sync")


def test_a_sensor_launched_import_runs_its_checks(workspace: Workspace):
    workspace.write_csv("people.csv", [ANN])
    defs = configure(workspace)
    instance = dg.DagsterInstance.ephemeral()
    [request] = tick(defs, workspace, instance).run_requests

    run = launch(defs, instance, defs.resolve_sensor_def(refresh_sensor_name("crm")).job_name, request)

    assert {e.check_name for e in run.get_asset_check_evaluations()} == {QUARANTINE_CHECK, PLAN_CAP_CHECK}


def test_a_tick_while_an_import_of_the_source_is_running_skips(workspace: Workspace):
    workspace.write_csv("people.csv", [ANN])
    defs = configure(workspace)
    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_job_def(defs.resolve_sensor_def(refresh_sensor_name("crm")).job_name)
    running = instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED, tags={SOURCE_TAG: "crm"})

    result = tick(defs, workspace, instance)

    assert result.run_requests == []
    assert result.skip_message == f"crm: an import is already queued or running (run {running.run_id}); " \
                                  f"the next tick polls again"
