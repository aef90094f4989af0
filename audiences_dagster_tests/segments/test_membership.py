"""Membership kept in segment_members, every change logged in segment_events, counts that always
equal a direct count of the condition, and refreshes that follow imports, time and other segments."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from audiences_dagster_tests.segments.people import (
    NOW, PEOPLE, events, import_setup, member_emails, refresh, rewrite, segment, setup, with_changes,
    write_unified,
)
from audiences_dagster.segments.membership import condition_count, find_segment, member_count
from audiences_dagster_tests.support import Workspace

ANN, BOB, CY, DEE = "ann@acme.com", "bob@globex.com", "cy@initech.com", "dee@umbrella.com"
PAYING = segment("payers", {"field": "paying", "op": "is_true"})
HOUR = timedelta(hours=1)


def test_first_refresh_logs_every_member_as_entered(workspace: Workspace):
    setup(workspace, [PAYING])

    report = refresh(workspace)["payers"]

    assert (report.mode, report.members, report.entered, report.exited) == ("full", 2, 2, 0)
    assert events(workspace, "payers") == [("entered", ANN), ("entered", DEE)]


def test_refresh_without_changes_logs_nothing(workspace: Workspace):
    setup(workspace, [PAYING])
    refresh(workspace)

    report = refresh(workspace, now=NOW + HOUR)["payers"]

    assert (report.mode, report.members, report.entered, report.exited) == ("incremental", 2, 0, 0)
    assert len(events(workspace, "payers")) == 2


def test_record_that_stops_matching_exits_on_next_refresh(workspace: Workspace):
    setup(workspace, [PAYING])
    refresh(workspace)
    write_unified(workspace, with_changes("p1", paying="false"))

    report = refresh(workspace, now=NOW + HOUR)["payers"]

    assert (report.members, report.entered, report.exited) == (1, 0, 1)
    assert member_emails(workspace, "payers") == {DEE}
    assert events(workspace, "payers")[-1] == ("exited", ANN)


def test_events_carry_the_refresh_time_and_run(workspace: Workspace):
    setup(workspace, [PAYING])
    refresh(workspace, now=NOW)
    log = workspace.store.tables.segment_events
    with workspace.store.engine.connect() as conn:
        rows = conn.execute(sa.select(log.c.entity, log.c.at, log.c.run_id)).all()

    assert {(entity, at) for entity, at, _ in rows} == {("people", NOW)}
    assert len({run for *_, run in rows}) == 1


def test_record_changed_by_import_leaves_segment_on_next_refresh(workspace: Workspace):
    import_setup(workspace, [PAYING])
    refresh(workspace, now=None)
    rewrite(workspace, with_changes("p4", paying="false"))

    report = refresh(workspace, now=None)["payers"]

    assert (report.mode, report.exited) == ("incremental", 1)
    assert member_emails(workspace, "payers") == {ANN}


def test_record_added_by_import_enters_segment_on_next_refresh(workspace: Workspace):
    import_setup(workspace, [PAYING])
    refresh(workspace, now=None)
    newcomer = {"id": "p5", "email": "eve@hooli.com", "first_name": "Eve", "title": "CFO", "score": "10",
                "signed_up": "", "paying": "yes"}
    rewrite(workspace, [*PEOPLE, newcomer])

    report = refresh(workspace, now=None)["payers"]

    assert report.entered == 1
    assert member_emails(workspace, "payers") == {ANN, DEE, "eve@hooli.com"}


def test_record_merged_away_by_import_exits_and_its_survivor_stays(workspace: Workspace):
    import_setup(workspace, [PAYING])
    refresh(workspace, now=None)
    duplicate = {**PEOPLE[0], "id": "p6", "email": "dee@umbrella.com", "paying": "true"}  # Ann's row, Dee's email
    rewrite(workspace, [PEOPLE[1], PEOPLE[2], PEOPLE[3], duplicate | {"id": "p1"}])

    refresh(workspace, now=None)

    assert member_count(workspace.store, "payers") == len(member_emails(workspace, "payers")) == 1
    assert member_emails(workspace, "payers") == {DEE}


def test_incremental_refresh_reevaluates_only_changed_records(workspace: Workspace):
    setup(workspace, [PAYING])
    refresh(workspace, now=NOW + HOUR)
    write_unified(workspace, with_changes("p2", paying="true")[1:2], updated_at=NOW + 2 * HOUR)

    report = refresh(workspace, now=NOW + 3 * HOUR)["payers"]

    assert (report.mode, report.candidates, report.entered) == ("incremental", 1, 1)


def test_sliding_window_moves_a_record_out_without_any_import(workspace: Workspace):
    setup(workspace, [segment("recent", {"field": "signed_up", "op": "within_last", "value": 30, "unit": "days"})])
    refresh(workspace, now=NOW)

    report = refresh(workspace, now=NOW + timedelta(days=40))["recent"]

    assert (report.mode, report.exited, report.members) == ("incremental", 1, 0)
    assert events(workspace, "recent") == [("entered", ANN), ("exited", ANN)]


def test_sliding_window_moves_a_future_date_in_without_any_import(workspace: Workspace):
    people = with_changes("p3", signed_up=(NOW + timedelta(days=3)).date().isoformat())
    setup(workspace, [segment("recent", {"field": "signed_up", "op": "within_last", "value": 30, "unit": "days"})],
          people)
    refresh(workspace, now=NOW)

    report = refresh(workspace, now=NOW + timedelta(days=10))["recent"]

    assert report.entered == 1 and member_emails(workspace, "recent") == {ANN, CY}


def test_exit_from_a_referenced_segment_reaches_the_segment_using_it(workspace: Workspace):
    big = segment("big_payers", {"all": [{"member_of": "payers"}, {"field": "score", "op": "gt", "value": 80}]})
    setup(workspace, [PAYING, big])
    refresh(workspace, now=NOW + HOUR)
    write_unified(workspace, with_changes("p1", paying="false")[:1], updated_at=NOW + 2 * HOUR)
    refresh(workspace, "payers", now=NOW + 3 * HOUR)

    report = refresh(workspace, "big_payers", now=NOW + 4 * HOUR)["big_payers"]

    assert (report.mode, report.exited) == ("incremental", 1)
    assert member_emails(workspace, "big_payers") == set()


def test_changes_to_a_record_and_its_referenced_segment_reach_the_segment_using_it_in_one_refresh(
        workspace: Workspace):
    big = segment("big_payers", {"all": [{"member_of": "payers"}, {"field": "score", "op": "gt", "value": 30}]})
    setup(workspace, [PAYING, big])
    refresh(workspace, now=NOW + HOUR)
    write_unified(workspace, [*with_changes("p1", paying="false")[:1], *with_changes("p2", paying="true")[1:2]],
                  updated_at=NOW + 2 * HOUR)

    reports = refresh(workspace, now=NOW + 3 * HOUR)

    assert (reports["payers"].entered, reports["payers"].exited) == (1, 1)
    assert (reports["big_payers"].mode, reports["big_payers"].entered, reports["big_payers"].exited) == \
        ("incremental", 1, 1)
    assert member_emails(workspace, "big_payers") == {BOB, DEE}


def test_changed_definition_refreshes_in_full(workspace: Workspace):
    setup(workspace, [PAYING])
    refresh(workspace)
    workspace.configure(workspace.config.model_dump(include={"sources"})["sources"],
                        segments=[segment("payers", {"field": "paying", "op": "is_false"})])

    report = refresh(workspace, now=NOW + HOUR)["payers"]

    assert (report.mode, report.entered, report.exited) == ("full", 1, 2)
    assert member_emails(workspace, "payers") == {BOB}


def test_member_count_equals_a_direct_count_after_every_kind_of_refresh(workspace: Workspace):
    tree = {"any": [{"field": "title", "op": "contains_any_of", "value": ["sales", "cfo"]},
                    {"field": "signed_up", "op": "within_last", "value": 30, "unit": "days"}]}
    config = setup(workspace, [segment("s", tree)])
    wanted = find_segment(config, "s")
    moments = [NOW, NOW + HOUR, NOW + timedelta(days=40)]
    write_plan = [None, with_changes("p3", title="CFO"), with_changes("p4", title="Engineer")]
    for moment, people in zip(moments, write_plan):
        if people:
            write_unified(workspace, people, updated_at=moment - timedelta(minutes=1))
        report = refresh(workspace, now=moment)["s"]
        assert report.members == member_count(workspace.store, "s") == \
            condition_count(workspace.store, config, wanted, moment)


def test_full_refresh_on_request_changes_nothing_when_nothing_changed(workspace: Workspace):
    setup(workspace, [PAYING])
    refresh(workspace)

    report = refresh(workspace, now=NOW + HOUR, full=True)["payers"]

    assert (report.mode, report.members, report.entered, report.exited) == ("full", 2, 0, 0)


def test_refreshing_an_undeclared_segment_names_the_declared_ones(workspace: Workspace):
    setup(workspace, [PAYING])
    from audiences_dagster.segments.membership import SegmentError

    try:
        refresh(workspace, "ghosts")
    except SegmentError as exc:
        assert str(exc) == "segment 'ghosts' is not declared in audiences.yaml (declared: payers)"
    else:
        raise AssertionError("expected SegmentError")
