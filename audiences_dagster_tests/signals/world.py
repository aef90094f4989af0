"""A small world of companies and people imported from CSV, changed by later imports, so signals
read the history the store really records."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa

from audiences_dagster.config import AudiencesConfig
from audiences_dagster.signals.detect import SignalReport, run_signals
from audiences_dagster_tests.support import Workspace

PEOPLE_COLUMNS = ["id", "email", "title", "company_website"]
COMPANY_COLUMNS = ["id", "domain", "name", "headcount", "stage"]
COMPANIES = [
    {"id": "a1", "domain": "acme.com", "name": "Acme", "headcount": "100", "stage": "Seed"},
    {"id": "a2", "domain": "globex.com", "name": "Globex", "headcount": "50", "stage": "Series A"},
]
PEOPLE = [
    {"id": "p1", "email": "ann@acme.com", "title": "Account Executive", "company_website": "acme.com"},
    {"id": "p2", "email": "bob@globex.com", "title": "Sales Manager", "company_website": "globex.com"},
    {"id": "p3", "email": "cy@initech.com", "title": "VP Sales", "company_website": ""},
]

SOURCES = {
    "crm": {"kind": "csv", "entity": "people", "path": "people.csv", "unique_id": "id",
            "fields": {"email": {"column": "email", "type": "email"}, "title": {"column": "title"}},
            "company": {"domain_column": "company_website"}},
    "accounts": {"kind": "csv", "entity": "companies", "path": "companies.csv", "unique_id": "id",
                 "fields": {"domain": {"column": "domain", "type": "url"}, "name": {"column": "name"},
                            "headcount": {"column": "headcount", "type": "number"},
                            "stage": {"column": "stage"}}},
}
JOB_CHANGE = {"name": "job_changers", "kind": "job_change"}
PROMOTION = {"name": "promoted", "kind": "promotion", "field": "title"}
GROWTH = {"name": "headcount_growth", "kind": "field_change", "entity": "companies", "field": "headcount",
          "change": "increased", "min_percent": 20}


def build(ws: Workspace, signals: list[dict], segments: list[dict] | None = None,
          people: list[dict] = PEOPLE, companies: list[dict] = COMPANIES) -> AudiencesConfig:
    """Configure the signals and run the first import cycle."""
    write(ws, people, companies)
    config = ws.configure(SOURCES, signals=signals, segments=segments or [])
    ws.run()
    return config


def write(ws: Workspace, people: list[dict] = PEOPLE, companies: list[dict] = COMPANIES) -> None:
    ws.write_csv("people.csv", people, columns=PEOPLE_COLUMNS)
    ws.write_csv("companies.csv", companies, columns=COMPANY_COLUMNS)


def change(ws: Workspace, people: list[dict] = PEOPLE, companies: list[dict] = COMPANIES) -> None:
    """The exports change and the next import cycle runs."""
    write(ws, people, companies)
    ws.run()


def edited(rows: list[dict], row_id: str, **changes) -> list[dict]:
    return [{**r, **changes} if r["id"] == row_id else r for r in rows]


def detect(ws: Workspace, *names: str, now: datetime | None = None) -> dict[str, SignalReport]:
    return run_signals(ws.store, ws.config, uuid.uuid4().hex, names or None, now=now)


def fired(ws: Workspace, signal: str) -> list[tuple]:
    """(source id of the record, old value, new value) of every event of one signal."""
    events = ws.store.tables.signal_events
    with ws.store.engine.connect() as conn:
        rows = conn.execute(sa.select(events.c.record_id, events.c.old_value, events.c.new_value)
                            .where(events.c.signal == signal).order_by(events.c.id)).all()
    return [(source_id(ws, r.record_id, _entity(ws, signal)), r.old_value, r.new_value) for r in rows]


def _entity(ws: Workspace, signal: str) -> str:
    return next(s.entity for s in ws.config.signals if s.name == signal)


def source_id(ws: Workspace, record_id: int, entity: str = "people") -> str:
    src = ws.store.tables.source(entity)
    with ws.store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.min(src.c.source_id)).where(src.c.unified_id == record_id)).scalar_one()


def company_id(ws: Workspace, company: str) -> str:
    return str(ws.unified_id_of("accounts", company, "companies"))


def age_history(ws: Workspace, **delta) -> None:
    """Move every recorded change into the past, as if it had happened that long ago."""
    from datetime import timedelta

    history = ws.store.tables.field_history
    with ws.store.engine.begin() as conn:
        for row in conn.execute(sa.select(history.c.id, history.c.changed_at)).all():
            conn.execute(sa.update(history).where(history.c.id == row.id)
                         .values(changed_at=row.changed_at - timedelta(**delta)))
