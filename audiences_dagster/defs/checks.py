"""Blocking data-quality checks on the unified tables: Great Expectations in the database, plus
a cheap structural check that nothing is left unresolved."""


import dagster as dg
import sqlalchemy as sa

from audiences_dagster.config import AudiencesConfig
from audiences_dagster.defs.assets import import_key, unified_key
from audiences_dagster.defs.resources import AudiencesResource
from audiences_dagster.quality.suites import Thresholds, validate_unified_table

GX_CHECK = "great_expectations_suite"
RESOLVED_CHECK = "all_source_records_resolved"
PLAN_CAP_CHECK = "within_plan_cap"


def build_quality_checks(entity: str, config: AudiencesConfig) -> list[dg.AssetChecksDefinition]:
    key = unified_key(entity)

    @dg.asset_check(
        asset=key, name=GX_CHECK, blocking=True,
        automation_condition=dg.AutomationCondition.eager(),
        description="Blocks write-back. Unique ids; emails, domains and LinkedIn URLs in canonical form; "
                    "identity-key coverage and fill rates at least their audiences.yaml thresholds. "
                    "Validated in the store by Great Expectations.",
    )
    def _gx(audiences: AudiencesResource) -> dg.AssetCheckResult:
        cfg = audiences.config
        result = validate_unified_table(
            audiences.store.url, f"unified_{entity}", entity, cfg.fields(entity), Thresholds.of(cfg, entity))
        return dg.AssetCheckResult(
            passed=result.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description=None if result.passed else "; ".join(result.errors + result.failures)[:1000],
            metadata={"evaluated": result.evaluated, "successful": result.successful,
                      "failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in result.failures) or "none"),
                      "errors": dg.MetadataValue.md("\n".join(f"- {e}" for e in result.errors) or "none"),
                      "summary": dg.MetadataValue.md(result.summary_markdown)},
        )

    @dg.asset_check(
        asset=key, name=RESOLVED_CHECK, blocking=True,
        automation_condition=dg.AutomationCondition.eager(),
        description="Every source record belongs to exactly one unified record that exists.",
    )
    def _resolved(audiences: AudiencesResource) -> dg.AssetCheckResult:
        store = audiences.store
        src, unified = store.tables.source(entity), store.tables.unified(entity)
        pending = store.pending_count(entity)
        orphans = store.count(src, ~sa.exists().where(unified.c.id == src.c.unified_id))
        return dg.AssetCheckResult(
            passed=pending == 0 and orphans == 0, severity=dg.AssetCheckSeverity.ERROR,
            metadata={"pending_records": pending, "records_without_unified_row": orphans})

    return [_gx, _resolved]


# What the import reports about the cap (records_in_plan_at_most when far from it, uncounted).
CAP_METADATA = ("plan_record_cap", "records_in_plan", "records_in_plan_at_most", "held_back_at_cap")


def build_plan_cap_check(name: str) -> dg.AssetChecksDefinition:
    """ERROR when the import held new records back at the plan's cap. Not blocking: the records
    imported up to the cap, and updates to them, still reach the unified tables."""
    key = import_key(name)

    @dg.asset_check(
        asset=key, name=PLAN_CAP_CHECK,
        description="The import stayed within the plan's record cap (people + companies); fails with the "
                    "reason when new records were held back.",
    )
    def _within_cap(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        event = context.instance.get_latest_materialization_event(key)
        found = event.asset_materialization.metadata if event and event.asset_materialization else {}
        meta = {k: getattr(v, "value", v) for k, v in found.items()}
        held = int(meta.get("held_back_at_cap") or 0)
        return dg.AssetCheckResult(
            passed=held == 0, severity=dg.AssetCheckSeverity.ERROR,
            description=meta.get("cap_reason") or None,
            metadata={k: int(meta[k]) for k in CAP_METADATA if k in meta})

    return _within_cap
