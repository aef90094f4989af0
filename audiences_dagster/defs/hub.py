"""Dagster wiring for the Data Hub: an asset whose metadata is the hub's markdown tables,
refreshed after the unified tables and signals change. Logic lives in audiences_dagster.hub."""

import dagster as dg

from audiences_dagster.config import AudiencesConfig
from audiences_dagster.defs.assets import unified_key
from audiences_dagster.defs.resources import AudiencesResource
from audiences_dagster.defs.signals import signal_key
from audiences_dagster.hub.report import RECENT_DAYS, build_data_hub
from audiences_dagster.store.schema import ENTITIES

DATA_HUB = dg.AssetKey("data_hub")


def build_hub_asset(config: AudiencesConfig) -> dg.AssetsDefinition:
    deps = [unified_key(e) for e in ENTITIES if config.sources_for(e)]
    deps += [signal_key(s.name) for s in config.signals]

    @dg.asset(key=DATA_HUB, group_name="hub", deps=deps, kinds={"sql"},
              description="The Data Hub: record, field and signal counts; per field its fill rate, sources and "
                          f"type; signals fired in the last {RECENT_DAYS} days. Also `audiences hub`.",
              # Like the segments: after the unified tables change, never on unchecked records.
              automation_condition=dg.AutomationCondition.eager()
              & dg.AutomationCondition.all_deps_blocking_checks_passed())
    def data_hub(audiences: AudiencesResource) -> dg.MaterializeResult:
        hub = build_data_hub(audiences.store, audiences.config)
        return dg.MaterializeResult(metadata={
            **hub.totals,
            "records_table": dg.MetadataValue.md(hub.records_markdown()),
            "fields_table": dg.MetadataValue.md(hub.fields_markdown()),
            "signals_table": dg.MetadataValue.md(hub.signals_markdown()),
        })

    return data_hub
