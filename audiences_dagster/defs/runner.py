"""Materialize the whole graph in-process against the Dagster instance in $DAGSTER_HOME, so
runs started from the CLI (and `make demo`) show up in the Dagster UI."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from audiences_dagster.config import AudiencesConfig, load_config
from audiences_dagster.defs import build_definitions
from audiences_dagster.store import reports
from audiences_dagster.store.api import Store
from audiences_dagster.store.schema import ENTITIES


# Step-by-step DEBUG events belong in the Dagster UI; the terminal gets warnings, errors and the summary.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def materialize_all(config_file: str | os.PathLike) -> dg.ExecuteInProcessResult:
    path = str(Path(config_file).resolve())
    defs = build_definitions(load_config(path), path)
    job = defs.resolve_implicit_global_asset_job_def()
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    with instance:
        return job.execute_in_process(instance=instance, run_config=QUIET_CONSOLE, raise_on_error=False,
                                      tags={"audiences/trigger": "cli"})


def print_summary(config: AudiencesConfig, result: dg.ExecuteInProcessResult) -> None:
    """Records read per source, unified records, merges, quarantine and checks, in one screen."""
    meta = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
    print("\nRows per source (read = kept + quarantined as malformed + held back at the plan cap)")
    print(f"  {'source':<22} {'entity':<10} {'read':>8} {'kept':>8} {'quarantined':>12} {'held back':>10}")
    for name, source in config.sources.items():
        m = {k: v.value for k, v in meta.get(f"import_{name}", {}).items()}
        if "rows_read" not in m:
            print(f"  {name:<22} {source.entity:<10} {'not run':>8}")
            continue
        readmitted = f"   (+{m['readmitted_records']:,} re-admitted)" if m.get("readmitted_records") else ""
        print(f"  {name:<22} {source.entity:<10} {m['rows_read']:>8,} {m['records_kept']:>8,} "
              f"{m['quarantined_rows']:>12,} {m.get('held_back_at_cap', 0):>10,}{readmitted}")
    store = Store.from_config(config)
    try:
        print("\nUnified records")
        for entity in ENTITIES:
            if not config.sources_for(entity):
                continue
            counts = reports.entity_counts(store, entity)
            merges = reports.merges_by_reason(store, entity)
            blocked = reports.blocked_links(store, entity)
            print(f"  {entity:<10} {counts['unified_records']:>7,} from {counts['source_records']:,} source records; "
                  f"merges by reason: {_pairs(merges)}; links blocked by merge protection: {_pairs(blocked)}")
        print("\nQuarantine (row = whole row set aside, value = one bad value dropped)")
        for source, reasons in sorted(reports.quarantine_by_reason(store).items()):
            print(f"  {source:<22} {_pairs(reasons)}")
    finally:
        store.dispose()
    _print_segments(config, meta)
    print("\nChecks")
    for e in result.get_asset_check_evaluations():
        state = "passed" if e.passed else f"FAILED ({e.severity.value})"
        print(f"  {e.asset_key.to_user_string() + ':' + e.check_name:<56} {state}")
    print(f"\nRun {result.run_id}: {'SUCCESS' if result.success else 'FAILURE'}")


def _print_segments(config: AudiencesConfig, meta: dict) -> None:
    """Members and this run's entries and exits, per segment."""
    if not config.segments:
        return
    print("\nSegments (members, entered / exited this run)")
    for segment in config.segments:
        m = meta.get(f"segment_{segment.name}", {})
        if "members" not in m:
            print(f"  {segment.name:<26} {segment.entity:<10} not refreshed")
            continue
        print(f"  {segment.name:<26} {segment.entity:<10} {m['members'].value:>7,}  "
              f"+{m['entered'].value:,} / -{m['exited'].value:,}")


def _pairs(counts: dict) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) or "none"
