"""Segments filter on signals: "fired within the last N days|weeks|months", refreshed when new
events arrive and when the window slides past old ones."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from audiences_dagster.segments.explain import explain
from audiences_dagster.segments.membership import condition_count, find_segment, member_count, refresh_segments
from audiences_dagster.store.api import utcnow
from audiences_dagster_tests.signals.world import PEOPLE, PROMOTION, build, change, detect, edited
from audiences_dagster_tests.support import Workspace

RECENTLY_PROMOTED = {"name": "recently_promoted", "entity": "people",
                     "filter": {"signal": "promoted", "op": "within_last", "value": 30, "unit": "days"}}
NOT_PROMOTED = {"name": "not_promoted", "entity": "people",
                "filter": {"signal": "promoted", "op": "not_within_last", "value": 30, "unit": "days"}}


def refresh(ws: Workspace, now=None) -> dict:
    return refresh_segments(ws.store, ws.config, uuid.uuid4().hex, now=now)


def members(ws: Workspace, segment: str) -> set[str]:
    table, people = ws.store.tables.segment_members, ws.store.tables.unified("people")
    with ws.store.engine.connect() as conn:
        return set(conn.execute(sa.select(people.c.email).join(table, table.c.record_id == people.c.id)
                                .where(table.c.segment == segment)).scalars())


def test_record_with_a_new_signal_event_enters_on_the_next_refresh(workspace: Workspace):
    build(workspace, [PROMOTION], segments=[RECENTLY_PROMOTED, NOT_PROMOTED])
    refresh(workspace)
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    detect(workspace)

    reports = refresh(workspace)

    assert (reports["recently_promoted"].mode, reports["recently_promoted"].entered) == ("incremental", 1)
    assert members(workspace, "recently_promoted") == {"ann@acme.com"}
    assert members(workspace, "not_promoted") == {"bob@globex.com", "cy@initech.com"}


def test_record_leaves_when_the_window_slides_past_its_signal(workspace: Workspace):
    build(workspace, [PROMOTION], segments=[RECENTLY_PROMOTED])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    detect(workspace)
    refresh(workspace)

    report = refresh(workspace, now=utcnow() + timedelta(days=31))["recently_promoted"]

    assert (report.mode, report.exited, report.members) == ("incremental", 1, 0)


def test_signal_segment_count_equals_a_direct_count(workspace: Workspace):
    config = build(workspace, [PROMOTION], segments=[RECENTLY_PROMOTED, NOT_PROMOTED])
    change(workspace, edited(edited(PEOPLE, "p1", title="Sales Manager"), "p2", title="Sales Director"))
    detect(workspace)
    now = utcnow()

    reports = refresh(workspace, now=now)

    for name in ("recently_promoted", "not_promoted"):
        direct = condition_count(workspace.store, config, find_segment(config, name), now)
        assert reports[name].members == member_count(workspace.store, name) == direct
    assert reports["recently_promoted"].members == 2


def test_explain_names_the_signal_window(workspace: Workspace):
    build(workspace, [PROMOTION], segments=[RECENTLY_PROMOTED])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    detect(workspace)
    ann = workspace.unified_id_of("crm", "p1")

    text = explain(workspace.store, workspace.config, "recently_promoted", ann).render()

    assert "✓ signal 'promoted' fired within the last 30 days" in text
