"""Refresh and plan-cap benchmark: what one sensor poll and one cap count cost on large sources.

Prints, for a warehouse table of N rows with an (updated_at, id) index on SQLite and PostgreSQL,
the time of one `poll` with nothing new and with one new row; for a CSV of N rows, one poll (the
file's fingerprint); and for a store holding N unified people, the plan-cap count an import makes
at its start.

    .venv/bin/python benchmarks/refresh_bench.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
import yaml

from audiences_dagster.config import load_config
from audiences_dagster.sources.base import mapping_fingerprint
from audiences_dagster.sources.caps import records_in_plan
from audiences_dagster.sources.csv_file import CsvSource
from audiences_dagster.sources.sql_warehouse import SqlSource
from audiences_dagster.store.api import Store

ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
T0 = datetime(2024, 1, 1)


def timed(action: Callable[[], object], repeat: int = 5) -> float:
    """Median milliseconds of `repeat` calls."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def fill_warehouse(engine: sa.Engine, rows: int) -> None:
    """contacts(id, email, updated_at) with one row per second from T0, indexed for incrementals."""
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS contacts"))
        conn.execute(sa.text("CREATE TABLE contacts (id VARCHAR(16) PRIMARY KEY, email VARCHAR(64), updated_at TIMESTAMP)"))
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text(
                "INSERT INTO contacts SELECT lpad(g::text, 10, '0'), 'p' || g || '@acme.com', "
                "timestamp '2024-01-01' + g * interval '1 second' FROM generate_series(1, :n) g"), {"n": rows})
        else:
            conn.execute(sa.text(
                "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < :n) "
                "INSERT INTO contacts SELECT printf('%010d', i), 'p' || i || '@acme.com', "
                "datetime('2024-01-01', '+' || i || ' seconds') FROM g"), {"n": rows})
        conn.execute(sa.text("CREATE INDEX ix_contacts_updated ON contacts (updated_at, id)"))
        conn.execute(sa.text("ANALYZE contacts"))


def warehouse_config(root: Path, url: str) -> Path:
    document = {"store": {"url": f"sqlite:///{root / 'store.db'}"}, "sources": {"wh": {
        "kind": "sql", "entity": "people", "url": url, "query": "SELECT id, email, updated_at FROM contacts",
        "unique_id": "id", "updated_at": "updated_at", "fields": {"email": {"column": "email", "type": "email"}}}}}
    path = root / "audiences.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def bench_warehouse(label: str, url: str, rows: int, root: Path) -> None:
    engine = sa.create_engine(url)
    fill_warehouse(engine, rows)
    config = load_config(warehouse_config(root, url))
    reader = SqlSource("wh", config)
    newest = T0 + timedelta(seconds=rows)
    last = (newest.isoformat(sep=" ") if engine.dialect.name == "sqlite" else {"datetime": newest.isoformat()})
    cursor = {"mode": "incremental", "mapping": mapping_fingerprint(config.sources["wh"]), "after": [last, f"{rows:010d}"]}
    state = {"cursor": cursor, "pass_open": False, "last_full_sync_at": None}
    assert not reader.poll(state).changed
    quiet = timed(lambda: reader.poll(state))
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO contacts VALUES ('zz', 'new@acme.com', :at)"),
                     {"at": newest + timedelta(seconds=5)})
    assert reader.poll(state).changed
    changed = timed(lambda: reader.poll(state))
    reader.close()
    engine.dispose()
    print(f"  {label:<11} warehouse poll, {rows:,} rows: nothing new {quiet:.1f} ms, one new row {changed:.1f} ms")


def bench_csv(rows: int, root: Path) -> None:
    path = root / "people.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "email", "first_name"])
        writer.writerows((f"p{i}", f"person{i}@acme.com", "Ann") for i in range(rows))
    document = {"store": {"url": f"sqlite:///{root / 'store.db'}"}, "sources": {"crm": {
        "kind": "csv", "entity": "people", "path": str(path), "unique_id": "id",
        "fields": {"email": {"column": "email", "type": "email"}}}}}
    (root / "csv.yaml").write_text(yaml.safe_dump(document))
    reader = CsvSource("crm", load_config(root / "csv.yaml"))
    state = {"cursor": None, "pass_open": False, "last_full_sync_at": None}
    took = timed(lambda: reader.poll(state), repeat=3)
    print(f"  csv         poll (content fingerprint), {rows:,} rows, {path.stat().st_size / 1e6:.0f} MB: {took:.0f} ms")


def bench_cap_count(label: str, url: str, rows: int) -> None:
    store = Store(url, {"people": {}, "companies": {}})
    store.migrate()
    unified = store.tables.unified("people")
    with store.engine.begin() as conn:
        if store.engine.dialect.name == "postgresql":
            conn.execute(sa.text("INSERT INTO unified_people (id, created_at, updated_at) "
                                 "SELECT g, now(), now() FROM generate_series(1, :n) g"), {"n": rows})
        else:
            conn.execute(sa.text("WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < :n) "
                                 "INSERT INTO unified_people (id, created_at, updated_at) "
                                 "SELECT i, datetime('now'), datetime('now') FROM g"), {"n": rows})
        conn.execute(sa.text(f"ANALYZE {unified.name}"))

    def count() -> int:
        with store.engine.connect() as conn:
            return records_in_plan(store, conn)

    assert count() == rows
    took = timed(count)
    store.dispose()
    print(f"  {label:<11} plan-cap count at import start, {rows:,} unified people: {took:.0f} ms")


def _database_url(name: str) -> str:
    return sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    databases = [f"aud_refresh_bench_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with admin.connect() as conn:
        for name in databases:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            print(f"refresh benchmark ({rows:,} rows; medians of 5 runs unless said)")
            bench_warehouse("sqlite", f"sqlite:///{root / 'warehouse.db'}", rows, root)
            bench_warehouse("postgresql", _database_url(databases[0]), rows, root)
            bench_csv(rows, root)
            bench_cap_count("sqlite", f"sqlite:///{root / 'capstore.db'}", rows)
            bench_cap_count("postgresql", _database_url(databases[1]), rows)
    finally:
        with admin.connect() as conn:
            for name in databases:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
