"""Signals are detected from the store's history: job changes, promotions and field changes with
a threshold, each stored once as an event on the record with a per-record summary."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from audiences_dagster.store.api import utcnow
from audiences_dagster_tests.signals.world import (
    COMPANIES, GROWTH, JOB_CHANGE, PEOPLE, PROMOTION, age_history, build, change, company_id, detect, edited, fired,
)
from audiences_dagster_tests.support import Workspace


def test_person_whose_company_changed_fires_a_job_change(workspace: Workspace):
    build(workspace, [JOB_CHANGE])
    change(workspace, edited(PEOPLE, "p1", company_website="globex.com"))

    report = detect(workspace)["job_changers"]

    assert report.new_events == 1
    assert fired(workspace, "job_changers") == [
        ("p1", company_id(workspace, "a1"), company_id(workspace, "a2"))]


def test_a_first_company_is_not_a_job_change(workspace: Workspace):
    build(workspace, [JOB_CHANGE])
    change(workspace, edited(PEOPLE, "p3", company_website="acme.com"))

    assert detect(workspace)["job_changers"].new_events == 0


def test_title_moving_up_the_seniority_ladder_fires_a_promotion(workspace: Workspace):
    build(workspace, [PROMOTION])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))

    detect(workspace)

    assert fired(workspace, "promoted") == [("p1", "Account Executive", "Sales Manager")]


def test_title_moving_down_or_sideways_is_not_a_promotion(workspace: Workspace):
    build(workspace, [PROMOTION])
    people = edited(edited(PEOPLE, "p2", title="Account Executive"), "p3", title="Vice President, Sales")
    change(workspace, people)

    assert detect(workspace)["promoted"].new_events == 0


def test_configured_seniority_ladder_replaces_the_default_one(workspace: Workspace):
    ladder = {**PROMOTION, "seniority": [{"level": "junior", "titles": ["manager"]},
                                         {"level": "senior", "titles": ["executive"]}]}
    build(workspace, [ladder])
    change(workspace, edited(PEOPLE, "p2", title="Account Executive"))

    detect(workspace)

    assert fired(workspace, "promoted") == [("p2", "Sales Manager", "Account Executive")]


def test_headcount_up_by_at_least_the_percent_fires_and_a_smaller_rise_does_not(workspace: Workspace):
    build(workspace, [GROWTH])
    companies = edited(edited(COMPANIES, "a1", headcount="125"), "a2", headcount="55")
    change(workspace, companies=companies)

    detect(workspace)

    assert [(company, float(old), float(new)) for company, old, new in fired(workspace, "headcount_growth")] == [
        ("a1", 100.0, 125.0)]


def test_any_change_of_a_text_field_fires_a_changed_signal(workspace: Workspace):
    build(workspace, [{"name": "new_stage", "kind": "field_change", "entity": "companies", "field": "stage"}])
    change(workspace, companies=edited(COMPANIES, "a2", stage="Series B"))

    detect(workspace)

    assert fired(workspace, "new_stage") == [("a2", "Series A", "Series B")]


def test_a_later_run_stores_no_event_twice_and_adds_new_ones(workspace: Workspace):
    build(workspace, [PROMOTION])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    first = detect(workspace)["promoted"]
    change(workspace, edited(edited(PEOPLE, "p1", title="Sales Manager"), "p2", title="Sales Director"))

    second = detect(workspace)["promoted"]

    assert (first.mode, first.new_events, second.mode, second.new_events) == ("look_back", 1, "recurring", 1)
    assert [e[0] for e in fired(workspace, "promoted")] == ["p1", "p2"]


def test_first_run_looks_back_only_as_many_months_as_configured(workspace: Workspace):
    short = {**PROMOTION, "look_back_months": 3}
    build(workspace, [short])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    age_history(workspace, days=130)

    assert detect(workspace)["promoted"].new_events == 0
    workspace.configure(workspace.config.model_dump(include={"sources"}, mode="json")["sources"],
                        signals=[{**PROMOTION, "look_back_months": 6}])
    assert detect(workspace)["promoted"].new_events == 1


def test_summary_counts_the_times_a_record_fired_and_keeps_the_last_change(workspace: Workspace):
    build(workspace, [PROMOTION])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    detect(workspace)
    change(workspace, edited(PEOPLE, "p1", title="Sales Director"))
    detect(workspace)
    summary = workspace.rows("signal_summary", order_by="record_id")

    assert [(s["times_fired"], s["last_old_value"], s["last_new_value"]) for s in summary] == [
        (2, "Sales Manager", "Sales Director")]


def test_signal_watching_a_segment_fires_only_for_its_members(workspace: Workspace):
    from audiences_dagster.segments.membership import refresh_segments

    managers = {"name": "globex_people", "entity": "people",
                "filter": {"field": "email", "op": "contains", "value": "@globex.com"}}
    build(workspace, [{**PROMOTION, "segment": "globex_people"}], segments=[managers])
    refresh_segments(workspace.store, workspace.config, "r1")
    change(workspace, edited(edited(PEOPLE, "p1", title="Sales Manager"), "p2", title="Sales Director"))

    detect(workspace)

    assert [e[0] for e in fired(workspace, "promoted")] == ["p2"]


def test_fired_events_keep_the_time_of_the_change(workspace: Workspace):
    build(workspace, [PROMOTION])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    age_history(workspace, days=10)

    detect(workspace)

    events = workspace.store.tables.signal_events
    with workspace.store.engine.connect() as conn:
        fired_at, detected_at = conn.execute(sa.select(events.c.fired_at, events.c.detected_at)).one()
    assert detected_at - fired_at > timedelta(days=9)
    assert abs(utcnow() - detected_at) < timedelta(minutes=5)
