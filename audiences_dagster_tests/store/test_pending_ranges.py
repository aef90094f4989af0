"""A batch of only new records is queued for identity resolution as one id range, not one queue
row per record; records queued either way are resolved once, and both queues end empty."""

from __future__ import annotations

import sqlalchemy as sa

from audiences_dagster.identity.resolve import _disjoint
from audiences_dagster_tests.segments.test_migration import store_at
from audiences_dagster_tests.support import Workspace, people_source


def people(*ids: str) -> list[dict]:
    return [{"id": i, "email": f"{i}@acme.com", "linkedin": "", "first_name": i.upper()} for i in ids]


def source_ids(workspace: Workspace) -> list[int]:
    return [r["id"] for r in workspace.rows("source_people")]


def test_a_batch_of_new_records_is_queued_as_one_id_range(workspace: Workspace):
    workspace.write_csv("crm.csv", people("a", "b", "c"))
    workspace.configure({"crm": people_source("crm.csv")})

    workspace.import_all()

    ids = source_ids(workspace)
    assert workspace.rows("pending_records", order_by="record_id") == []
    assert [(r["entity"], r["first_id"], r["last_id"]) for r in workspace.rows("pending_ranges")] == [
        ("people", min(ids), max(ids))]
    assert workspace.store.pending_count("people") == 3

    report = workspace.unify_all()

    assert report["people"].pending == 3
    assert len(workspace.unified()) == 3
    assert workspace.rows("pending_ranges") == []
    assert workspace.store.pending_count("people") == 0


def test_changed_records_are_still_queued_one_by_one(workspace: Workspace):
    workspace.write_csv("crm.csv", people("a", "b"))
    workspace.configure({"crm": people_source("crm.csv")})
    workspace.run()

    workspace.write_csv("crm.csv", [{**people("a")[0], "first_name": "Alice"}, *people("b", "c")])
    workspace.import_all()

    changed_a = workspace.rows("source_people", workspace.store.tables.source("people").c.source_id == "a")[0]["id"]
    queued = [r["record_id"] for r in workspace.rows("pending_records", order_by="record_id")]
    assert queued == [changed_a, max(source_ids(workspace))]  # a batch with an existing row: one by one
    assert workspace.rows("pending_ranges") == []

    report = workspace.unify_all()

    assert report["people"].pending == 2
    assert workspace.unified()[0]["first_name"] == "Alice"
    assert workspace.store.pending_count("people") == 0


def test_a_record_queued_both_ways_is_resolved_once_and_leaves_neither_queue(workspace: Workspace):
    workspace.write_csv("crm.csv", people("a", "b", "c"))
    workspace.configure({"crm": people_source("crm.csv")})
    workspace.import_all()
    store, src = workspace.store, workspace.store.tables.source("people")
    with store.engine.begin() as conn:  # queued again one by one (a reported delete, say)
        store.mark_pending(conn, "people", sa.select(src.c.id).where(src.c.source_id == "b"))
        # and a second range over the same records, as interleaved concurrent imports leave
        ids = source_ids(workspace)
        conn.execute(sa.insert(store.tables.pending_ranges).values(entity="people", first_id=ids[1], last_id=ids[2]))
    assert store.pending_count("people") == 3

    report = workspace.unify_all()

    assert report["people"].pending == 3
    assert len(workspace.unified()) == 3
    assert workspace.rows("pending_records", order_by="record_id") == []
    assert workspace.rows("pending_ranges") == []


def test_ranges_that_overlap_or_meet_merge_into_disjoint_ones():
    assert _disjoint([(30, 40), (1, 10), (5, 20), (21, 25), (24, 24), (27, 28)]) == [(1, 25), (27, 28), (30, 40)]
    assert _disjoint([]) == []


def test_store_from_revision_0008_gets_the_pending_ranges_table(store_url: str):
    with store_at(store_url, "0008") as store:
        with store.engine.begin() as conn:  # what a store made before this change looked like
            conn.execute(sa.text("DROP TABLE pending_ranges"))

        store.migrate()

        assert "pending_ranges" in sa.inspect(store.engine).get_table_names()
        assert store.pending_count("people") == 0
