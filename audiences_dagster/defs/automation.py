"""Declarative automation, switched on from code (Dagster's default sensor starts STOPPED)."""

import dagster as dg

automation_sensor = dg.AutomationConditionSensorDefinition(
    "audiences_automation",
    target=dg.AssetSelection.all(),  # source assets are excluded by default
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
