"""Segment refresh benchmark: 1,000,000 people, 20 segments of mixed complexity, on PostgreSQL.

unified_people is filled directly with one INSERT ... SELECT over generate_series (the importer is
not what is measured here). Prints, against a floor measured in the same run (a plain
`SELECT count(*)` over unified_people):
  - the first build (every member logged as entered),
  - a full re-evaluation of all 20 segments over existing membership (`full=True`),
  - the refresh after 1% of the people changed, with its enter/exit events,
and checks that every segment's member count equals a direct count of its condition.

    .venv/bin/python benchmarks/segments_bench.py [--people 1000000]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
import yaml
from measure import postgres_database

from audiences_dagster.config import load_config
from audiences_dagster.segments.membership import condition_count, refresh_segments
from audiences_dagster.store.api import Store

FIELDS = {"email": "email", "first_name": "text", "title": "text", "country": "text", "industry": "text",
          "seats": "number", "score": "number", "signup_date": "date", "last_seen": "date", "is_paying": "boolean"}
TITLES = ["VP Sales", "Account Executive", "Head of RevOps", "CTO", "Data Engineer", "Marketing Manager",
          "SDR", "CFO", "Product Manager", "Founder", "Director of Sales", "Chief Revenue Officer"]
COUNTRIES = ["US", "GB", "DE", "FR", "IN", "BR", "JP", "CA"]
INDUSTRIES = ["Software", "Fintech", "Retail", "Healthcare", "Manufacturing", "Media", "Logistics"]
SOURCES = ["crm", "crm,events", "product", "crm,product", "events", "crm,events,product"]


def leaf(field: str, op: str, value=None, unit: str | None = None) -> dict:
    node = {"field": field, "op": op}
    if value is not None:
        node["value"] = value
    if unit:
        node["unit"] = unit
    return node


SEGMENTS = [
    ("us_people", leaf("country", "equals", "US")),
    ("paying", leaf("is_paying", "is_true")),
    ("leaders", leaf("title", "contains_any_of", ["VP", "Head of", "Director", "Chief", "CTO", "CFO", "Founder"])),
    ("sales_titles", leaf("title", "contains", "sales")),
    ("mid_seats", leaf("seats", "between", [20, 80])),
    ("high_score", leaf("score", "gte", 90)),
    ("recent_signups", leaf("signup_date", "within_last", 90, "days")),
    ("dormant", leaf("last_seen", "not_within_last", 6, "months")),
    ("no_industry", leaf("industry", "is_empty")),
    ("from_events", {"source": "events"}),
    ("deleted", {"deleted_in_source": True}),
    ("eu_software", {"all": [leaf("country", "contains_any_of", ["GB", "DE", "FR"]),
                             leaf("industry", "equals", "Software")]}),
    ("engaged_leaders", {"all": [{"member_of": "leaders"}, leaf("last_seen", "within_last", 4, "weeks")]}),
    ("expansion", {"all": [{"member_of": "paying"}, {"any": [leaf("seats", "lt", 10),
                                                           leaf("score", "gt", 80)]}]}),
    ("paying_leaders_us", {"all": [{"member_of": "engaged_leaders"}, {"member_of": "us_people"},
                                   {"member_of": "paying"}]}),
    ("nested_mix", {"any": [{"all": [leaf("title", "contains", "engineer"), leaf("score", "gt", 50)]},
                            {"all": [leaf("industry", "contains_any_of", ["fin", "health"]),
                                     {"any": [leaf("seats", "gte", 150), leaf("is_paying", "is_false")]}]}]}),
    ("not_crm", {"source": "crm", "op": "is_not"}),
    ("stale_signups", {"all": [leaf("signup_date", "before", "2026-01-01"), {"deleted_in_source": False},
                               leaf("is_paying", "is_false")]}),
    ("reactivation", {"all": [{"member_of": "dormant"}, {"member_of": "leaders"}, {"source": "product"}]}),
    ("not_leaders_recent", {"all": [{"member_of": "leaders", "op": "is_not"},
                                    leaf("signup_date", "within_last", 12, "months"),
                                    leaf("email", "not_contains", "example")]}),
]


def write_config(folder: Path, url: str) -> Path:
    source = {"kind": "csv", "entity": "people", "path": "never_imported.csv", "unique_id": "id",
              "fields": {name: {"column": name, "type": t} for name, t in FIELDS.items()}}
    events = {**source, "path": "events.csv"}
    product = {**source, "path": "product.csv"}
    document = {"plan": "enterprise", "store": {"url": url},
                "sources": {"crm": source, "events": events, "product": product},
                "segments": [{"name": n, "entity": "people", "filter": f} for n, f in SEGMENTS]}
    path = folder / "audiences.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def pick(options: list[str], hashed: str) -> str:
    """A server-side choice from a list by a hash of the row number (the data is generated in SQL)."""
    quoted = ", ".join("'" + o.replace("'", "''") + "'" for o in options)
    return f"(ARRAY[{quoted}])[1 + ({hashed}) % {len(options)}]"


def load_people(store: Store, people: int) -> float:
    """1M unified people in one INSERT ... SELECT; imported a day ago."""
    started = time.perf_counter()
    sql = f"""
        INSERT INTO unified_people (id, created_at, updated_at, sources, archived, deleted_in_source,
            email, first_name, title, country, industry, seats, score, signup_date, last_seen, is_paying)
        SELECT g, now() - interval '1 day', now() - interval '1 day', {pick(SOURCES, 'g * 7 + g / 13')}, false,
            g % 50 = 0,
            'person' || g || '@' || {pick(['acme.com', 'globex.com', 'example.com', 'initech.io'], 'g * 3')},
            'Name' || (g % 1000), {pick(TITLES, 'g * 7919')}, {pick(COUNTRIES, 'g * 104729')},
            CASE WHEN g % 9 = 0 THEN NULL ELSE {pick(INDUSTRIES, 'g * 31')} END,
            (g * 31) % 200, (g * 17) % 101,
            now() - ((g * 13) % 900) * interval '1 day', now() - ((g * 29) % 400) * interval '1 day',
            g % 3 = 0
        FROM generate_series(1::bigint, {people}) AS g
    """
    with store.engine.begin() as conn:
        conn.execute(sa.text(sql))
        conn.execute(sa.text("ANALYZE unified_people"))
    return time.perf_counter() - started


def change_one_percent(store: Store) -> tuple[int, float]:
    """1% of people change title, paying flag, seats and last-seen, as an import cycle would."""
    started = time.perf_counter()
    sql = f"""
        UPDATE unified_people SET title = {pick(TITLES, 'id * 13 + 5')}, is_paying = NOT is_paying,
            seats = (id * 37) % 200, last_seen = now() - interval '2 days', updated_at = now()
        WHERE id % 100 = 7
    """
    with store.engine.begin() as conn:
        changed = conn.execute(sa.text(sql)).rowcount
    return changed, time.perf_counter() - started


def count_floor(store: Store) -> float:
    """The cheapest pass over the table: the same run's yardstick for the figures below."""
    with store.engine.connect() as conn:
        conn.execute(sa.text("SELECT count(*) FROM unified_people")).scalar_one()  # warm the cache
        started = time.perf_counter()
        conn.execute(sa.text("SELECT count(*) FROM unified_people")).scalar_one()
    return time.perf_counter() - started


