"""A record's signal events follow it: a merge moves the absorbed record's events (and their
summary) to the survivor, and a split moves them back."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from audiences_dagster.identity.merges import split_merge
from audiences_dagster_tests.signals.world import detect
from audiences_dagster_tests.support import Workspace

COLUMNS = ["id", "email", "title"]
TITLE_CHANGED = {"name": "title_changed", "kind": "field_change", "entity": "people", "field": "title"}
SOURCES = {
    name: {"kind": "csv", "entity": "people", "path": f"{name}.csv", "unique_id": "id",
           "fields": {"email": {"column": "email", "type": "email"}, "title": {"column": "title"}}}
    for name in ("crm", "events")
}
SOURCES["crm"]["tier"] = "salesforce"  # its title wins the merged record: the merge changes no title


def _write(ws: Workspace, crm: list[dict], events: list[dict]) -> None:
    ws.write_csv("crm.csv", crm, COLUMNS)
    ws.write_csv("events.csv", events, COLUMNS)


def _world(ws: Workspace) -> tuple[int, int]:
    """Ann in the CRM; a keyless attendee whose title changed (one event); then the attendee's
    row gains Ann's email and the two merge. Returns (Ann's id, the attendee's former id)."""
    _write(ws, [{"id": "p1", "email": "ann@acme.com", "title": "VP Sales"}],
           [{"id": "e1", "email": "", "title": "Analyst"}])
    ws.configure(SOURCES, signals=[TITLE_CHANGED])
    ws.run()
    detect(ws)
    _write(ws, [{"id": "p1", "email": "ann@acme.com", "title": "VP Sales"}],
           [{"id": "e1", "email": "", "title": "Manager"}])
    ws.run()
    detect(ws)
    ann, attendee = ws.unified_id_of("crm", "p1"), ws.unified_id_of("events", "e1")
    assert _events(ws) == [(attendee, "Analyst", "Manager")]
    _write(ws, [{"id": "p1", "email": "ann@acme.com", "title": "VP Sales"}],
           [{"id": "e1", "email": "ann@acme.com", "title": "Manager"}])
    ws.run()
    return ann, attendee


def _events(ws: Workspace) -> list[tuple]:
    events = ws.store.tables.signal_events
    with ws.store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(events.c.record_id, events.c.old_value, events.c.new_value).order_by(events.c.id))]


def _summaries(ws: Workspace) -> list[tuple]:
    return [(r["record_id"], r["times_fired"], r["last_new_value"]) for r in ws.rows("signal_summary",
                                                                                     order_by="record_id")]


def test_a_merge_moves_the_absorbed_records_events_to_the_survivor(workspace: Workspace) -> None:
    ann, attendee = _world(workspace)

    assert workspace.unified_id_of("events", "e1") == ann
    assert _events(workspace) == [(ann, "Analyst", "Manager")]
    assert _summaries(workspace) == [(ann, 1, "Manager")]


def test_a_split_moves_the_events_back_to_the_restored_record(workspace: Workspace) -> None:
    ann, attendee = _world(workspace)
    [merge] = workspace.rows("merge_log")

    split_merge(workspace.store, workspace.config, merge["id"], uuid.uuid4().hex)

    assert workspace.unified_id_of("events", "e1") == attendee
    assert _events(workspace) == [(attendee, "Analyst", "Manager")]
    assert _summaries(workspace) == [(attendee, 1, "Manager")]


def test_the_survivors_own_events_stay_with_it_through_a_split(workspace: Workspace) -> None:
    ann, attendee = _world(workspace)
    _write(workspace, [{"id": "p1", "email": "ann@acme.com", "title": "CRO"}],
           [{"id": "e1", "email": "ann@acme.com", "title": "Manager"}])
    workspace.run()
    detect(workspace)
    assert _events(workspace) == [(ann, "Analyst", "Manager"), (ann, "VP Sales", "CRO")]
    [merge] = workspace.rows("merge_log")

    split_merge(workspace.store, workspace.config, merge["id"], uuid.uuid4().hex)

    assert _events(workspace) == [(attendee, "Analyst", "Manager"), (ann, "VP Sales", "CRO")]
    assert _summaries(workspace) == sorted([(ann, 1, "CRO"), (attendee, 1, "Manager")])


def test_the_survivors_summary_counts_every_moved_event_with_its_first_and_last_change(workspace: Workspace) -> None:
    _write(workspace, [{"id": "p1", "email": "ann@acme.com", "title": "VP Sales"}],
           [{"id": "e1", "email": "", "title": "Analyst"}])
    workspace.configure(SOURCES, signals=[TITLE_CHANGED])
    workspace.run()
    for title in ("Manager", "Director"):
        _write(workspace, [{"id": "p1", "email": "ann@acme.com", "title": "VP Sales"}],
               [{"id": "e1", "email": "", "title": title}])
        workspace.run()
        detect(workspace)
    _write(workspace, [{"id": "p1", "email": "ann@acme.com", "title": "VP Sales"}],
           [{"id": "e1", "email": "ann@acme.com", "title": "Director"}])

    workspace.run()

    ann = workspace.unified_id_of("crm", "p1")
    events = workspace.rows("signal_events")
    [summary] = workspace.rows("signal_summary", order_by="record_id")
    assert (summary["record_id"], summary["times_fired"]) == (ann, 2)
    assert (summary["last_old_value"], summary["last_new_value"]) == ("Manager", "Director")
    assert summary["first_fired_at"] == min(e["fired_at"] for e in events)
    assert summary["last_fired_at"] == max(e["fired_at"] for e in events)




def test_an_event_of_a_cleared_value_goes_back_with_the_record_it_was_recorded_on(workspace: Workspace) -> None:
    """A value cleared in its source has no source record behind the change: its event belongs
    to the record the change was recorded on, and a split gives it back to that record (and
    leaves the survivor's own such event with the survivor)."""
    _write(workspace, [{"id": "p1", "email": "ann@acme.com", "title": "VP Sales"}],
           [{"id": "e1", "email": "", "title": "Analyst"}])
    workspace.configure(SOURCES, signals=[TITLE_CHANGED])
    workspace.run()
    ann_row = {"id": "p1", "email": "ann@acme.com", "title": ""}
    _write(workspace, [ann_row], [{"id": "e1", "email": "", "title": ""}])  # both titles cleared
    workspace.run()
    detect(workspace)
    ann, attendee = workspace.unified_id_of("crm", "p1"), workspace.unified_id_of("events", "e1")
    _write(workspace, [ann_row], [{"id": "e1", "email": "ann@acme.com", "title": ""}])
    workspace.run()
    assert sorted(_events(workspace)) == [(ann, "Analyst", None), (ann, "VP Sales", None)]
    [merge] = workspace.rows("merge_log")

    split_merge(workspace.store, workspace.config, merge["id"], uuid.uuid4().hex)

    assert sorted(_events(workspace)) == sorted([(attendee, "Analyst", None), (ann, "VP Sales", None)])
    assert _summaries(workspace) == sorted([(ann, 1, None), (attendee, 1, None)])
