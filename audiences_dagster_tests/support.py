"""A test workspace: write source files and audiences.yaml, import, unify, read the store."""

from __future__ import annotations

import csv
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
import yaml

from audiences_dagster.config import AudiencesConfig, load_config
from audiences_dagster.identity.resolve import unify
from audiences_dagster.sources.importer import ImportReport, import_source
from audiences_dagster.store.api import Store
from audiences_dagster.store.schema import ENTITIES


@contextmanager
def clock_away_from_utc(zone: str = "America/New_York") -> Iterator[None]:
    """Run the block on a machine clock in another time zone (UTC-naive code must not notice)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ")
        else:
            os.environ["TZ"] = before
        time.tzset()


class Workspace:
    def __init__(self, root: Path, store_url: str):
        self.root = root
        self.store_url = store_url
        self.config: AudiencesConfig | None = None
        self._store: Store | None = None

    def write_csv(self, name: str, rows: list[dict], columns: list[str] | None = None) -> Path:
        path = self.root / name
        columns = columns or list(dict.fromkeys(k for row in rows for k in row))
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        return path

    def configure(self, sources: dict, **settings) -> AudiencesConfig:
        """Write audiences.yaml for these sources (store = this workspace's store) and load it."""
        document = {"store": {"url": self.store_url}, "sources": sources, **settings}
        path = self.root / "audiences.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        self.config = load_config(path)
        if self._store is not None:
            self._store.dispose()
        self._store = Store.from_config(self.config)
        self._store.migrate()
        return self.config

    @property
    def config_path(self) -> Path:
        return self.root / "audiences.yaml"

    @property
    def store(self) -> Store:
        assert self._store is not None, "call configure() first"
        return self._store

    def import_all(self, run_id: str | None = None, full: bool = False) -> dict[str, ImportReport]:
        run_id = run_id or uuid.uuid4().hex
        return {name: import_source(self.store, self.config, name, run_id, full=full) for name in self.config.sources}

    def unify_all(self, run_id: str | None = None) -> dict:
        run_id = run_id or uuid.uuid4().hex
        return {e: unify(self.store, self.config, e, run_id) for e in ("companies", "people")}

    def run(self, full: bool = False) -> dict:
        """One import cycle: every source, then companies, then people."""
        run_id = uuid.uuid4().hex
        imports = self.import_all(run_id, full=full)
        return {"imports": imports, **self.unify_all(run_id)}

    def rows(self, table: str, *where, order_by: str = "id") -> list[dict]:
        t = self.store.tables.metadata.tables[table]
        with self.store.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(t).where(*where).order_by(t.c[order_by])).mappings()]

    def unified(self, entity: str = "people") -> list[dict]:
        return self.rows(f"unified_{entity}")

    def unified_id_of(self, source: str, source_id: str, entity: str = "people") -> int | None:
        src = self.store.tables.source(entity)
        with self.store.engine.connect() as conn:
            return conn.execute(sa.select(src.c.unified_id).where(
                src.c.source == source, src.c.source_id == source_id)).scalar()

    def close(self) -> None:
        if self._store is not None:
            self._store.dispose()


def people_source(path: str, unique_id: str = "id", tier: str | None = None, **extra) -> dict:
    """A people CSV source mapping the usual columns."""
    source = {
        "kind": "csv", "entity": "people", "path": path, "unique_id": unique_id,
        "fields": {"email": {"column": "email", "type": "email"},
                   "linkedin_url": {"column": "linkedin", "type": "url"},
                   "first_name": {"column": "first_name"}},
    }
    if tier:
        source["tier"] = tier
    source.update(extra)
    return source


__all__ = ["ENTITIES", "Workspace", "people_source"]


def statements_during(store: Store, run) -> list[str]:
    """The SQL statements the store's engine executed while `run()` ran (COPY excepted: the
    driver's own call)."""
    seen: list[str] = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", watch)
    try:
        run()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", watch)
    return seen
