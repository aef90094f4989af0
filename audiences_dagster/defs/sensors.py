"""Dagster wiring for plan-driven refresh: per source a sensor at the plan's cadence that launches
the import only when the source changed, and a weekly full sync for CRM sources. What "changed"
and "due" mean lives in audiences_dagster.sources.refresh."""

from __future__ import annotations

import dagster as dg

from audiences_dagster.config import AudiencesConfig
from audiences_dagster.defs.assets import import_key
from audiences_dagster.defs.resources import AudiencesResource
from audiences_dagster.sources.refresh import (
    WEEKLY_FULL_SYNC_CRON, WEEKLY_FULL_SYNC_TIMEZONE, cadence, check_for_changes, weekly_full_sync_sources,
)

SOURCE_TAG = "audiences/source"
TRIGGER_TAG = "audiences/trigger"
MAX_TAG_LENGTH = 200
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def refresh_sensor_name(source: str) -> str:
    return f"refresh_{source}"


def full_sync_schedule_name(source: str) -> str:
    return f"weekly_full_sync_{source}"


def import_run_config(source: str, full: bool) -> dg.RunConfig:
    """The import asset's run config (ImportConfig): `full` forces a full pass."""
    return dg.RunConfig(ops={import_key(source).to_python_identifier(): {"config": {"full": full}}})


def build_refresh_sensors(config: AudiencesConfig) -> list[dg.SensorDefinition]:
    return [_refresh_sensor(name, config) for name in config.sources]


def build_full_sync_schedules(config: AudiencesConfig) -> list[dg.ScheduleDefinition]:
    return [_full_sync_schedule(name) for name in weekly_full_sync_sources(config)]


def _refresh_sensor(name: str, config: AudiencesConfig) -> dg.SensorDefinition:
    every = config.refresh_seconds

    @dg.sensor(
        name=refresh_sensor_name(name),
        target=[import_key(name)],
        minimum_interval_seconds=every,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Polls source '{name}' for changes every {cadence(every)} ({config.plan.value} plan) and "
                    f"imports it only when something changed; the run key makes one change import once.",
    )
    def _sensor(context: dg.SensorEvaluationContext, audiences: AudiencesResource):
        busy = _import_in_flight(context.instance, name)
        if busy is not None:
            return dg.SkipReason(f"{name}: an import is already queued or running (run {busy}); "
                                 f"the next tick polls again")
        found = check_for_changes(audiences.store, audiences.config, name)
        if not found.changed:
            return dg.SkipReason(f"{name}: {found.detail}")
        context.log.info(f"{name}: {found.detail}; requesting an import")
        return dg.RunRequest(
            run_key=found.run_key, run_config=import_run_config(name, full=False),
            tags={SOURCE_TAG: name, TRIGGER_TAG: "refresh_sensor",
                  "audiences/change": found.detail[:MAX_TAG_LENGTH]})

    return _sensor


def _import_in_flight(instance: dg.DagsterInstance, source: str) -> str | None:
    """The id of a queued or running import of this source: two imports of one source at once
    would race on its sync cursor (dagster.yaml also limits runs to one per source tag)."""
    runs = instance.get_runs(dg.RunsFilter(tags={SOURCE_TAG: source}, statuses=IN_FLIGHT), limit=1)
    return runs[0].run_id if runs else None


def _full_sync_schedule(name: str) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=full_sync_schedule_name(name),
        target=[import_key(name)],
        cron_schedule=WEEKLY_FULL_SYNC_CRON,
        execution_timezone=WEEKLY_FULL_SYNC_TIMEZONE,
        run_config=import_run_config(name, full=True),
        tags={SOURCE_TAG: name, TRIGGER_TAG: "weekly_full_sync"},
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Weekly full sync of CRM source '{name}': records missing from it (hard deletes) are "
                    f"marked deleted in source.",
    )
