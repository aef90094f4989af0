"""A small people workspace with one field of every type, and helpers to refresh and read segments."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from audiences_dagster.config import AudiencesConfig
from audiences_dagster.segments.membership import RefreshReport, refresh_segments
from audiences_dagster.store.api import utcnow
from audiences_dagster_tests.support import Workspace

# Segment evaluation time used by the tests (the real clock, so import times line up with it);
# dates below are placed relative to it.
NOW = utcnow().replace(microsecond=0)


def days_ago(days: int) -> str:
    return (NOW - timedelta(days=days)).date().isoformat()


COLUMNS = ["id", "email", "linkedin", "first_name", "title", "score", "signed_up", "paying"]
PEOPLE = [
    {"id": "p1", "email": "ann@acme.com", "first_name": "Ann", "title": "VP Sales", "score": "90",
     "signed_up": days_ago(5), "paying": "true"},
    {"id": "p2", "email": "bob@globex.com", "first_name": "Bob", "title": "Account Executive", "score": "40",
     "signed_up": days_ago(100), "paying": "false"},
    {"id": "p3", "email": "cy@initech.com", "first_name": "Cy", "title": "", "score": "",
     "signed_up": "", "paying": ""},
    {"id": "p4", "email": "dee@umbrella.com", "first_name": "Dee", "title": "Head of Sales Ops", "score": "75",
     "signed_up": days_ago(200), "paying": "true"},
]


def crm_source(path: str = "people.csv", name_column: str = "first_name") -> dict:
    return {
        "kind": "csv", "entity": "people", "path": path, "unique_id": "id",
        "fields": {"email": {"column": "email", "type": "email"},
                   "linkedin_url": {"column": "linkedin", "type": "url"},
                   "first_name": {"column": name_column},
                   "title": {"column": "title"},
                   "score": {"column": "score", "type": "number"},
                   "signed_up": {"column": "signed_up", "type": "date"},
                   "paying": {"column": "paying", "type": "boolean"}},
    }


def segment(name: str, filter: dict, entity: str = "people") -> dict:
    return {"name": name, "entity": entity, "filter": filter}


def setup(ws: Workspace, segments: list[dict], people: list[dict] = PEOPLE,
          sources: dict | None = None) -> AudiencesConfig:
    """Configure the segments and write the people straight into unified_people (the table
    segments read), as an import cycle would have left them."""
    config = ws.configure(sources or {"crm": crm_source()}, segments=segments)
    write_unified(ws, people)
    return config


def write_unified(ws: Workspace, people: list[dict], updated_at: datetime | None = None) -> None:
    """Upsert people into unified_people by their number (p3 -> id 3), typed like the store."""
    table = ws.store.tables.unified("people")
    now = updated_at or utcnow()
    with ws.store.engine.begin() as conn:
        for person in people:
            uid = record_id(person["id"])
            row = {"updated_at": now, "sources": person.get("sources", "crm"),
                   "deleted_in_source": person.get("deleted_in_source", False), **_typed(person)}
            if conn.execute(sa.select(table.c.id).where(table.c.id == uid)).first():
                conn.execute(sa.update(table).where(table.c.id == uid).values(**row))
            else:
                conn.execute(sa.insert(table).values(id=uid, created_at=now, **row))


def remove_unified(ws: Workspace, person_id: str) -> None:
    """The record goes away, as an absorbed record does when identity merges it."""
    table = ws.store.tables.unified("people")
    with ws.store.engine.begin() as conn:
        conn.execute(sa.delete(table).where(table.c.id == record_id(person_id)))


def record_id(person_id: str) -> int:
    return int(person_id.lstrip("p"))


def _typed(person: dict) -> dict:
    def text(v): return v or None
    def number(v): return float(v) if v not in ("", None) else None
    def date(v): return datetime.fromisoformat(v) if v else None
    def boolean(v): return {"true": True, "false": False}.get(v)
    types = {"email": text, "first_name": text, "title": text, "score": number, "signed_up": date, "paying": boolean}
    return {field: convert(person.get(field, "")) for field, convert in types.items()}


def import_setup(ws: Workspace, segments: list[dict], people: list[dict] = PEOPLE,
                 sources: dict | None = None) -> AudiencesConfig:
    """Write the CSV, configure the segments, then one real import cycle (import + unify)."""
    ws.write_csv("people.csv", people, columns=COLUMNS)
    config = ws.configure(sources or {"crm": crm_source()}, segments=segments)
    ws.run()
    return config


def rewrite(ws: Workspace, people: list[dict]) -> None:
    """The CRM export changes and the next import cycle runs."""
    ws.write_csv("people.csv", people, columns=COLUMNS)
    ws.run()


def refresh(ws: Workspace, *names: str, now: datetime | None = NOW, full: bool = False) -> dict[str, RefreshReport]:
    """Refresh at `now` (the fixed test time by default; None = the real clock, as after an import)."""
    return refresh_segments(ws.store, ws.config, uuid.uuid4().hex, names or None, now=now, full=full)


def member_emails(ws: Workspace, segment: str) -> set[str]:
    members, people = ws.store.tables.segment_members, ws.store.tables.unified("people")
    with ws.store.engine.connect() as conn:
        return set(conn.execute(sa.select(people.c.email).join(members, members.c.record_id == people.c.id)
                                .where(members.c.segment == segment)).scalars())


def events(ws: Workspace, segment: str) -> list[tuple[str, str]]:
    """(event, email) in the order they were logged."""
    log, people = ws.store.tables.segment_events, ws.store.tables.unified("people")
    with ws.store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(log.c.event, people.c.email).outerjoin(people, people.c.id == log.c.record_id)
            .where(log.c.segment == segment).order_by(log.c.id))]


def matching(ws: Workspace, filter: dict, people: list[dict] = PEOPLE) -> set[str]:
    """Emails of the people one filter selects after a refresh."""
    setup(ws, [segment("s", filter)], people)
    refresh(ws)
    return member_emails(ws, "s")


def with_changes(person_id: str, **changes) -> list[dict]:
    return [{**p, **changes} if p["id"] == person_id else p for p in PEOPLE]
