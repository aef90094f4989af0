"""HubSpot import benchmark: the sandbox (in its own process) holding 250,000 HubSpot contacts,
imported through hubspot-api-client into a PostgreSQL store, then an incremental run after 1%
of the contacts changed.

Prints records per second for the initial import (+ identity resolution), where the time went
(waiting on the sandbox's answers vs our process, and the CPU seconds of each process), and the
incremental run's time against its 5 s target. The sandbox's rate limits are raised: against a
real private app the 10-second burst limit sets the floor (see the printed note).

    .venv/bin/python benchmarks/hubspot_bench.py [--contacts 250000] [--companies 5000]
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

TOKEN_ENV = "AUDIENCES_BENCH_HUBSPOT_TOKEN"
REAL_BURST = 190           # Professional/Enterprise private app: requests per 10 s
LIST_PAGE = 100


def hook(url: str, method: str, path: str, **body) -> requests.Response:
    session = requests.Session()
    session.trust_env = False
    response = session.request(method, f"{url}/__sandbox__/{path}", json=body, timeout=600)
    response.raise_for_status()
    return response


def write_config(folder: Path, store_url: str, hubspot_url: str) -> Path:
    from audiences_dagster_tests.sources.hubspot_world import hubspot_sources

    document = {"plan": "enterprise", "store": {"url": store_url},
                "connections": {"hubspot": {"kind": "hubspot", "base_url": hubspot_url,
                                            "access_token_env": TOKEN_ENV}},
                "sources": hubspot_sources()}
    path = folder / "audiences.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def run_cycle(config_path: Path, sandbox: psutil.Process, full: bool = False) -> tuple[Timed, dict, float]:
    """One import of both HubSpot sources and identity resolution; returns timings, reports and
    the seconds the readers spent waiting on HubSpot answers."""
    from audiences_dagster.config import load_config
    from audiences_dagster.identity.resolve import unify
    from audiences_dagster.sources import importer
    from audiences_dagster.sources.hubspot import HubSpotSource
    from audiences_dagster.store.api import Store

    waited: list[float] = []

    class Measured(HubSpotSource):
        def close(self) -> None:
            waited.append(self.account.call_seconds)
            super().close()

    config = load_config(config_path)
    store = Store.from_config(config)
    store.migrate()
    importer.READERS["hubspot"] = Measured
    run_id = uuid.uuid4().hex
    with Timed(sandbox) as timed:
        reports = {name: importer.import_source(store, config, name, run_id, full=full) for name in config.sources}
        unified = {entity: unify(store, config, entity, run_id) for entity in ("companies", "people")}
    importer.READERS["hubspot"] = HubSpotSource
    store.dispose()
    return timed, {**reports, **unified}, sum(waited)


def change_one_percent(url: str, token: str, contacts: int) -> int:
    """Advance the sandbox clock an hour and change 1% of the contacts through the batch API."""
    from hubspot import HubSpot
    from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInput

    hook(url, "POST", "clock", advanceSeconds=3600)
    client = HubSpot(access_token=token, host=url)
    wanted = contacts // 100
    ids, after = [], None
    while len(ids) < wanted:
        page = client.crm.contacts.basic_api.get_page(limit=LIST_PAGE, after=after)
        ids += [r.id for r in page.results]
        after = page.paging.next.after if page.paging and page.paging.next else None
        if after is None:
            break
    ids = ids[:wanted]
    for start in range(0, len(ids), 100):
        inputs = [{"id": i, "properties": {"jobtitle": f"Changed title {i}"}} for i in ids[start:start + 100]]
        client.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=inputs))
    return len(ids)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=250_000)
    parser.add_argument("--companies", type=int, default=5_000)
    args = parser.parse_args()
    contacts, companies = args.contacts, args.companies
    folder = Path(tempfile.mkdtemp(prefix="audiences-hs-bench-"))
    seed = {"contacts": 1, "leads": 0, "hubspot_contacts": contacts, "companies": companies}
    with sandbox_process(folder, seed) as (facts, sandbox, seeding):
        print(f"sandbox seeded with {contacts:,} HubSpot contacts and {companies:,} companies "
              f"in {seeding:.1f} s")
        os.environ[TOKEN_ENV] = facts["hubspot_token"]
        store_url, drop = postgres_database("aud_hs_bench")
        try:
            measure_hubspot(folder, store_url, facts, sandbox, contacts, companies)
        finally:
            drop()


def measure_hubspot(folder: Path, store_url: str, facts: dict, sandbox: psutil.Process, contacts: int,
                    companies: int) -> None:
    config_path = write_config(folder, store_url, facts["hubspot_url"])
    timed, reports, waiting = run_cycle(config_path, sandbox)
    records = reports["hubspot_contacts"].rows_read + reports["hubspot_companies"].rows_read
    people = reports["people"]
    print(f"\ninitial import into PostgreSQL: {records:,} records in {timed.wall:.1f} s "
          f"= {records / timed.wall:,.0f} records/s (import + identity resolution)")
    print(f"  import {reports['hubspot_contacts'].seconds + reports['hubspot_companies'].seconds:.1f} s, "
          f"unify {people.seconds + reports['companies'].seconds:.1f} s")
    print(f"  waiting on the sandbox's answers: {waiting:.1f} s ({waiting / timed.wall:.0%} of the wall time; "
          f"the reader overlaps it with store writes)")
    print(f"  CPU: sandbox process {timed.sandbox_cpu:.1f} s, our process {timed.cpu:.1f} s "
          f"(sandbox share {timed.sandbox_cpu / (timed.sandbox_cpu + timed.cpu):.0%})")
    calls = -(-contacts // LIST_PAGE) + -(-companies // LIST_PAGE)
    print(f"  note: {calls:,} list calls; a real private app's burst limit ({REAL_BURST} per 10 s) alone "
          f"takes {calls / REAL_BURST * 10:.0f} s for them")

    changed = change_one_percent(facts["hubspot_url"], facts["hubspot_token"], contacts)
    timed, reports, waiting = run_cycle(config_path, sandbox)
    read = reports["hubspot_contacts"]
    verdict = "meets" if timed.wall <= 5 else "misses"
    print(f"\nincremental after {changed:,} contacts (1%) changed: {timed.wall:.2f} s ({verdict} the 5 s target)")
    print(f"  read {read.rows_read:,} contacts ({read.counts.updated:,} updated), "
          f"import {read.seconds:.2f} s, unify people {reports['people'].seconds:.2f} s")
    print(f"  waiting on the sandbox's answers: {waiting:.2f} s; CPU: sandbox {timed.sandbox_cpu:.2f} s, "
          f"ours {timed.cpu:.2f} s")


if __name__ == "__main__":
    main()
