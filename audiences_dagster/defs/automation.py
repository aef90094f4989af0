"""Declarative automation, switched on from code (Dagster's default sensor starts STOPPED)."""

import dagster as dg

automation_sensor = dg.AutomationConditionSensorDefinition(
    "audiences_automation",
    target=dg.AssetSelection.all(include_sources=False),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
