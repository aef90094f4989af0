"""Every filter operator of PRODUCT.md §5, evaluated in the store (SQLite and PostgreSQL).

The people: Ann (VP Sales, 90, signed up 5 days ago, paying), Bob (Account Executive, 40, 100 days
ago, not paying), Cy (nothing known) and Dee (Head of Sales Ops, 75, 200 days ago, paying).
"""

from __future__ import annotations

import sqlalchemy as sa

from audiences_dagster_tests.segments.people import (
    PEOPLE, days_ago, matching, member_emails, record_id, refresh, segment, setup,
)
from audiences_dagster_tests.support import Workspace

ANN, BOB, CY, DEE = "ann@acme.com", "bob@globex.com", "cy@initech.com", "dee@umbrella.com"


def test_text_equals_ignores_case(workspace: Workspace):
    assert matching(workspace, {"field": "title", "op": "equals", "value": "vp SALES"}) == {ANN}


def test_text_not_equals_includes_records_without_a_value(workspace: Workspace):
    assert matching(workspace, {"field": "title", "op": "not_equals", "value": "VP Sales"}) == {BOB, CY, DEE}


def test_contains_matches_case_insensitively(workspace: Workspace):
    assert matching(workspace, {"field": "title", "op": "contains", "value": "SALES"}) == {ANN, DEE}


def test_does_not_contain_includes_records_without_a_value(workspace: Workspace):
    assert matching(workspace, {"field": "title", "op": "not_contains", "value": "sales"}) == {BOB, CY}


def test_contains_any_of_matches_case_insensitively(workspace: Workspace):
    found = matching(workspace, {"field": "title", "op": "contains_any_of", "value": ["EXECUTIVE", "ops"]})

    assert found == {BOB, DEE}


def test_text_is_empty_finds_missing_values(workspace: Workspace):
    assert matching(workspace, {"field": "title", "op": "is_empty"}) == {CY}


def test_text_is_not_empty_finds_present_values(workspace: Workspace):
    assert matching(workspace, {"field": "title", "op": "is_not_empty"}) == {ANN, BOB, DEE}


def test_number_equals(workspace: Workspace):
    assert matching(workspace, {"field": "score", "op": "equals", "value": 75}) == {DEE}


def test_number_not_equals_includes_records_without_a_value(workspace: Workspace):
    assert matching(workspace, {"field": "score", "op": "not_equals", "value": 90}) == {BOB, CY, DEE}


def test_number_greater_than_is_strict(workspace: Workspace):
    assert matching(workspace, {"field": "score", "op": "gt", "value": 75}) == {ANN}


def test_number_at_least_includes_the_bound(workspace: Workspace):
    assert matching(workspace, {"field": "score", "op": "gte", "value": 75}) == {ANN, DEE}


def test_number_less_than_is_strict(workspace: Workspace):
    assert matching(workspace, {"field": "score", "op": "lt", "value": 75}) == {BOB}


def test_number_at_most_includes_the_bound(workspace: Workspace):
    assert matching(workspace, {"field": "score", "op": "lte", "value": 75}) == {BOB, DEE}


def test_number_between_includes_both_bounds(workspace: Workspace):
    assert matching(workspace, {"field": "score", "op": "between", "value": [40, 75]}) == {BOB, DEE}


def test_number_is_empty(workspace: Workspace):
    assert matching(workspace, {"field": "score", "op": "is_empty"}) == {CY}


def test_date_before(workspace: Workspace):
    assert matching(workspace, {"field": "signed_up", "op": "before", "value": days_ago(150)}) == {DEE}


def test_date_after(workspace: Workspace):
    assert matching(workspace, {"field": "signed_up", "op": "after", "value": days_ago(150)}) == {ANN, BOB}


def test_within_last_days(workspace: Workspace):
    assert matching(workspace, {"field": "signed_up", "op": "within_last", "value": 30, "unit": "days"}) == {ANN}


def test_within_last_weeks(workspace: Workspace):
    assert matching(workspace, {"field": "signed_up", "op": "within_last", "value": 20, "unit": "weeks"}) == {ANN, BOB}


def test_within_last_months(workspace: Workspace):
    assert matching(workspace, {"field": "signed_up", "op": "within_last", "value": 8, "unit": "months"}) == \
        {ANN, BOB, DEE}


def test_within_last_leaves_out_future_dates(workspace: Workspace):
    people = [{**PEOPLE[0], "signed_up": days_ago(-3)}, *PEOPLE[1:]]

    assert matching(workspace, {"field": "signed_up", "op": "within_last", "value": 30, "unit": "days"},
                    people) == set()


def test_not_within_last_is_the_complement_including_empty_dates(workspace: Workspace):
    found = matching(workspace, {"field": "signed_up", "op": "not_within_last", "value": 30, "unit": "days"})

    assert found == {BOB, CY, DEE}


def test_boolean_is_true(workspace: Workspace):
    assert matching(workspace, {"field": "paying", "op": "is_true"}) == {ANN, DEE}


def test_boolean_is_false_leaves_out_unknown(workspace: Workspace):
    assert matching(workspace, {"field": "paying", "op": "is_false"}) == {BOB}


def test_boolean_is_empty(workspace: Workspace):
    assert matching(workspace, {"field": "paying", "op": "is_empty"}) == {CY}


