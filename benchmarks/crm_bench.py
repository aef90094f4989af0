"""CRM import benchmarks, one function per CRM (Salesforce here; HubSpot has benchmarks/hubspot_bench.py).

Salesforce: the sandbox (in its own process) holding 250,000 Contacts and 5,000 Accounts, imported through
simple-salesforce (Bulk API 2.0 query job, ~50,000 records per results call) into a PostgreSQL store, then an
incremental run (REST queryAll on SystemModstamp) after 1% of the contacts changed.

Prints records per second for the initial import (+ identity resolution), where the time went (waiting on the
sandbox's answers vs our process, and the CPU seconds of each process), and the incremental run's time against
its 5 s target.

    .venv/bin/python benchmarks/crm_bench.py salesforce [--contacts 250000] [--companies 5000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import uuid
from pathlib import Path

import psutil
import requests
import yaml
from measure import Timed, postgres_database, sandbox_process

SF_ENV = {"token_url": "BENCH_SF_TOKEN_URL", "client_id": "BENCH_SF_CLIENT_ID",
          "client_secret": "BENCH_SF_CLIENT_SECRET", "ca_bundle": "BENCH_SF_CA_BUNDLE"}


# -- Salesforce -------------------------------------------------------------------------------

def salesforce_config(folder: Path, store_url: str) -> Path:
    from audiences_dagster_tests.sources.salesforce_org import accounts, contacts

    connection = {"kind": "salesforce", "token_url_env": SF_ENV["token_url"], "client_id_env": SF_ENV["client_id"],
                  "client_secret_env": SF_ENV["client_secret"], "ca_bundle_env": SF_ENV["ca_bundle"]}
    link = {"account_id_column": "AccountId", "account_source": "sf_accounts"}
    sources = {"sf_accounts": accounts(connection="salesforce"),
               "sf_contacts": contacts(connection="salesforce", company=link)}
    document = {"plan": "enterprise", "store": {"url": store_url}, "connections": {"salesforce": connection},
                "sources": sources}
    path = folder / "audiences.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def salesforce_cycle(config_path: Path, sandbox: psutil.Process, full: bool = False) -> tuple[Timed, dict, float]:
    """Import both Salesforce sources and resolve identities; returns timings, reports and the seconds the
    readers spent inside HTTP calls to the sandbox."""
    from audiences_dagster.config import load_config
    from audiences_dagster.identity.resolve import unify
    from audiences_dagster.sources import importer
    from audiences_dagster.sources.salesforce import SalesforceSource
    from audiences_dagster.store.api import Store

    waited: list[float] = []

    class Measured(SalesforceSource):
        def close(self) -> None:
            waited.append(self.api_seconds)
            super().close()

    config = load_config(config_path)
    store = Store.from_config(config)
    store.migrate()
    importer.READERS["salesforce"] = Measured
    run_id = uuid.uuid4().hex
    try:
        with Timed(sandbox) as timed:
            reports = {n: importer.import_source(store, config, n, run_id, full=full) for n in config.sources}
            unified = {entity: unify(store, config, entity, run_id) for entity in ("companies", "people")}
    finally:
        importer.READERS["salesforce"] = SalesforceSource
        store.dispose()
    return timed, {**reports, **unified}, sum(waited)


def change_contacts(facts: dict, share: float) -> int:
    """An hour later, a user edits the title of `share` of the contacts (the sandbox's record hooks)."""
    from simple_salesforce import Salesforce

    session = requests.Session()
    session.verify, session.trust_env = facts["cert"], False
    session.post(f"{facts['salesforce_url']}/__sandbox__/clock", json={"advanceSeconds": 3600}).raise_for_status()
    token = session.post(facts["token_url"], data={"grant_type": "client_credentials"},
                         auth=(facts["client_id"], facts["client_secret"])).json()["access_token"]
    sf = Salesforce(instance_url=facts["salesforce_url"], session_id=token, session=session)
    total = sf.query("SELECT COUNT() FROM Contact")["totalSize"]
    ids = [r["Id"] for r in sf.query_all_iter(f"SELECT Id FROM Contact LIMIT {int(total * share)}")]
    for record_id in ids:
        session.patch(f"{facts['salesforce_url']}/__sandbox__/salesforce/records/Contact/{record_id}",
                      json={"Title": f"Changed title {record_id}"}).raise_for_status()
    return len(ids)


def salesforce(contacts: int, companies: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="audiences-sf-bench-"))
    seed = {"contacts": contacts, "leads": 0, "hubspot_contacts": 0, "companies": companies}
    with sandbox_process(folder, seed) as (facts, sandbox, seeding):
        print(f"sandbox seeded with {contacts:,} Salesforce contacts (and the accounts of up to {companies:,} "
              f"generated companies) in {seeding:.1f} s")
        os.environ.update({SF_ENV["token_url"]: facts["token_url"], SF_ENV["client_id"]: facts["client_id"],
                           SF_ENV["client_secret"]: facts["client_secret"], SF_ENV["ca_bundle"]: facts["cert"]})
        store_url, drop = postgres_database("aud_sf_bench")
        try:
            measure_salesforce(folder, store_url, facts, sandbox)
        finally:
            drop()