def timed_refresh(store: Store, config, **options) -> tuple[float, dict]:
    started = time.perf_counter()
    reports = refresh_segments(store, config, f"bench-{uuid.uuid4().hex[:8]}", **options)
    return time.perf_counter() - started, reports


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=1_000_000)
    args = parser.parse_args()
    url, drop = postgres_database("aud_segbench")
    store = None
    try:
        with tempfile.TemporaryDirectory() as folder:
            config = load_config(write_config(Path(folder), url))
            store = Store.from_config(config)
            store.migrate()
            loaded = load_people(store, args.people)
            floor = count_floor(store)
            first, first_reports = timed_refresh(store, config)
            full, full_reports = timed_refresh(store, config, full=True)
            changed, _ = change_one_percent(store)
            incremental, inc_reports = timed_refresh(store, config)
            mismatches = [n for n, r in inc_reports.items()
                          if r.members != condition_count(store, config, next(s for s in config.segments
                                                                               if s.name == n))]
        report(args.people, loaded, floor, first, first_reports, full, full_reports, changed, incremental,
               inc_reports, mismatches)
    finally:
        if store is not None:
            store.dispose()
        drop()


def report(people, loaded, floor, first, first_reports, full, full_reports, changed, incremental, inc_reports,
           mismatches) -> None:
    def ratio(seconds: float) -> str:
        return f"{seconds / floor:6.1f}x count(*)"

    members = sum(r.members for r in first_reports.values())
    print(f"\n{people:,} people in unified_people (loaded in {loaded:.1f} s), {len(SEGMENTS)} segments, "
          f"{members:,} memberships in all")
    print(f"floor: SELECT count(*) FROM unified_people           {floor:7.3f} s")
    print(f"first build (every member logged as entered)         {first:7.2f} s  {ratio(first)}")
    print(f"full re-evaluation of all 20 (full=True)             {full:7.2f} s  {ratio(full)}  target <= 10 s")
    entered = sum(r.entered for r in inc_reports.values())
    exited = sum(r.exited for r in inc_reports.values())
    candidates = max(r.candidates or 0 for r in inc_reports.values())
    print(f"refresh after {changed:,} people changed (1%)           {incremental:7.2f} s  {ratio(incremental)}  "
          f"target <= 2 s")
    print(f"  {entered:,} entered / {exited:,} exited events, up to {candidates:,} candidates re-evaluated per segment")
    print(f"peak memory (this process) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print("counts equal a direct count of each condition: " + ("yes, all 20" if not mismatches else
                                                             f"NO for {', '.join(mismatches)}"))
    print("\nper segment: members  | full s | incremental s (+entered/-exited)")
    for name, r in inc_reports.items():
        print(f"  {name:<20} {r.members:>9,} | {full_reports[name].seconds:6.2f} | {r.seconds:6.3f} "
              f"(+{r.entered:,}/-{r.exited:,})")


if __name__ == "__main__":
    main()
