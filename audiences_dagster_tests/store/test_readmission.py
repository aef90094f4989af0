"""Upgrading a store that quarantined keyless rows (before migration 0011): the migration takes
them out of the quarantine and the next import re-admits them, so the store ends where a fresh
import of the same files would."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from audiences_dagster.store.api import MIGRATIONS, utcnow
from audiences_dagster_tests.support import Workspace, people_source

COLUMNS = ["id", "email", "linkedin", "first_name"]
CONTACTS = [
    {"id": "c1", "email": "ann@acme.com", "linkedin": "", "first_name": "Ann"},
    {"id": "c2", "email": "", "linkedin": "", "first_name": "Kay"},
    {"id": "c3", "email": "n/a", "linkedin": "", "first_name": "Pat"},
]
EVENTS = [
    {"id": "e1", "email": "ANN@acme.com", "linkedin": "", "first_name": "Ann B."},
    {"id": "e2", "email": "", "linkedin": "", "first_name": "Lou"},
]
KEYLESS = {"crm": ["c2", "c3"], "events": ["e2"]}


def _configure(ws: Workspace) -> None:
    ws.write_csv("contacts.csv", CONTACTS, COLUMNS)
    ws.write_csv("events.csv", EVENTS, COLUMNS)
    ws.configure({"crm": people_source("contacts.csv", tier="salesforce"), "events": people_source("events.csv")})


def _alembic(ws: Workspace, conn: sa.Connection) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def _as_an_earlier_version_left_it(ws: Workspace) -> None:
    """Import and resolve as before 0011: the keyless rows in the quarantine, not in the store."""
    ws.import_all()
    src, keys = ws.store.tables.source("people"), ws.store.tables.identity_keys
    with ws.store.engine.begin() as conn:
        for source, ids in KEYLESS.items():
            gone = sa.select(src.c.id).where(src.c.source == source, src.c.source_id.in_(ids))
            conn.execute(sa.delete(keys).where(keys.c.record_id.in_(gone)))
            conn.execute(sa.delete(src).where(src.c.source == source, src.c.source_id.in_(ids)))
    ws.unify_all()
    rows = {"crm": CONTACTS, "events": EVENTS}
    with ws.store.engine.begin() as conn:
        command.downgrade(_alembic(ws, conn), "0010")
        conn.execute(sa.insert(ws.store.tables.quarantine), [
            {"source": source, "run_id": "old", "row_number": number, "source_id": row["id"], "field": None,
             "scope": "row", "reason": "no_identity_key", "detail": "no usable identity key",
             "raw": json.dumps(row), "quarantined_at": utcnow()}
            for source, ids in KEYLESS.items()
            for number, row in enumerate(rows[source], start=2) if row["id"] in ids])


def _people(ws: Workspace) -> list[tuple]:
    return sorted((p["first_name"], p["email"], p["sources"]) for p in ws.unified())


def test_the_migration_takes_keyless_rows_out_of_the_quarantine(workspace: Workspace) -> None:
    _configure(workspace)
    _as_an_earlier_version_left_it(workspace)

    workspace.store.migrate()

    assert workspace.rows("quarantine", workspace.store.tables.quarantine.c.reason == "no_identity_key") == []
    waiting = {(r["source"], r["source_id"]) for r in workspace.rows("readmissions")}
    assert waiting == {(s, i) for s, ids in KEYLESS.items() for i in ids}


def test_the_next_run_readmits_them_and_ends_where_a_fresh_import_would(workspace: Workspace,
                                                                          tmp_path: Path) -> None:
    _configure(workspace)
    _as_an_earlier_version_left_it(workspace)
    assert len(workspace.unified()) == 1  # Ann, merged, and nobody else
    workspace.store.migrate()

    reports = workspace.run()

    assert {n: r.readmitted for n, r in reports["imports"].items()} == {"crm": 2, "events": 1}
    assert all(r.skipped for r in reports["imports"].values())  # the files did not change
    assert workspace.rows("readmissions") == []
    assert workspace.rows("quarantine", workspace.store.tables.quarantine.c.scope == "row") == []
    (tmp_path / "fresh").mkdir()
    fresh = Workspace(tmp_path / "fresh", f"sqlite:///{tmp_path / 'fresh' / 'store.db'}")
    try:
        _configure(fresh)
        fresh.run()
        assert _people(workspace) == _people(fresh) == [
            ("Ann", "ann@acme.com", "crm,events"), ("Kay", None, "crm"), ("Lou", None, "events"), ("Pat", None, "crm")]
    finally:
        fresh.close()


def test_a_readmitted_row_never_overwrites_a_version_imported_after_it(workspace: Workspace) -> None:
    _configure(workspace)
    _as_an_earlier_version_left_it(workspace)
    workspace.store.migrate()
    workspace.write_csv("contacts.csv", [CONTACTS[0], {**CONTACTS[1], "email": "kay@acme.com"}, CONTACTS[2]],
                        COLUMNS)
    workspace.import_all()  # re-admits first, then reads the changed file

    workspace.unify_all()

    kay = next(p for p in workspace.unified() if p["first_name"] == "Kay")
    assert kay["email"] == "kay@acme.com"
