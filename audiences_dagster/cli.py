"""The `audiences` command: run the demo, materialize the graph, read history, undo merges."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from audiences_dagster.config import ConfigError, config_path, load_config

HOME_ENV = "AUDIENCES_HOME"
DEMO_CONFIG = Path(__file__).parent / "demo" / "audiences.yaml"
INSTANCE_YAML = "telemetry:\n  enabled: false\n"
DEMO_SANDBOX_DB = "crm_sandbox.db"  # next to the demo data: `make sandbox` serves the same CRM again


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.config:
        os.environ["AUDIENCES_CONFIG"] = str(Path(args.config).resolve())
    try:
        return args.handler(args) or 0
    except ConfigError as exc:
        print(f"ConfigError: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the user sees one line naming what to fix, not a traceback
        from audiences_dagster.identity.merges import MergeError
        from audiences_dagster.sources.base import SourceError
        from audiences_dagster.store.api import StoreError

        if isinstance(exc, (SourceError, StoreError, MergeError)):
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
        raise


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audiences", description=__doc__)
    parser.add_argument("--config", help="path to audiences.yaml (default: $AUDIENCES_CONFIG or ./audiences.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="generate the bundled demo data and materialize the whole graph")
    demo.add_argument("--home", default=os.environ.get(HOME_ENV, ".audiences_home"))
    demo.add_argument("--people", type=int, default=3000)
    demo.add_argument("--companies", type=int, default=600)
    demo.set_defaults(handler=_demo)

    run = sub.add_parser("run", help="materialize every asset and check (Dagster instance from $DAGSTER_HOME)")
    run.set_defaults(handler=_run)

    migrate = sub.add_parser("migrate", help="create or upgrade the store schema")
    migrate.set_defaults(handler=_migrate)

    history = sub.add_parser("history", help="a record's field changes, merges and splits")
    history.add_argument("entity", choices=["people", "companies"])
    history.add_argument("record_id", type=int)
    history.set_defaults(handler=_history)

    merges = sub.add_parser("merges", help="the merge log, newest first")
    merges.add_argument("entity", choices=["people", "companies"])
    merges.add_argument("--record", type=int, help="only merges into or out of this record")
    merges.add_argument("--limit", type=int, default=20)
    merges.set_defaults(handler=_merges)

    split = sub.add_parser("split", help="undo a merge: the absorbed records come back as they were")
    split.add_argument("merge_id", type=int)
    split.set_defaults(handler=_split)

    explain = sub.add_parser("explain", help="which conditions of a segment a record meets and which it fails")
    explain.add_argument("segment")
    explain.add_argument("record_id", type=int)
    explain.set_defaults(handler=_explain)

    hub = sub.add_parser("hub", help="the Data Hub: record, field and signal counts, fill rates, recent signals")
    hub.set_defaults(handler=_hub)

    estimate = sub.add_parser("estimate", help="the API math for the configured sources against the CRMs' daily limits")
    estimate.set_defaults(handler=_estimate)

    sandbox = sub.add_parser("sandbox", help="serve the local Salesforce/HubSpot-compatible CRM sandbox until Ctrl-C")
    sandbox.add_argument("--db", default=os.path.join(os.environ.get(HOME_ENV, ".audiences_home"), "crm_sandbox.db"))
    sandbox.add_argument("--contacts", type=int, default=1000, help="Salesforce contacts to seed an empty sandbox")
    sandbox.add_argument("--hubspot-contacts", type=int, default=None, help="default: as many as --contacts")
    sandbox.add_argument("--companies", type=int, default=300)
    sandbox.set_defaults(handler=_sandbox)
    return parser


@contextmanager
def _store() -> Iterator[tuple]:
    """The configured store, migrated, and closed again when the command is done."""
    from audiences_dagster.store.api import Store

    config = load_config()
    store = Store.from_config(config)
    try:
        store.migrate()
        yield config, store
    finally:
        store.dispose()


def _migrate(args) -> int:
    with _store() as (_, store):
        print(f"store at {store.safe_url} is up to date")
    return 0


def _run(args) -> int:
    from audiences_dagster.defs.runner import materialize_all, print_summary

    config = load_config()
    result = materialize_all(config_path())
    print_summary(config, result)
    return 0 if result.success else 1


def _demo(args) -> int:
    """Fresh demo data, CRM sandbox and store each time, in a project-local home; Dagster runs are kept.
    The CRM sources read the sandbox through the real connectors; its URLs and credentials reach them as
    environment variables of this process only, for as long as the sandbox runs."""
    from audiences_dagster.demo import generate_demo
    from audiences_dagster.defs.runner import materialize_all, print_summary
    from audiences_dagster.sandbox import running_sandbox

    home = Path(args.home).resolve()
    data = home / "demo"
    if data.exists():
        shutil.rmtree(data)
    counts = generate_demo(data, people=args.people, companies=args.companies)
    shutil.copy(DEMO_CONFIG, data / "audiences.yaml")
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    if not (dagster_home / "dagster.yaml").exists():
        (dagster_home / "dagster.yaml").write_text(INSTANCE_YAML)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    os.environ["AUDIENCES_CONFIG"] = str(data / "audiences.yaml")
    with running_sandbox(data / DEMO_SANDBOX_DB) as sandbox:
        seeded = sandbox.seed(world="demo", people=args.people, companies=args.companies)
        print(f"demo data in {data}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        print(f"CRM sandbox (local, 127.0.0.1) seeded: Salesforce {seeded.accounts:,} accounts, {seeded.contacts:,} "
              f"contacts, {seeded.leads:,} leads ({seeded.converted_leads:,} converted); HubSpot "
              f"{seeded.hubspot_companies:,} companies, {seeded.hubspot_contacts:,} contacts")
        with _environment(sandbox.environment()):
            config = load_config(data / "audiences.yaml")
            result = materialize_all(data / "audiences.yaml")
            print_summary(config, result)
    print(f"\nDagster instance: {dagster_home}  (open it with `make ui`; to re-run the CRM imports from there, "
          "start `make sandbox` first, see README)")
    return 0 if result.success else 1


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set variables in this process only (never written anywhere) and put the old values back afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _history(args) -> int:
    from audiences_dagster.identity.merges import current_id, record_history

    with _store() as (_, store):
        now = current_id(store, args.entity, args.record_id)
        events = record_history(store, args.entity, now) if now is not None else []
    if now is None:
        print(f"no {args.entity} record {args.record_id}", file=sys.stderr)
        return 1
    if now != args.record_id:
        print(f"record {args.record_id} was merged into {now}; showing {now}")
    for e in events:
        what = f"{e['field']}: {e['old']!r} -> {e['new']!r}" if e["field"] else e["new"]
        source = f" [{e['source']}]" if e["source"] else ""
        print(f"{e['at']:%Y-%m-%d %H:%M:%S}  #{e['record']:<8} {e['event']:<18} {what}{source}  run {e['run']}")
    return 0


def _merges(args) -> int:
    with _store() as (_, store):
        _print_merges(store, args)
    return 0


def _print_merges(store, args) -> None:
    import sqlalchemy as sa

    log = store.tables.merge_log
    stmt = sa.select(log).where(log.c.entity == args.entity).order_by(log.c.id.desc()).limit(args.limit)
    if args.record is not None:
        stmt = stmt.where(sa.or_(log.c.survivor_id == args.record, log.c.absorbed_id == args.record))
    with store.engine.connect() as conn:
        for row in conn.execute(stmt).mappings():
            state = f"undone {row['undone_at']:%Y-%m-%d %H:%M}" if row["undone_at"] else ""
            print(f"#{row['id']:<7} {row['absorbed_id']} -> {row['survivor_id']}  {row['reason']:<15} "
                  f"{row['key_value'] or ''}  {row['merged_at']:%Y-%m-%d %H:%M:%S} {state}")


def _split(args) -> int:
    from audiences_dagster.identity.merges import split_merge

    with _store() as (config, store):
        report = split_merge(store, config, args.merge_id, f"split-{uuid.uuid4().hex[:12]}")
    print(f"merge #{report.merge_id} undone: record {report.restored_id} restored from {report.survivor_id} "
          f"({report.records_moved} source record(s) moved, {report.keys_blocked} key(s) blocked from relinking)")
    return 0


def _hub(args) -> int:
    from audiences_dagster.hub.report import build_data_hub

    with _store() as (config, store):
        print(build_data_hub(store, config).render())
    return 0


def _explain(args) -> int:
    """Each leaf is evaluated in SQL against the record; a merged-away id is followed to its survivor."""
    from audiences_dagster.identity.merges import current_id
    from audiences_dagster.segments.explain import explain
    from audiences_dagster.segments.membership import SegmentError, find_segment

    with _store() as (config, store):
        try:
            entity = find_segment(config, args.segment).entity
        except SegmentError as exc:
            print(f"SegmentError: {exc}", file=sys.stderr)
            return 2
        record = current_id(store, entity, args.record_id) or args.record_id
        if record != args.record_id:
            print(f"record {args.record_id} was merged into {record}; explaining {record}")
        result = explain(store, config, args.segment, record)
    print(result.render())
    return 0 if result.found else 1


def _estimate(args) -> int:
    from audiences_dagster.sources.estimate import estimate, render

    with _store() as (config, store):
        print(render(estimate(config, store)))
    return 0


def _sandbox(args) -> int:
    """Seed an empty sandbox database, then serve both CRMs on 127.0.0.1 until interrupted."""
    import signal
    import time

    # Ctrl-C and a supervisor's SIGTERM both stop it, even when started with SIGINT ignored (a
    # background job of a non-interactive shell inherits that, and Python then leaves it ignored).
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.default_int_handler)

    from audiences_dagster.sandbox import running_sandbox

    seed = {"contacts": args.contacts, "hubspot_contacts": args.hubspot_contacts, "companies": args.companies}
    with running_sandbox(Path(args.db), seed=seed) as sandbox:
        print(f"CRM sandbox on {Path(args.db).resolve()}\n  Salesforce (HTTPS, self-signed): {sandbox.salesforce_url}"
              f"\n  HubSpot: {sandbox.hubspot_url}\nSet these for the connectors (Ctrl-C stops the sandbox):")
        for name, value in sandbox.environment().items():
            print(f"  export {name}={value}")
        sys.stdout.flush()
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            print("CRM sandbox stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
