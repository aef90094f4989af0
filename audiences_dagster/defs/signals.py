"""Dagster wiring for signals: one asset per declared signal, all detected in one subsettable step,
each on its own recurrence. Logic lives in audiences_dagster.signals."""

import dagster as dg

from audiences_dagster.config import AudiencesConfig
from audiences_dagster.config.signals import SignalConfig
from audiences_dagster.defs.assets import unified_key
from audiences_dagster.defs.resources import AudiencesResource
from audiences_dagster.defs.segments import segment_key
from audiences_dagster.signals.detect import recent_events, run_signals
from audiences_dagster.store.reports import markdown_table

SIGNALS_GROUP = "signals"


def signal_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(f"signal_{name}")


def build_signal_assets(config: AudiencesConfig) -> list[dg.AssetsDefinition]:
    if not config.signals:
        return []
    by_key = {signal_key(s.name): s.name for s in config.signals}

    @dg.multi_asset(name="signals", specs=[_spec(s, config) for s in config.signals], can_subset=True)
    def _signals(context: dg.AssetExecutionContext, audiences: AudiencesResource):
        store = audiences.store
        names = [by_key[key] for key in context.selected_asset_keys]
        for name, report in run_signals(store, audiences.config, context.run_id, names).items():
            context.log.info(f"signal {name}: {report.new_events:,} new events ({report.mode}, {report.seconds:.2f}s)")
            rows = recent_events(store, name)
            yield dg.MaterializeResult(asset_key=signal_key(name), metadata={
                **report.as_metadata(),
                "recent_events": dg.MetadataValue.md(markdown_table(
                    ["record", "fired_at", "old", "new"], rows) if rows else "no events yet"),
            })

    return [_signals]


def _spec(signal: SignalConfig, config: AudiencesConfig) -> dg.AssetSpec:
    deps = [unified_key(signal.entity)] if config.sources_for(signal.entity) else []
    if signal.segment:
        deps.append(segment_key(signal.segment))
    about = signal.description or f"{signal.kind.replace('_', ' ')} signal on {signal.entity}."
    return dg.AssetSpec(
        signal_key(signal.name),
        group_name=SIGNALS_GROUP,
        deps=deps,
        kinds={"sql"},
        tags={"entity": signal.entity, "signal_kind": signal.kind},
        description=f"{about}\n\nReads field_history for '{signal.watched_field}'; the first run looks back "
                    f"{signal.look_back_months} months, then it runs {signal.recurrence}. Events are kept in "
                    f"signal_events, the per-record summary in signal_summary.",
        automation_condition=dg.AutomationCondition.on_cron(signal.cron),
    )