def measure_salesforce(folder: Path, store_url: str, facts: dict, sandbox: psutil.Process) -> None:
    config_path = salesforce_config(folder, store_url)
    timed, reports, waiting = salesforce_cycle(config_path, sandbox)
    records = reports["sf_contacts"].rows_read + reports["sf_accounts"].rows_read
    imported = reports["sf_contacts"].seconds + reports["sf_accounts"].seconds
    print(f"\ninitial import into PostgreSQL: {reports['sf_contacts'].rows_read:,} contacts + "
          f"{reports['sf_accounts'].rows_read:,} accounts "
          f"({sum(r.quarantined_rows.total() for n, r in reports.items() if n.startswith('sf_')):,} quarantined)")
    print(f"  {records:,} records in {timed.wall:.1f} s "
          f"= {records / timed.wall:,.0f} records/s (import + identity resolution)")
    print(f"  import {imported:.1f} s ({records / imported:,.0f} records/s), "
          f"unify {reports['people'].seconds + reports['companies'].seconds:.1f} s; "
          f"Bulk API results calls at 50,000: {reports['sf_contacts'].api_calls + reports['sf_accounts'].api_calls}")
    print(f"  inside HTTP calls to the sandbox: {waiting:.1f} s ({waiting / imported:.0%} of the import time, "
          f"{waiting / timed.wall:.0%} of the wall time; reading overlaps store writes)")
    print(f"  CPU: sandbox process {timed.sandbox_cpu:.1f} s, our process {timed.cpu:.1f} s "
          f"(sandbox share {timed.sandbox_cpu / (timed.sandbox_cpu + timed.cpu):.0%})")
    print(f"  org API usage after the import: {reports['sf_contacts'].api_usage}")

    changed = change_contacts(facts, 0.01)
    timed, reports, waiting = salesforce_cycle(config_path, sandbox)
    read = reports["sf_contacts"]
    verdict = "meets" if timed.wall <= 5 else "misses"
    print(f"\nincremental after {changed:,} contacts (1%) changed: {timed.wall:.2f} s ({verdict} the 5 s target)")
    print(f"  read {read.rows_read:,} contacts ({read.counts.updated:,} updated), import {read.seconds:.2f} s, "
          f"unify people {reports['people'].seconds:.2f} s")
    print(f"  inside HTTP calls to the sandbox: {waiting:.2f} s; CPU: sandbox {timed.sandbox_cpu:.2f} s, "
          f"ours {timed.cpu:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("crm", choices=["salesforce"])
    parser.add_argument("--contacts", type=int, default=250_000)
    parser.add_argument("--companies", type=int, default=5_000)
    args = parser.parse_args()
    if args.crm == "salesforce":
        salesforce(args.contacts, args.companies)


if __name__ == "__main__":
    main()
