"""Date windows and instants: where "within the last N months" starts, what the exact boundary
instant belongs to, and windows nested in groups sliding past records without any import."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from audiences_dagster.segments.filters import window_start
from audiences_dagster_tests.segments.people import (
    NOW, PEOPLE, days_ago, member_emails, refresh, segment, setup, with_changes, write_unified,
)
from audiences_dagster_tests.support import Workspace

ANN, BOB, CY, DEE = "ann@acme.com", "bob@globex.com", "cy@initech.com", "dee@umbrella.com"


@pytest.mark.parametrize(("now", "months", "start"), [
    (datetime(2027, 3, 31, 9, 30), 1, datetime(2027, 2, 28, 9, 30)),   # no 31 February: its last day
    (datetime(2028, 3, 31, 9, 30), 1, datetime(2028, 2, 29, 9, 30)),   # a leap year's 29 February
    (datetime(2028, 2, 29), 12, datetime(2027, 2, 28)),                # from 29 February back a year
    (datetime(2100, 3, 31), 1, datetime(2100, 2, 28)),                 # 2100 is no leap year
    (datetime(2000, 3, 31), 1, datetime(2000, 2, 29)),                 # 2000 is one
    (datetime(2027, 1, 15, 8), 2, datetime(2026, 11, 15, 8)),          # across a year's start
    (datetime(2027, 12, 31), 1, datetime(2027, 11, 30)),
    (datetime(2027, 7, 31), 13, datetime(2026, 6, 30)),
    (datetime(2027, 5, 10), 0, datetime(2027, 5, 10)),
])
def test_a_months_window_starts_on_the_same_day_or_the_months_last(now: datetime, months: int,
                                                                       start: datetime) -> None:
    assert window_start(now, months, "months") == start


def test_days_and_weeks_windows_start_that_many_days_back() -> None:
    now = datetime(2027, 3, 1, 12)
    assert window_start(now, 3, "days") == datetime(2027, 2, 26, 12)
    assert window_start(now, 2, "weeks") == datetime(2027, 2, 15, 12)
    assert window_start(now, 3, None) == datetime(2027, 2, 26, 12)


def test_within_the_last_month_on_the_31st_reaches_back_to_the_months_last_day(workspace: Workspace) -> None:
    now = datetime(2027, 3, 31, 12)
    people = [{**PEOPLE[0], "signed_up": "2027-02-28T12:00:00"}, {**PEOPLE[1], "signed_up": "2027-02-28T11:59:59"},
              *PEOPLE[2:3], {**PEOPLE[3], "signed_up": "2027-03-31T12:00:00"}]
    setup(workspace, [segment("s", {"field": "signed_up", "op": "within_last", "value": 1, "unit": "months"})], people)

    refresh(workspace, now=now)

    assert member_emails(workspace, "s") == {ANN, DEE}


def test_before_leaves_out_the_exact_instant(workspace: Workspace) -> None:
    setup(workspace, [segment("s", {"field": "signed_up", "op": "before", "value": days_ago(100)})])  # Bob's day

    refresh(workspace)

    assert member_emails(workspace, "s") == {DEE}


def test_after_leaves_out_the_exact_instant(workspace: Workspace) -> None:
    setup(workspace, [segment("s", {"field": "signed_up", "op": "after", "value": days_ago(100)})])  # Bob's day

    refresh(workspace)

    assert member_emails(workspace, "s") == {ANN}


NESTED = {"all": [{"field": "paying", "op": "is_true"},
                  {"any": [{"field": "score", "op": "gt", "value": 1000},
                           {"field": "signed_up", "op": "within_last", "value": 30, "unit": "days"}]}]}


def settled(ws: Workspace, people: list[dict]) -> None:
    """The people were last changed a day ago: only a window sliding over them can move them."""
    write_unified(ws, people, updated_at=NOW - timedelta(days=1))


def test_a_window_nested_in_groups_moves_a_record_out_when_time_slides(workspace: Workspace) -> None:
    setup(workspace, [segment("recent_payers", NESTED)])
    settled(workspace, PEOPLE)
    refresh(workspace, now=NOW)
    assert member_emails(workspace, "recent_payers") == {ANN}

    report = refresh(workspace, now=NOW + timedelta(days=40))["recent_payers"]

    assert (report.mode, report.exited, report.members) == ("incremental", 1, 0)
    assert member_emails(workspace, "recent_payers") == set()


def test_a_window_nested_in_groups_moves_a_future_date_in_when_time_slides(workspace: Workspace) -> None:
    people = with_changes("p4", signed_up=(NOW + timedelta(days=3)).date().isoformat())
    setup(workspace, [segment("recent_payers", NESTED)], people)
    settled(workspace, people)
    refresh(workspace, now=NOW)

    report = refresh(workspace, now=NOW + timedelta(days=10))["recent_payers"]

    assert (report.mode, report.entered) == ("incremental", 1)
    assert member_emails(workspace, "recent_payers") == {ANN, DEE}


def settled_at(ws: Workspace, person: str, signed_up: datetime) -> None:
    settled(ws, with_changes(person, signed_up=signed_up.isoformat()))


def test_a_months_window_sliding_moves_a_record_out_without_any_import(workspace: Workspace) -> None:
    setup(workspace, [segment("recent", {"field": "signed_up", "op": "within_last", "value": 1, "unit": "months"})])
    settled_at(workspace, "p3", NOW - timedelta(days=20))
    refresh(workspace, now=NOW)
    assert member_emails(workspace, "recent") == {ANN, CY}

    refresh(workspace, now=NOW + timedelta(days=15))

    assert member_emails(workspace, "recent") == {ANN}


def test_a_record_exactly_at_the_old_window_start_exits_when_the_window_slides(workspace: Workspace) -> None:
    setup(workspace, [segment("recent", {"field": "signed_up", "op": "within_last", "value": 30, "unit": "days"})])
    settled_at(workspace, "p3", NOW - timedelta(days=30))
    refresh(workspace, now=NOW)
    assert CY in member_emails(workspace, "recent")

    refresh(workspace, now=NOW + timedelta(hours=1))

    assert CY not in member_emails(workspace, "recent")


def test_a_future_date_enters_at_the_exact_instant_it_is_reached(workspace: Workspace) -> None:
    setup(workspace, [segment("recent", {"field": "signed_up", "op": "within_last", "value": 30, "unit": "days"})])
    settled_at(workspace, "p3", NOW + timedelta(hours=5))
    refresh(workspace, now=NOW)
    assert CY not in member_emails(workspace, "recent")

    refresh(workspace, now=NOW + timedelta(hours=5))

    assert CY in member_emails(workspace, "recent")


def test_a_not_within_last_window_sliding_moves_a_record_in_without_any_import(workspace: Workspace) -> None:
    setup(workspace, [segment("lapsed", {"any": [{"field": "signed_up", "op": "not_within_last", "value": 30,
                                                  "unit": "days"}]})])
    settled(workspace, PEOPLE)
    refresh(workspace, now=NOW)
    assert ANN not in member_emails(workspace, "lapsed")

    refresh(workspace, now=NOW + timedelta(days=40))

    assert ANN in member_emails(workspace, "lapsed")
