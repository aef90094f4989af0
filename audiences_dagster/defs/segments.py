"""Dagster wiring for segments: one asset per declared segment, refreshed together in one step
so candidate records are found once per import cycle. Logic lives in audiences_dagster.segments."""


import dagster as dg

from audiences_dagster.config import AudiencesConfig
from audiences_dagster.defs.assets import unified_key
from audiences_dagster.defs.resources import AudiencesResource
from audiences_dagster.segments.membership import refresh_segments
from audiences_dagster.segments.reports import filter_outline, preview_markdown

SEGMENTS_GROUP = "segments"


class SegmentRefreshConfig(dg.Config):
    full: bool = False  # re-evaluate every record, not only the candidates of this cycle


def segment_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(f"segment_{name}")


def build_segment_assets(config: AudiencesConfig) -> list[dg.AssetsDefinition]:
    if not config.segments:
        return []
    specs = [_spec(segment.name, config) for segment in config.segments]
    by_key = {segment_key(s.name): s.name for s in config.segments}

    @dg.multi_asset(name="segments", specs=specs, can_subset=True)
    def _segments(context: dg.AssetExecutionContext, audiences: AudiencesResource,
                  config: SegmentRefreshConfig):
        cfg, store = audiences.config, audiences.store
        names = [by_key[key] for key in context.selected_asset_keys]
        reports = refresh_segments(store, cfg, context.run_id, names, full=config.full)
        for name, report in reports.items():
            context.log.info(f"segment {name}: {report.members:,} members, +{report.entered:,} -{report.exited:,} "
                             f"({report.mode}, {report.seconds:.2f}s)")
            segment = next(s for s in cfg.segments if s.name == name)
            yield dg.MaterializeResult(asset_key=segment_key(name), metadata={
                **report.as_metadata(),
                "dagster/row_count": report.members,
                "preview": dg.MetadataValue.md(preview_markdown(store, cfg, segment)),
            })

    return [_segments]


def _spec(name: str, config: AudiencesConfig) -> dg.AssetSpec:
    segment = next(s for s in config.segments if s.name == name)
    deps = [unified_key(segment.entity)] if config.sources_for(segment.entity) else []
    deps += [segment_key(ref) for ref in segment.referenced_segments()]
    deps += [dg.AssetKey(f"signal_{name}") for name in segment.referenced_signals()]  # see defs/signals.py
    about = segment.description or f"Live segment of {segment.entity}."
    return dg.AssetSpec(
        segment_key(name),
        group_name=SEGMENTS_GROUP,
        deps=deps,
        kinds={"sql"},
        tags={"entity": segment.entity},
        description=f"{about}\n\nFilter:\n{filter_outline(segment)}\n\nMembership is kept in segment_members; "
                    f"every entry and exit is logged in segment_events.",
        # Like the unified tables: refresh after every import cycle, never on unchecked records.
        automation_condition=dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed(),
    )