def test_top_level_all_requires_every_condition(workspace: Workspace):
    found = matching(workspace, {"all": [{"field": "title", "op": "contains", "value": "sales"},
                                         {"field": "score", "op": "gt", "value": 80}]})

    assert found == {ANN}


def test_any_group_requires_one_condition(workspace: Workspace):
    found = matching(workspace, {"any": [{"field": "title", "op": "contains", "value": "executive"},
                                         {"field": "paying", "op": "is_empty"}]})

    assert found == {BOB, CY}


def test_groups_nest(workspace: Workspace):
    tree = {"all": [
        {"field": "title", "op": "is_not_empty"},
        {"any": [{"all": [{"field": "paying", "op": "is_true"}, {"field": "score", "op": "lt", "value": 80}]},
                 {"field": "signed_up", "op": "within_last", "value": 120, "unit": "days"}]},
    ]}

    assert matching(workspace, tree) == {ANN, BOB, DEE}


def test_source_matches_records_holding_data_from_that_source(workspace: Workspace):
    people = [{**p, "sources": "crm,events"} if p["id"] in ("p1", "p3") else p for p in PEOPLE]
    setup(workspace, [segment("s", {"source": "events"})], people, sources=two_sources())

    refresh(workspace)

    assert member_emails(workspace, "s") == {ANN, CY}


def test_source_is_not_matches_records_without_that_source(workspace: Workspace):
    people = [{**p, "sources": "events"} if p["id"] == "p2" else p for p in PEOPLE]
    setup(workspace, [segment("s", {"source": "crm", "op": "is_not"})], people, sources=two_sources())

    refresh(workspace)

    assert member_emails(workspace, "s") == {BOB}


def test_source_name_with_underscore_is_not_a_wildcard(workspace: Workspace):
    people = [{**p, "sources": "crmXevents"} if p["id"] == "p4" else p for p in PEOPLE]
    setup(workspace, [segment("s", {"source": "crm_events"})], people,
          sources={"crm": crm_with_path("a.csv"), "crm_events": crm_with_path("b.csv")})

    refresh(workspace)

    assert member_emails(workspace, "s") == set()


def test_deleted_in_source(workspace: Workspace):
    people = [{**p, "deleted_in_source": p["id"] == "p2"} for p in PEOPLE]

    assert matching(workspace, {"deleted_in_source": True}, people) == {BOB}


def test_not_deleted_in_source(workspace: Workspace):
    people = [{**p, "deleted_in_source": p["id"] == "p2"} for p in PEOPLE]

    assert matching(workspace, {"deleted_in_source": False}, people) == {ANN, CY, DEE}


def test_member_of_another_segment(workspace: Workspace):
    setup(workspace, [segment("payers", {"field": "paying", "op": "is_true"}),
                      segment("big_payers", {"all": [{"member_of": "payers"},
                                                     {"field": "score", "op": "gt", "value": 80}]})])

    refresh(workspace)

    assert member_emails(workspace, "big_payers") == {ANN}


def test_not_member_of_another_segment(workspace: Workspace):
    # Declared before the segment it excludes: refresh order follows references, not the file.
    setup(workspace, [segment("others", {"member_of": "payers", "op": "is_not"}),
                      segment("payers", {"field": "paying", "op": "is_true"})])

    refresh(workspace)

    assert member_emails(workspace, "others") == {BOB, CY}


def test_archived_records_are_never_members(workspace: Workspace):
    setup(workspace, [segment("s", {"field": "title", "op": "is_not_empty"})])
    people = workspace.store.tables.unified("people")
    with workspace.store.engine.begin() as conn:
        conn.execute(sa.update(people).where(people.c.id == record_id("p1")).values(archived=True))

    refresh(workspace)

    assert member_emails(workspace, "s") == {BOB, DEE}


def crm_with_path(path: str) -> dict:
    from audiences_dagster_tests.segments.people import crm_source

    return crm_source(path)


def two_sources() -> dict:
    return {"crm": crm_with_path("crm.csv"), "events": crm_with_path("events.csv")}


def test_converted_lead_finds_people_holding_a_converted_salesforce_lead(workspace: Workspace):
    from audiences_dagster_tests.support import people_source

    columns = ["Id", "email", "linkedin", "first_name", "ConvertedContactId"]
    workspace.write_csv("contacts.csv", [{"Id": "003A", "email": "jane@newco.com", "first_name": "Jane"}], columns[:4])
    workspace.write_csv("leads.csv", [
        {"Id": "00QA", "email": "jane@oldco.com", "first_name": "J.", "ConvertedContactId": "003A"},
        {"Id": "00QB", "email": "open@lead.com", "first_name": "Open", "ConvertedContactId": ""}], columns)
    workspace.configure({
        "sf_contacts": people_source("contacts.csv", unique_id="Id", tier="salesforce"),
        "sf_leads": people_source("leads.csv", unique_id="Id", tier="salesforce_lead", lead_conversion={
            "column": "ConvertedContactId", "contact_source": "sf_contacts"}),
    }, segments=[segment("converted", {"converted_lead": True}), segment("open", {"converted_lead": False})])
    workspace.run()

    refresh(workspace, now=None)

    assert (member_emails(workspace, "converted"), member_emails(workspace, "open")) == \
        ({"jane@newco.com"}, {"open@lead.com"})
