"""Dagster wiring only: everything here is built from audiences.yaml by `build_definitions`."""

from __future__ import annotations

import dagster as dg

from audiences_dagster.config import AudiencesConfig
from audiences_dagster.defs.assets import build_import_asset, build_unified_asset
from audiences_dagster.defs.automation import automation_sensor
from audiences_dagster.defs.checks import build_plan_cap_check, build_quality_checks
from audiences_dagster.defs.hub import build_hub_asset
from audiences_dagster.defs.resources import AudiencesResource
from audiences_dagster.defs.segments import build_segment_assets
from audiences_dagster.defs.signals import build_signal_assets
from audiences_dagster.defs.sensors import build_full_sync_schedules, build_refresh_sensors
from audiences_dagster.store.schema import ENTITIES


def build_definitions(config: AudiencesConfig, config_path: str) -> dg.Definitions:
    entities = [e for e in ENTITIES if config.sources_for(e)]
    assets = [build_import_asset(name, config) for name in config.sources]
    assets += [build_unified_asset(e, config) for e in entities]
    assets += build_segment_assets(config)
    assets += [*build_signal_assets(config), build_hub_asset(config)]
    checks = [check for e in entities for check in build_quality_checks(e, config)]
    checks += [build_plan_cap_check(name) for name in config.sources]
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        sensors=[automation_sensor, *build_refresh_sensors(config)],
        schedules=build_full_sync_schedules(config),
        resources={"audiences": AudiencesResource(config_path=config_path)},
        # The heavy work is SQL in the store: a process per step would only add seconds of startup.
        executor=dg.in_process_executor,
    )
