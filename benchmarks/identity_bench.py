"""Import + identity resolution benchmark: 1,000,000 source records over four sources.

Prints, for SQLite and PostgreSQL, the full import + unify time, the incremental run after 1% of
the records changed, and peak memory; and, as the floor, PostgreSQL COPY of the same rows into
an unlogged table, measured in the same run. Figures are reported as ratios to that floor.

    .venv/bin/python benchmarks/identity_bench.py [--records 1000000] [--stores sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
import yaml
from measure import postgres_database

DATA = Path(__file__).parent / ".data"
SOURCES = {  # name -> share of the records
    "crm_contacts": 0.35, "crm_leads": 0.20, "event_attendees": 0.20, "product_users": 0.25,
}
SEED = 20261122
KEYLESS_SHARE = 0.10
TITLES = np.array(["VP Sales", "Account Executive", "Head of RevOps", "CTO", "Data Engineer",
                   "Marketing Manager", "SDR", "CFO", "Product Manager", "Founder"])
FIRST = np.array(["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Jo", "Kai", "Lena"])
LAST = np.array(["Smith", "Garcia", "Okafor", "Nguyen", "Muller", "Rossi", "Kim", "Patel", "Silva", "Berg"])


# -- data ----------------------------------------------------------------------------------


def generate(records: int, folder: Path) -> dict[str, int]:
    """People spread over four sources so that about 40% of them appear in more than one."""
    rng = np.random.default_rng(SEED)
    per_source = {name: int(records * share) for name, share in SOURCES.items()}
    per_source["product_users"] += records - sum(per_source.values())
    # 60% of people in one source, 30% in two, 10% in three: 1.5 records per person.
    people = int(records / 1.5)
    copies = rng.choice([1, 2, 3], size=people, p=[0.6, 0.3, 0.1])
    person = np.repeat(np.arange(people), copies)
    rng.shuffle(person)
    person = np.resize(person, records)
    bounds = np.cumsum([0, *per_source.values()])
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(per_source):
        who = person[bounds[i]:bounds[i + 1]]
        frame = _rows(rng, who, name)
        if name == "product_users":
            with sqlite3.connect(folder / "warehouse.db") as conn:
                conn.execute("DROP TABLE IF EXISTS product_users")
                frame.to_sql("product_users", conn, index=False, chunksize=50_000)
                conn.execute("CREATE INDEX ix_pu_updated ON product_users (updated_at, id)")
        else:
            frame.to_csv(folder / f"{name}.csv", index=False)
    return per_source


def _rows(rng: np.random.Generator, who: np.ndarray, source: str) -> pd.DataFrame:
    n = len(who)
    first, last = FIRST[who % len(FIRST)], LAST[(who // len(FIRST)) % len(LAST)]
    email = pd.Series(first).str.lower() + "." + pd.Series(last).str.lower() + pd.Series(who).astype(str) + "@co" + pd.Series(who % 5000).astype(str) + ".com"
    # messy: case, whitespace, missing emails; LinkedIn URL variants
    upper = rng.random(n) < 0.1
    email = email.where(~upper, email.str.upper())
    email = email.where(rng.random(n) > 0.05, " " + email + " ")
    # About 10% of rows carry no cross-source key at all (no email, no LinkedIn URL), as CRM exports do:
    # each is still a record of its own.
    keyless = rng.random(n) < KEYLESS_SHARE
    has_email = (rng.random(n) > 0.15) & ~keyless
    slug = pd.Series(first).str.lower() + "-" + pd.Series(last).str.lower() + "-" + pd.Series(who).astype(str)
    variant = rng.integers(0, 4, n)
    prefixes = np.array(["https://www.linkedin.com/in/", "http://linkedin.com/in/", "https://uk.linkedin.com/in/", "linkedin.com/in/"])
    linkedin = pd.Series(prefixes[variant]) + slug + np.where(rng.random(n) < 0.2, "/?trk=x", "")
    has_linkedin = ((rng.random(n) > 0.35) | ~has_email) & ~keyless
    updated = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 600 * 86400, n), unit="s")
    frame = pd.DataFrame({
        "id": [f"{source[:3]}{i:08d}" for i in range(n)],
        "email": email.where(has_email, "n/a"),
        "linkedin": linkedin.where(has_linkedin, ""),
        "first_name": first, "last_name": last,
        "title": TITLES[rng.integers(0, len(TITLES), n)],
        "seats": rng.integers(1, 500, n),
        "updated_at": updated.strftime("%Y-%m-%dT%H:%M:%S"),
    })
    return frame


def config(folder: Path, store_url: str) -> dict:
    fields = {"email": {"column": "email", "type": "email"}, "linkedin_url": {"column": "linkedin", "type": "url"},
              "first_name": {"column": "first_name"}, "last_name": {"column": "last_name"},
              "title": {"column": "title"}, "seats": {"column": "seats", "type": "number"}}
    tiers = {"crm_contacts": "salesforce", "crm_leads": "salesforce_lead", "event_attendees": "csv"}
    sources = {name: {"kind": "csv", "entity": "people", "path": str(folder / f"{name}.csv"), "unique_id": "id",
                      "updated_at": "updated_at", "tier": tier, "fields": fields} for name, tier in tiers.items()}
    sources["product_users"] = {"kind": "sql", "entity": "people", "url": f"sqlite:///{folder / 'warehouse.db'}",
                                "query": "SELECT * FROM product_users", "unique_id": "id",
                                "updated_at": "updated_at", "fields": fields}
    return {"plan": "enterprise", "store": {"url": store_url}, "sources": sources}  # 1M is past the growth cap


def change_one_percent(folder: Path, records: int) -> int:
    """1% of all records change in the warehouse: new titles, new emails that now match other
    people, and brand-new rows; the CSV exports stay as they were."""
    changed = records // 100
    bump = "2027-01-01T00:00:00"
    with sqlite3.connect(folder / "warehouse.db") as conn:
        updated = conn.execute(
            "UPDATE product_users SET title = 'Chief Revenue Officer', seats = seats + 1, updated_at = ? "
            "WHERE id IN (SELECT id FROM product_users ORDER BY id LIMIT ?)", (bump, changed * 8 // 10)).rowcount
        new = changed - updated
        conn.executemany(
            "INSERT INTO product_users (id, email, linkedin, first_name, last_name, title, seats, updated_at) "
            "VALUES (?, ?, '', 'New', 'Person', 'SDR', 1, ?)",
            [(f"new{i:08d}", f"new.person{i}@fresh.io", bump) for i in range(new)])
    return changed


# -- one measured phase, in its own process (so peak memory is its own) ---------------------


def phase(config_file: Path) -> dict:
    from audiences_dagster.config import load_config
    from audiences_dagster.identity.resolve import unify
    from audiences_dagster.sources.importer import import_source
    from audiences_dagster.store.api import Store

    cfg = load_config(config_file)
    store = Store.from_config(cfg)
    store.migrate()
    run_id = uuid.uuid4().hex
    started = time.perf_counter()
    imports = {name: import_source(store, cfg, name, run_id) for name in cfg.sources}
    imported = time.perf_counter()
    resolved = unify(store, cfg, "people", run_id)
    finished = time.perf_counter()
    unified = store.count(store.tables.unified("people"))
    store.dispose()
    return {
        "import_seconds": imported - started, "unify_seconds": finished - imported,
        "total_seconds": finished - started,
        "rows_read": sum(r.rows_read for r in imports.values()),
        "quarantined": sum(sum(r.quarantined_rows.values()) for r in imports.values()),
        "written": sum(r.counts.inserted + r.counts.updated for r in imports.values()),
        "unified_people": unified, "merges": sum(resolved.merges.values()),
        "propagation_rounds": resolved.iterations,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_phase(config_file: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--phase", str(config_file)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the floor -------------------------------------------------------------------------------


def copy_floor(folder: Path, database_url: str) -> float:
    """PostgreSQL COPY of the same rows into an unlogged table: no parsing, no matching."""
    frames = [pd.read_csv(folder / f"{n}.csv", dtype=str, keep_default_na=False) for n in SOURCES if n != "product_users"]
    with sqlite3.connect(folder / "warehouse.db") as conn:
        frames.append(pd.read_sql("SELECT * FROM product_users", conn).astype(str))
    buffers = []
    for frame in frames:
        path = folder / f"copy_{len(buffers)}.csv"
        frame.to_csv(path, index=False, header=False)
        buffers.append(path)
    engine = sa.create_engine(database_url)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("DROP TABLE IF EXISTS copy_floor")
        cursor.execute("CREATE UNLOGGED TABLE copy_floor (id text, email text, linkedin text, first_name text, "
                       "last_name text, title text, seats text, updated_at text)")
        raw.commit()
        started = time.perf_counter()
        for path in buffers:
            with path.open() as handle:
                cursor.copy_expert("COPY copy_floor FROM STDIN WITH (FORMAT csv)", handle)
        raw.commit()
        return time.perf_counter() - started
    finally:
        raw.close()
        engine.dispose()
        for path in buffers:
            path.unlink()


# -- orchestration ---------------------------------------------------------------------------


def bench_store(kind: str, records: int, base: Path) -> dict:
    folder = base / kind
    if folder.exists():
        for f in folder.iterdir():
            f.unlink()
    counts = generate(records, folder)
    drop = None
    if kind == "sqlite":
        url = f"sqlite:///{folder / 'store.db'}"
    else:
        url, drop = postgres_database("aud_bench")
    try:
        config_file = folder / "audiences.yaml"
        config_file.write_text(yaml.safe_dump(config(folder, url)))
        full = run_phase(config_file)
        changed = change_one_percent(folder, records)
        incremental = run_phase(config_file)
        floor = copy_floor(folder, url) if kind == "postgresql" else None
        return {"store": kind, "sources": counts, "full": full, "changed": changed,
                "incremental": incremental, "copy_floor_seconds": floor}
    finally:
        if drop:
            drop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--stores", default="postgresql,sqlite")
    parser.add_argument("--phase")
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(Path(args.phase))))
        return
    results = [bench_store(kind, args.records, DATA) for kind in args.stores.split(",")]
    floor = next((r["copy_floor_seconds"] for r in results if r["copy_floor_seconds"]), None)
    print(f"\n{args.records:,} source records over {len(SOURCES)} sources (~40% of people in 2+ sources, "
          f"{KEYLESS_SHARE:.0%} of rows without an email or LinkedIn URL)")
    if floor:
        print(f"floor: PostgreSQL COPY into an unlogged table  {floor:7.2f} s")
    for r in results:
        f, inc = r["full"], r["incremental"]
        ratio = f" ({f['total_seconds'] / floor:.1f}x COPY)" if floor else ""
        print(f"\n[{r['store']}]")
        print(f"  full import + unify       {f['total_seconds']:7.2f} s{ratio}  "
              f"(import {f['import_seconds']:.2f} s, unify {f['unify_seconds']:.2f} s, "
              f"{f['propagation_rounds']} rounds)")
        print(f"    rows read {f['rows_read']:,}, quarantined {f['quarantined']:,}, "
              f"unified people {f['unified_people']:,}, merges {f['merges']:,}, "
              f"peak memory {f['peak_rss_mb']:.0f} MB")
        print(f"  incremental after {r['changed']:,} changes  {inc['total_seconds']:7.2f} s  "
              f"(import {inc['import_seconds']:.2f} s, unify {inc['unify_seconds']:.2f} s, "
              f"rows written {inc['written']:,}, merges {inc['merges']:,}, peak memory {inc['peak_rss_mb']:.0f} MB)")
    print("\n" + json.dumps(results, default=str))


if __name__ == "__main__":
    main()
