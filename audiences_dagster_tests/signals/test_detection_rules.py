"""What fires a signal and what a run reports: the exact window a run reads, the values and times
of the events it stores, which events a changed definition forgets, and the counts it gives."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from audiences_dagster.signals.detect import SignalError, recent_events
from audiences_dagster_tests.signals.world import (
    COMPANIES, GROWTH, JOB_CHANGE, PEOPLE, PROMOTION, SOURCES, build, change, detect, edited, fired, source_id,
)
from audiences_dagster_tests.support import Workspace

CHANGED = datetime(2024, 3, 10, 12, 0, 0)  # when the changes of a test happened (set on their history)
TITLE_CHANGED = {"name": "title_changed", "kind": "field_change", "field": "title"}


def changes_happened_at(ws: Workspace, moment: datetime) -> None:
    """Date the changes recorded after `moment` (not the creations) at `moment`."""
    history = ws.store.tables.field_history
    with ws.store.engine.begin() as conn:
        conn.execute(sa.update(history).where(history.c.field != "__created__", history.c.changed_at > moment)
                     .values(changed_at=moment))


def reconfigure(ws: Workspace, signals: list[dict]) -> None:
    ws.configure(SOURCES, signals=signals)


def events_of(ws: Workspace, signal: str) -> list[dict]:
    events = ws.store.tables.signal_events
    return ws.rows("signal_events", events.c.signal == signal)


def summaries_of(ws: Workspace, signal: str) -> list[dict]:
    summary = ws.store.tables.signal_summary
    return ws.rows("signal_summary", summary.c.signal == signal, order_by="record_id")


def headcounts(ws: Workspace, signal: str) -> list[tuple[str, float, float]]:
    return [(company, float(old), float(new)) for company, old, new in fired(ws, signal)]


def test_losing_a_company_is_not_a_job_change(workspace: Workspace):
    build(workspace, [JOB_CHANGE])
    change(workspace, edited(PEOPLE, "p1", company_website=""))

    assert detect(workspace)["job_changers"].new_events == 0


def test_title_holding_two_levels_ranks_at_the_higher_one(workspace: Workspace):
    build(workspace, [PROMOTION], people=edited(PEOPLE, "p1", title="Software Engineer"))
    change(workspace, edited(PEOPLE, "p1", title="Engineering Manager"))

    detect(workspace)

    assert fired(workspace, "promoted") == [("p1", "Software Engineer", "Engineering Manager")]


def test_title_outside_the_seniority_ladder_is_never_a_promotion(workspace: Workspace):
    build(workspace, [PROMOTION], people=edited(PEOPLE, "p2", title="Intern"))
    change(workspace, edited(edited(PEOPLE, "p1", title="Gardener"), "p2", title="Sales Director"))

    assert detect(workspace)["promoted"].new_events == 0


def test_any_rise_fires_an_increase_signal_without_a_threshold(workspace: Workspace):
    build(workspace, [{**GROWTH, "min_percent": None}])
    change(workspace, companies=edited(edited(COMPANIES, "a1", headcount="99"), "a2", headcount="51"))

    detect(workspace)

    assert headcounts(workspace, "headcount_growth") == [("a2", 50.0, 51.0)]


def test_headcount_up_by_exactly_the_percent_fires(workspace: Workspace):
    build(workspace, [GROWTH])
    change(workspace, companies=edited(edited(COMPANIES, "a1", headcount="120"), "a2", headcount="59"))

    detect(workspace)

    assert headcounts(workspace, "headcount_growth") == [("a1", 100.0, 120.0)]


def test_growth_from_zero_headcount_has_no_percent_and_does_not_fire(workspace: Workspace):
    build(workspace, [GROWTH], companies=edited(COMPANIES, "a1", headcount="0"))
    change(workspace, companies=edited(COMPANIES, "a1", headcount="10"))

    assert detect(workspace)["headcount_growth"].new_events == 0


def test_headcount_down_by_at_least_the_amount_fires_and_a_smaller_drop_does_not(workspace: Workspace):
    shrink = {"name": "layoffs", "kind": "field_change", "entity": "companies", "field": "headcount",
              "change": "decreased", "min_amount": 10}
    build(workspace, [shrink])
    change(workspace, companies=edited(edited(COMPANIES, "a1", headcount="90"), "a2", headcount="41"))

    detect(workspace)

    assert headcounts(workspace, "layoffs") == [("a1", 100.0, 90.0)]


def test_decrease_signal_ignores_rises(workspace: Workspace):
    shrink = {"name": "layoffs", "kind": "field_change", "entity": "companies", "field": "headcount",
              "change": "decreased"}
    build(workspace, [shrink])
    change(workspace, companies=edited(edited(COMPANIES, "a1", headcount="101"), "a2", headcount="49"))

    detect(workspace)

    assert headcounts(workspace, "layoffs") == [("a2", 50.0, 49.0)]


def test_signal_ignores_changes_of_other_fields(workspace: Workspace):
    build(workspace, [GROWTH])
    change(workspace, companies=edited(COMPANIES, "a1", stage="Series A", name="Acme Inc"))

    assert detect(workspace)["headcount_growth"].new_events == 0


def test_asking_for_an_undeclared_signal_names_the_declared_ones(workspace: Workspace):
    build(workspace, [PROMOTION, JOB_CHANGE])

    with pytest.raises(SignalError, match=r"^signal 'movers' is not declared in audiences.yaml "
                                          r"\(declared: promoted, job_changers\)$"):
        detect(workspace, "movers")


def test_asking_for_a_signal_when_none_is_declared_says_so(workspace: Workspace):
    build(workspace, [])

    with pytest.raises(SignalError, match=r"\(declared: none\)$"):
        detect(workspace, "promoted")


def test_naming_a_signal_runs_only_that_signal(workspace: Workspace):
    build(workspace, [PROMOTION, TITLE_CHANGED])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))

    reports = detect(workspace, "title_changed")

    assert list(reports) == ["title_changed"]
    assert (fired(workspace, "title_changed"), fired(workspace, "promoted")) == (
        [("p1", "Account Executive", "Sales Manager")], [])


def test_event_keeps_the_time_of_the_change_and_the_time_of_the_run(workspace: Workspace):
    build(workspace, [PROMOTION])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    changes_happened_at(workspace, CHANGED)
    run_at = CHANGED + timedelta(days=2, hours=3)

    detect(workspace, now=run_at)

    [event] = events_of(workspace, "promoted")
    assert (event["fired_at"], event["detected_at"]) == (CHANGED, run_at)


def test_change_at_the_moment_of_the_run_fires(workspace: Workspace):
    build(workspace, [PROMOTION])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    changes_happened_at(workspace, CHANGED)

    assert detect(workspace, now=CHANGED)["promoted"].new_events == 1


def test_change_after_the_moment_of_the_run_waits_for_a_later_run(workspace: Workspace):
    build(workspace, [PROMOTION])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    changes_happened_at(workspace, CHANGED)

    assert detect(workspace, now=CHANGED - timedelta(seconds=1))["promoted"].new_events == 0


def test_first_run_reads_the_change_at_the_very_start_of_its_look_back(workspace: Workspace):
    build(workspace, [PROMOTION])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    changes_happened_at(workspace, CHANGED)

    assert detect(workspace, now=datetime(2024, 9, 10, 12, 0, 0))["promoted"].new_events == 1


def test_first_run_does_not_read_a_change_just_before_its_look_back(workspace: Workspace):
    build(workspace, [PROMOTION])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    changes_happened_at(workspace, CHANGED)

    assert detect(workspace, now=datetime(2024, 9, 10, 12, 0, 1))["promoted"].new_events == 0


def test_first_run_reports_its_mode_counts_and_the_window_it_read(workspace: Workspace):
    build(workspace, [PROMOTION])
    change(workspace, edited(edited(PEOPLE, "p1", title="Sales Manager"), "p2", title="Sales Director"))
    changes_happened_at(workspace, CHANGED)

    report = detect(workspace, now=CHANGED + timedelta(days=1, microseconds=250))["promoted"]

    metadata = report.as_metadata()
    assert {k: v for k, v in metadata.items() if k != "seconds"} == {
        "new_events": 2, "records_fired": 2, "fired_last_30_days": 2, "run_mode": "look_back",
        "history_read_since": "2023-09-11 12:00:00"}


def test_run_reports_the_seconds_it_took(workspace: Workspace):
    build(workspace, [PROMOTION])

    seconds = detect(workspace)["promoted"].as_metadata()["seconds"]

    assert 0 < seconds < 60 and seconds == round(seconds, 3)


def test_later_run_reads_from_the_previous_run_less_the_late_commit_margin(workspace: Workspace):
    build(workspace, [PROMOTION])
    detect(workspace, now=CHANGED)

    report = detect(workspace, now=CHANGED + timedelta(days=1))["promoted"]

    assert (report.mode, report.as_metadata()["history_read_since"]) == ("recurring", "2024-03-10 11:30:00")


def test_change_committed_late_within_the_margin_fires_on_the_next_run(workspace: Workspace):
    build(workspace, [PROMOTION])
    detect(workspace, now=CHANGED)
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    changes_happened_at(workspace, CHANGED - timedelta(minutes=30))

    assert detect(workspace, now=CHANGED + timedelta(days=1))["promoted"].new_events == 1


def test_change_older_than_the_margin_before_the_previous_run_is_not_read_again(workspace: Workspace):
    build(workspace, [PROMOTION])
    detect(workspace, now=CHANGED)
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    changes_happened_at(workspace, CHANGED - timedelta(minutes=31))

    assert detect(workspace, now=CHANGED + timedelta(days=1))["promoted"].new_events == 0


def test_event_fired_exactly_30_days_before_the_run_counts_as_recent(workspace: Workspace):
    build(workspace, [PROMOTION])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    changes_happened_at(workspace, CHANGED)

    assert detect(workspace, now=CHANGED + timedelta(days=30))["promoted"].fired_last_30_days == 1


def test_event_older_than_30_days_is_stored_but_not_counted_as_recent(workspace: Workspace):
    build(workspace, [PROMOTION])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    changes_happened_at(workspace, CHANGED)

    report = detect(workspace, now=CHANGED + timedelta(days=30, seconds=1))["promoted"]

    assert (report.new_events, report.fired_last_30_days) == (1, 0)


def test_recent_count_holds_only_the_events_of_its_own_signal(workspace: Workspace):
    build(workspace, [PROMOTION, TITLE_CHANGED])
    change(workspace, edited(edited(PEOPLE, "p1", title="Sales Manager"), "p2", title="Account Executive"))

    reports = detect(workspace)

    assert (reports["promoted"].fired_last_30_days, reports["title_changed"].fired_last_30_days) == (1, 2)


def test_run_counts_only_the_records_that_fired_in_it(workspace: Workspace):
    build(workspace, [PROMOTION])
    change(workspace, edited(edited(PEOPLE, "p1", title="Sales Manager"), "p2", title="Sales Director"))
    first = detect(workspace)["promoted"]
    change(workspace, edited(edited(edited(PEOPLE, "p1", title="Sales Manager"), "p2", title="Sales Director"),
                             "p3", title="Chief Revenue Officer"))

    second = detect(workspace)["promoted"]

    assert (first.records, second.records, second.new_events) == (2, 1, 1)


def test_new_description_or_recurrence_keeps_the_signal_recurring_with_its_events(workspace: Workspace):
    build(workspace, [PROMOTION])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    detect(workspace)
    reconfigure(workspace, [{**PROMOTION, "description": "moved up a level", "recurrence": "weekly"}])

    report = detect(workspace)["promoted"]

    assert (report.mode, report.new_events, fired(workspace, "promoted")) == (
        "recurring", 0, [("p1", "Account Executive", "Sales Manager")])


def test_changed_definition_forgets_the_events_that_no_longer_fire(workspace: Workspace):
    build(workspace, [PROMOTION])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    detect(workspace)
    upside_down = [{"level": "junior", "titles": ["manager"]}, {"level": "senior", "titles": ["executive"]}]
    reconfigure(workspace, [{**PROMOTION, "seniority": upside_down}])

    report = detect(workspace)["promoted"]

    assert (report.mode, fired(workspace, "promoted"), summaries_of(workspace, "promoted")) == ("look_back", [], [])


def test_changed_definition_keeps_the_events_of_other_signals(workspace: Workspace):
    build(workspace, [PROMOTION, TITLE_CHANGED])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    detect(workspace)
    reconfigure(workspace, [PROMOTION, {**TITLE_CHANGED, "look_back_months": 3}])

    detect(workspace, "title_changed")

    assert (fired(workspace, "promoted"), [s["times_fired"] for s in summaries_of(workspace, "promoted")]) == (
        [("p1", "Account Executive", "Sales Manager")], [1])


def test_signal_state_keeps_the_first_run_and_moves_the_scan_to_the_latest_run(workspace: Workspace):
    build(workspace, [PROMOTION])
    detect(workspace, now=CHANGED)
    detect(workspace, now=CHANGED + timedelta(days=1))

    [state] = workspace.rows("signal_state", order_by="signal")

    assert (state["first_run_at"], state["scanned_until"]) == (CHANGED, CHANGED + timedelta(days=1))


def test_changed_definition_starts_the_signal_over(workspace: Workspace):
    build(workspace, [PROMOTION])
    detect(workspace, now=CHANGED)
    reconfigure(workspace, [{**PROMOTION, "look_back_months": 12}])

    report = detect(workspace, now=CHANGED + timedelta(days=1))["promoted"]

    [state] = workspace.rows("signal_state", order_by="signal")
    assert (report.mode, state["first_run_at"]) == ("look_back", CHANGED + timedelta(days=1))


def test_recent_events_list_the_newest_first_up_to_the_limit(workspace: Workspace):
    build(workspace, [TITLE_CHANGED])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    changes_happened_at(workspace, CHANGED)
    change(workspace, edited(edited(PEOPLE, "p1", title="Sales Manager"), "p2", title="Sales Director"))
    changes_happened_at(workspace, CHANGED + timedelta(hours=1))
    detect(workspace, now=CHANGED + timedelta(days=1))

    rows = recent_events(workspace.store, "title_changed", limit=1)

    assert [(source_id(workspace, record), old, new) for record, _, old, new in rows] == [
        ("p2", "Sales Manager", "Sales Director")]


def test_recent_events_at_the_same_time_list_the_last_detected_first(workspace: Workspace):
    build(workspace, [TITLE_CHANGED])
    change(workspace, edited(edited(PEOPLE, "p1", title="Sales Manager"), "p2", title="Sales Director"))
    changes_happened_at(workspace, CHANGED)
    detect(workspace, now=CHANGED + timedelta(days=1))

    rows = recent_events(workspace.store, "title_changed")

    assert [(source_id(workspace, record), fired_at) for record, fired_at, _, _ in rows] == [
        ("p2", CHANGED), ("p1", CHANGED)]


def test_recent_events_hold_only_their_signal_and_ten_at_most(workspace: Workspace):
    people = [{"id": f"x{i}", "email": f"x{i}@acme.com", "title": "Analyst", "company_website": "acme.com"}
              for i in range(12)]
    build(workspace, [PROMOTION, TITLE_CHANGED], people=people)
    change(workspace, [{**p, "title": "Sales Manager"} for p in people])
    detect(workspace)

    assert (len(recent_events(workspace.store, "promoted")), len(events_of(workspace, "promoted"))) == (10, 12)
