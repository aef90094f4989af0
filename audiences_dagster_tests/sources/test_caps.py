"""Plan caps: at the cap new records are held back with the reason, updates still flow, nothing
already imported is lost, and the held-back records arrive once there is room. The real caps are
the config's; tests shrink the growth cap by patching the constant."""

from __future__ import annotations

import sqlalchemy as sa

from audiences_dagster.config.models import PLAN_RECORD_CAP, Plan
from audiences_dagster.sources.caps import records_in_plan
from audiences_dagster_tests.sources.warehouse import Warehouse, contact
from audiences_dagster_tests.sources.capped import cap_of, import_people, person  # noqa: F401 (cap_of: a fixture)
from audiences_dagster_tests.support import Workspace



def names(workspace: Workspace) -> dict[str, str]:
    return {r["source_id"]: r["first_name"] for r in workspace.rows("source_people")}


def in_plan(workspace: Workspace) -> int:
    with workspace.store.engine.connect() as conn:
        return records_in_plan(workspace.store, conn)


def test_the_plan_caps_are_the_products():
    assert PLAN_RECORD_CAP == {Plan.growth: 250_000, Plan.enterprise: 25_000_000}


def test_new_records_past_the_cap_are_held_back_with_the_reason(workspace: Workspace, cap_of):
    cap_of(5)

    report = import_people(workspace, [person(i) for i in range(8)])

    assert (report.counts.inserted, report.plan_cap["held_back_at_cap"], report.plan_cap["cap_reached"]) == (5, 3, True)
    assert report.cap_reason.startswith("plan cap reached: the plan allows 5 people + companies")
    assert "3 new record(s) from source 'crm' were not imported" in report.cap_reason
    assert report.as_metadata()["cap_reason"] == report.cap_reason


def test_an_import_below_the_cap_reports_no_reason(workspace: Workspace, cap_of):
    cap_of(5)

    report = import_people(workspace, [person(i) for i in range(5)])

    assert report.counts.inserted == 5 and report.cap_reason is None
    assert report.plan_cap == {"plan_record_cap": 5, "records_in_plan": 5, "held_back_at_cap": 0, "cap_reached": False}


def test_the_batch_crossing_the_cap_is_cut_so_the_total_stays_at_the_cap(workspace: Workspace, cap_of):
    cap_of(5)

    report = import_people(workspace, [person(i) for i in range(8)], batch_size=3)

    assert report.batches == 3 and report.counts.inserted == 5
    assert sorted(names(workspace)) == [f"p{i}" for i in range(5)]


def test_records_imported_before_the_cap_are_kept_unchanged(workspace: Workspace, cap_of):
    cap_of(5)
    import_people(workspace, [person(i) for i in range(4)])
    workspace.unify_all()

    import_people(workspace, [person(i) for i in range(9)])

    assert names(workspace) == {f"p{i}": f"P{i}" for i in range(5)}
    assert len(workspace.unified()) == 4


def test_updates_to_existing_records_still_flow_at_the_cap(workspace: Workspace, cap_of):
    cap_of(3)
    import_people(workspace, [person(i) for i in range(3)])

    report = import_people(workspace, [person(0, "Renamed"), person(1), person(2), person(3)])

    assert (report.counts.updated, report.counts.inserted, report.plan_cap["held_back_at_cap"]) == (1, 0, 1)
    assert names(workspace)["p0"] == "Renamed" and "p3" not in names(workspace)


def test_held_back_records_arrive_once_the_plan_has_room(workspace: Workspace, cap_of):
    cap_of(5)
    rows = [person(i) for i in range(8)]
    import_people(workspace, rows, batch_size=3)
    cap_of(10)

    report = import_people(workspace, rows, batch_size=3)

    assert report.counts.inserted == 3 and report.cap_reason is None
    assert sorted(names(workspace)) == sorted(f"p{i}" for i in range(8))


def test_unified_records_and_new_records_awaiting_resolution_count_against_the_cap(workspace: Workspace):
    import_people(workspace, [person(1), {**person(2), "email": "person1@acme.com"}])
    workspace.unify_all()
    import_people(workspace, [person(1), {**person(2), "email": "person1@acme.com"}, person(3)])

    assert in_plan(workspace) == 2  # one merged person, and p3 not yet resolved


def test_archived_records_do_not_count_against_the_cap(workspace: Workspace):
    import_people(workspace, [person(1), person(2)])
    workspace.unify_all()
    unified = workspace.store.tables.unified("people")
    with workspace.store.engine.begin() as conn:
        conn.execute(sa.update(unified).where(unified.c.id == min(r["id"] for r in workspace.unified()))
                     .values(archived=True))

    assert in_plan(workspace) == 1


def test_a_full_pass_at_the_cap_marks_nothing_deleted_and_resumes_later(
        workspace: Workspace, warehouse: Warehouse, cap_of):
    cap_of(3)
    warehouse.put(*(contact(f"c{i}") for i in range(5)))
    workspace.configure({"wh": warehouse.source(timestamped=False)}, batch_size=2)
    first = workspace.import_all()["wh"]
    cap_of(10)

    second = workspace.import_all()["wh"]

    assert (first.counts.inserted, first.deleted_in_source) == (3, 0)
    assert (second.counts.inserted, second.deleted_in_source, second.resumed) == (2, 0, True)
    assert not any(r["deleted_in_source"] for r in workspace.rows("source_people"))


def test_a_timestamped_warehouse_at_the_cap_reads_the_held_back_rows_again(
        workspace: Workspace, warehouse: Warehouse, cap_of):
    cap_of(2)
    warehouse.put(contact("c1", 0), contact("c2", 1), contact("c3", 2))
    workspace.configure({"wh": warehouse.source()})
    workspace.import_all()
    cap_of(10)

    report = workspace.import_all()["wh"]

    assert report.counts.inserted == 1
    assert {r["source_id"] for r in workspace.rows("source_people")} == {"c1", "c2", "c3"}


def test_far_below_the_cap_the_records_are_bounded_not_counted(workspace: Workspace):
    import_people(workspace, [person(i) for i in range(4)])

    report = import_people(workspace, [person(i) for i in range(6)])

    assert report.counts.inserted == 2
    assert report.plan_cap == {"plan_record_cap": 250_000, "records_in_plan_at_most": 6,
                               "held_back_at_cap": 0, "cap_reached": False}
