"""A first load's unified records are created on a second connection (PostgreSQL) while the
resolution writes its merges; the two commit together or not at all, and a crash between the two
commits is redone by the next resolution."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from audiences_dagster.identity import resolve
from audiences_dagster_tests.support import Workspace, people_source


def person(pid: str, email: str) -> dict:
    return {"id": pid, "email": email, "linkedin": "", "first_name": pid.upper()}


def two_sources(workspace: Workspace) -> None:
    """a and b are one person (same email) across two sources; c is alone."""
    workspace.write_csv("crm.csv", [person("a", "a@acme.com"), person("c", "c@acme.com")])
    workspace.write_csv("events.csv", [person("b", "A@acme.com")])
    workspace.configure({"crm": people_source("crm.csv", tier="salesforce"), "events": people_source("events.csv")})


def creations(monkeypatch) -> list[str]:
    """The entities whose unified records were created apart."""
    created, alongside = [], resolve._CreatedApart.alongside

    def watch(self, work):
        created.append(self.resolver.entity)
        return alongside(self, work)

    monkeypatch.setattr(resolve._CreatedApart, "alongside", watch)
    return created


def assert_resolved(workspace: Workspace) -> None:
    a, b, c = (workspace.unified_id_of(s, i) for s, i in (("crm", "a"), ("events", "b"), ("crm", "c")))
    assert a == b != c
    unified = {row["id"]: row for row in workspace.unified()}
    assert set(unified) == {a, c}
    assert unified[a]["first_name"] == "A" and unified[a]["sources"] == "crm,events"
    assert [(m["survivor_id"], m["reason"]) for m in workspace.rows("merge_log")] == [(a, "email")]
    created = [h["unified_id"] for h in workspace.rows("field_history") if h["field"] == "__created__"]
    assert sorted(created) == sorted(unified)
    assert workspace.rows("pending_ranges") == [] and workspace.rows("pending_records", order_by="record_id") == []


def test_a_first_load_creates_its_unified_records_beside_the_merges(workspace: Workspace, monkeypatch):
    two_sources(workspace)
    created = creations(monkeypatch)

    workspace.run()

    assert created == (["people"] if workspace.store.engine.dialect.name == "postgresql" else [])
    assert_resolved(workspace)


def test_a_first_load_on_postgresql_only_counts_its_pending_records(workspace: Workspace, monkeypatch):
    """Each record its own label and no unified row yet: no list of the pending records is made
    (the creation finds them by id); SQLite still lists them."""
    two_sources(workspace)
    made, temp = [], resolve._Resolver._temp

    def watch(self, name, *columns, **kwargs):
        made.append((self.entity, name))
        return temp(self, name, *columns, **kwargs)

    monkeypatch.setattr(resolve._Resolver, "_temp", watch)

    workspace.run()

    assert (("people", "pend") in made) == (workspace.store.engine.dialect.name != "postgresql")
    assert_resolved(workspace)


def test_a_first_load_takes_records_queued_one_by_one_off_the_queue(workspace: Workspace, monkeypatch):
    """A record inside the imported ranges that is also queued on its own (a second import of it
    before the resolution, say) is resolved once, and leaves the queue, counted or listed."""
    two_sources(workspace)
    workspace.import_all()
    store = workspace.store
    src = store.tables.source("people")
    with store.engine.begin() as conn:
        store.mark_pending(conn, "people", sa.select(src.c.id).where(src.c.source_id == "c"))
    assert len(workspace.rows("pending_records", order_by="record_id")) == 1
    created = creations(monkeypatch)

    workspace.unify_all()

    assert created == (["people"] if store.engine.dialect.name == "postgresql" else [])
    assert_resolved(workspace)


def test_a_later_resolution_updates_in_one_transaction(workspace: Workspace, monkeypatch):
    two_sources(workspace)
    workspace.run()
    created = creations(monkeypatch)
    workspace.write_csv("crm.csv", [person("a", "a@acme.com"), person("c", "c@acme.com"), person("d", "d@acme.com")])

    workspace.run()

    assert created == []
    assert len(workspace.unified()) == 3


def test_a_resolution_that_fails_beside_the_creation_leaves_nothing(workspace: Workspace, monkeypatch):
    two_sources(workspace)
    workspace.import_all()

    def fail(self):
        raise RuntimeError("killed while writing the merges")

    monkeypatch.setattr(resolve._Resolver, "assign", fail)
    with pytest.raises(RuntimeError, match="killed while writing the merges"):
        workspace.unify_all()

    assert workspace.unified() == [] and workspace.rows("field_history") == []
    assert workspace.rows("merge_log") == []
    monkeypatch.undo()
    workspace.unify_all()
    assert_resolved(workspace)


def test_a_creation_that_fails_leaves_nothing(workspace: Workspace, monkeypatch):
    two_sources(workspace)
    workspace.import_all()
    survivorship = resolve.apply_survivorship

    def fail(conn, store, config, entity, *args, **kwargs):
        if entity == "people":
            raise RuntimeError("killed while creating the records")
        return survivorship(conn, store, config, entity, *args, **kwargs)

    monkeypatch.setattr(resolve, "apply_survivorship", fail)
    with pytest.raises(RuntimeError, match="killed while creating the records"):
        workspace.unify_all()

    assert workspace.unified() == [] and workspace.rows("merge_log") == []
    assert workspace.unified_id_of("events", "b") != workspace.unified_id_of("crm", "a")  # not written
    monkeypatch.undo()
    workspace.unify_all()
    assert_resolved(workspace)


def test_a_crash_between_the_two_commits_is_redone_by_the_next_resolution(workspace: Workspace, monkeypatch):
    two_sources(workspace)
    workspace.import_all()

    postgres = workspace.store.engine.dialect.name == "postgresql"
    alongside = resolve._CreatedApart.alongside

    def crash(*args):
        if args and isinstance(args[0], resolve._CreatedApart):
            alongside(*args)  # returns once the creation has committed
        raise RuntimeError("killed before the resolution committed")

    if postgres:
        monkeypatch.setattr(resolve._CreatedApart, "alongside", crash)
    else:  # one transaction: killed before it commits
        monkeypatch.setattr(resolve._Resolver, "finish", crash)
    with pytest.raises(RuntimeError, match="killed before the resolution committed"):
        workspace.unify_all()

    if postgres:
        assert len(workspace.unified()) == 2  # the creation's commit stands...
    assert workspace.rows("merge_log") == []  # ...the merges' did not
    assert workspace.rows("pending_ranges") != []
    monkeypatch.undo()
    workspace.unify_all()
    assert_resolved(workspace)
    assert len(workspace.unified()) == 2


def test_a_companies_first_load_wakes_its_people_before_the_creation_commits(workspace: Workspace, monkeypatch):
    """Waking the people of new companies is part of the resolution's side: should it fail, the
    companies' creation rolls back with it."""
    workspace.write_csv("crm.csv", [person("a", "a@acme.com")])
    workspace.write_csv("accounts.csv", [{"id": "x", "domain": "acme.com", "name": "Acme"}])
    workspace.configure({"crm": people_source("crm.csv"),
                         "accounts": {"kind": "csv", "entity": "companies", "path": "accounts.csv", "unique_id": "id",
                                      "fields": {"domain": {"column": "domain", "type": "url"},
                                                 "name": {"column": "name"}}}})
    workspace.import_all()

    def fail(self):
        raise RuntimeError("killed while waking people")

    monkeypatch.setattr(resolve._Resolver, "_wake_people_of_changed_companies", fail)
    with pytest.raises(RuntimeError, match="killed while waking people"):
        resolve.unify(workspace.store, workspace.config, "companies", "run")

    assert workspace.unified("companies") == []
