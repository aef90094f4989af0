"""The plan cap at its edges: what a batch that just fits, a lowered cap and companies do to an
import, and what the import reports. The growth cap is shrunk by patching the constant."""

from __future__ import annotations


import pytest

from audiences_dagster.sources import caps
from audiences_dagster_tests.sources.capped import cap_of, import_people, person  # noqa: F401 (cap_of: a fixture)
from audiences_dagster_tests.support import Workspace, people_source



def test_the_reason_names_the_cap_the_count_and_how_to_make_room(workspace: Workspace, cap_of) -> None:
    cap_of(3)

    report = import_people(workspace, [person(i) for i in range(5)])

    assert report.cap_reason == (
        "plan cap reached: the plan allows 3 people + companies and the store holds 3; 2 new record(s) from "
        "source 'crm' were not imported (updates to existing records still were). Upgrade the plan in "
        "audiences.yaml (plan: enterprise) or archive records; the next import picks the held-back records up.")


def test_a_batch_that_just_fits_under_the_cap_is_admitted_whole_without_counting(
        workspace: Workspace, cap_of) -> None:
    cap_of(8)
    import_people(workspace, [person(i) for i in range(3)])

    report = import_people(workspace, [person(i) for i in range(5)])

    assert report.counts.inserted == 2
    assert report.plan_cap == {"plan_record_cap": 8, "records_in_plan_at_most": 5,
                               "held_back_at_cap": 0, "cap_reached": False}


def test_at_exactly_half_the_cap_the_records_are_bounded_not_counted(workspace: Workspace, cap_of) -> None:
    cap_of(8)
    import_people(workspace, [person(i) for i in range(4)])

    report = import_people(workspace, [person(0, "Renamed"), *(person(i) for i in range(1, 4))])

    assert report.plan_cap == {"plan_record_cap": 8, "records_in_plan_at_most": 4,
                               "held_back_at_cap": 0, "cap_reached": False}


def test_past_half_the_cap_the_records_are_counted_from_the_start(workspace: Workspace, cap_of) -> None:
    cap_of(7)
    import_people(workspace, [person(i) for i in range(4)])

    report = import_people(workspace, [person(0, "Renamed"), *(person(i) for i in range(1, 4))])

    assert report.plan_cap == {"plan_record_cap": 7, "records_in_plan": 4,
                               "held_back_at_cap": 0, "cap_reached": False}


def test_under_a_lowered_cap_every_new_record_is_held_back_and_updates_still_flow(
        workspace: Workspace, cap_of) -> None:
    cap_of(5)
    import_people(workspace, [person(i) for i in range(5)])
    cap_of(3)

    report = import_people(workspace, [person(0, "Renamed"), *(person(i) for i in range(1, 7))])

    assert (report.counts.updated, report.counts.inserted) == (1, 0)
    assert report.plan_cap == {"plan_record_cap": 3, "records_in_plan": 5,
                               "held_back_at_cap": 2, "cap_reached": True}
    assert sorted(r["source_id"] for r in workspace.rows("source_people")) == [f"p{i}" for i in range(5)]


def test_held_back_records_leave_no_identity_keys_behind(workspace: Workspace, cap_of) -> None:
    cap_of(2)

    import_people(workspace, [person(i) for i in range(4)])

    keys = workspace.rows("identity_keys", order_by="key_value")
    assert sorted(k["key_value"] for k in keys) == ["person0@acme.com", "person1@acme.com"]


def test_companies_count_against_the_same_cap_as_people(workspace: Workspace, cap_of) -> None:
    cap_of(5)
    workspace.write_csv("companies.csv", [{"id": f"c{i}", "name": f"Company {i}"} for i in range(3)])
    workspace.write_csv("people.csv", [person(i) for i in range(4)])
    workspace.configure({
        "accounts": {"kind": "csv", "entity": "companies", "path": "companies.csv", "unique_id": "id",
                     "fields": {"name": {"column": "name"}}},
        "crm": people_source("people.csv"),
    })

    reports = workspace.import_all()

    assert (reports["accounts"].counts.inserted, reports["crm"].counts.inserted) == (3, 2)
    assert reports["crm"].plan_cap["held_back_at_cap"] == 2


def test_past_half_the_cap_a_batch_far_from_it_still_reports_the_exact_count(workspace: Workspace, cap_of) -> None:
    cap_of(7)
    import_people(workspace, [person(i) for i in range(4)])

    report = import_people(workspace, [person(0, "Renamed"), person(1)])  # 4 + 2 rows stay under 7

    assert report.plan_cap == {"plan_record_cap": 7, "records_in_plan": 4,
                               "held_back_at_cap": 0, "cap_reached": False}


def test_records_held_back_in_several_batches_are_all_counted(workspace: Workspace, cap_of) -> None:
    cap_of(3)

    report = import_people(workspace, [person(i) for i in range(6)], batch_size=2)

    assert report.counts.inserted == 3
    assert report.plan_cap["held_back_at_cap"] == 3


def test_existing_records_are_found_across_lookup_chunks(workspace: Workspace, cap_of,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(caps, "LOOKUP_CHUNK", 2)
    cap_of(5)
    import_people(workspace, [person(i) for i in range(5)])

    report = import_people(workspace, [person(i, "Renamed") for i in range(5)] + [person(5)])

    assert (report.counts.updated, report.plan_cap["held_back_at_cap"]) == (5, 1)


def test_the_same_ids_in_another_source_are_new_records_of_this_one(workspace: Workspace, cap_of) -> None:
    cap_of(4)
    workspace.write_csv("crm.csv", [person(i) for i in range(2)])
    workspace.write_csv("events.csv", [{**person(i), "email": f"attendee{i}@acme.com"} for i in range(3)])
    workspace.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv")})

    reports = workspace.import_all()

    assert (reports["events"].counts.inserted, reports["events"].plan_cap["held_back_at_cap"]) == (2, 1)
