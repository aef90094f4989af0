"""Assets built from audiences.yaml: one import asset per source, then the unified tables."""


import dagster as dg

from audiences_dagster.config import AudiencesConfig
from audiences_dagster.defs.resources import AudiencesResource
from audiences_dagster.identity.resolve import unify
from audiences_dagster.sources.importer import import_source
from audiences_dagster.store import reports

QUARANTINE_CHECK = "quarantine_within_limit"
SOURCES_GROUP = "sources"
IDENTITY_GROUP = "identity"


class ImportConfig(dg.Config):
    full: bool = False  # force a full pass: rows missing from it are marked deleted in source


def import_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(f"import_{source}")


def unified_key(entity: str) -> dg.AssetKey:
    return dg.AssetKey(f"unified_{entity}")


def build_import_asset(name: str, config: AudiencesConfig) -> dg.AssetsDefinition:
    source = config.sources[name]
    key = import_key(name)
    where = source.path if source.kind == "csv" else "a SQL warehouse query"
    crm = {"salesforce": "Salesforce", "hubspot": "HubSpot"}.get(source.kind)
    if crm:
        where = f"{crm} {source.object} (connection '{source.connection}')"

    @dg.asset(
        key=key,
        group_name=SOURCES_GROUP,
        kinds={source.kind},
        description=f"Imports {source.entity} from {where} (source '{name}', tier {source.effective_tier.value}) "
                    f"into source_{source.entity}, in batches of {config.batch_size:,}.",
        check_specs=[dg.AssetCheckSpec(
            QUARANTINE_CHECK, asset=key,
            description=f"WARN when more than {config.checks.quarantine.limit(name):.1%} of the rows an import "
                        "reads are quarantined as malformed; the counts by reason are always in its metadata.")],
        tags={"entity": source.entity},
    )
    def _import(context: dg.AssetExecutionContext, audiences: AudiencesResource,
                config: ImportConfig) -> dg.MaterializeResult:
        report = import_source(audiences.store, audiences.config, name, context.run_id, full=config.full)
        context.log.info(f"{name}: {report.plan or report.skipped}; read {report.rows_read:,} rows, "
                         f"kept {report.records_kept:,}, quarantined {report.quarantined:,}")
        limit = audiences.config.checks.quarantine.limit(name)
        passed = report.quarantined_share <= limit
        return dg.MaterializeResult(
            metadata={**report.as_metadata(),
                      "quarantined_by_reason": dg.MetadataValue.json(dict(report.quarantined_rows)),
                      "dropped_values_by_reason": dg.MetadataValue.json(dict(report.dropped_values))},
            check_results=[dg.AssetCheckResult(
                check_name=QUARANTINE_CHECK, passed=passed, severity=dg.AssetCheckSeverity.WARN,
                metadata={"rows_read": report.rows_read, "quarantined_rows": report.quarantined,
                          "quarantined_share": round(report.quarantined_share, 6), "max_share": limit,
                          "by_reason": dg.MetadataValue.json(dict(report.quarantined_rows))},
                description=None if passed else
                f"{report.quarantined:,} of {report.rows_read:,} rows ({report.quarantined_share:.2%}) quarantined "
                f"as malformed, above the {limit:.1%} limit; see the quarantine table")],
        )

    return _import


def build_unified_asset(entity: str, config: AudiencesConfig) -> dg.AssetsDefinition:
    deps = [import_key(n) for n in config.sources_for(entity)]
    if entity == "people" and config.sources_for("companies"):
        deps.append(unified_key("companies"))

    @dg.asset(
        key=unified_key(entity),
        group_name=IDENTITY_GROUP,
        deps=deps,
        kinds={"sql"},
        description=f"One record per {'person' if entity == 'people' else 'company'}: resolves pending source "
                    f"records through deterministic keys, logs merges, applies field survivorship.",
        # eager() alone ignores upstream blocking checks: a failed unified_companies suite would
        # still let unified_people run on the next import.
        automation_condition=dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed(),
    )
    def _unified(context: dg.AssetExecutionContext, audiences: AudiencesResource) -> dg.MaterializeResult:
        store = audiences.store
        report = unify(store, audiences.config, entity, context.run_id)
        counts = reports.entity_counts(store, entity)
        context.log.info(f"unified_{entity}: {report.pending:,} pending records resolved in {report.seconds:.2f}s")
        return dg.MaterializeResult(metadata={
            **report.as_metadata(), **counts,
            "dagster/row_count": counts["unified_records"],
            "merges_by_reason": dg.MetadataValue.json(dict(report.merges)),
            "blocked_links_by_key": dg.MetadataValue.json(dict(report.blocked)),
            "quarantine_by_source": dg.MetadataValue.json(reports.quarantine_by_reason(store)),
            "preview": dg.MetadataValue.md(reports.preview_markdown(store, entity)),
        })

    return _unified
