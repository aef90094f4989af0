"""Filter values are bound parameters: quotes, SQL fragments, unicode and LIKE wildcards in a
value are matched literally and never change the query."""

from __future__ import annotations

import sqlalchemy as sa

from audiences_dagster.segments.filters import segment_condition
from audiences_dagster.segments.membership import filter_context, find_segment
from audiences_dagster_tests.segments.people import NOW, PEOPLE, matching, segment, setup
from audiences_dagster_tests.support import Workspace

DROP = "'; DROP TABLE unified_people; --"
TITLES = {"p1": "O'Brien's team", "p2": "100% of quota", "p3": "100 of quota", "p4": "Zoë Ünïcode 🚀 a_b"}
PEOPLE_WITH_TITLES = [{**p, "title": TITLES[p["id"]]} for p in PEOPLE]


def titles(workspace: Workspace, filter: dict) -> set[str]:
    found = matching(workspace, filter, PEOPLE_WITH_TITLES)
    return {TITLES[p["id"]] for p in PEOPLE_WITH_TITLES if p["email"] in found}


def test_sql_fragment_in_equals_matches_nothing_and_drops_nothing(workspace: Workspace):
    assert titles(workspace, {"field": "title", "op": "equals", "value": DROP}) == set()
    assert workspace.store.count(workspace.store.tables.unified("people")) == 4


def test_sql_fragment_in_contains_any_of_matches_nothing_and_drops_nothing(workspace: Workspace):
    assert titles(workspace, {"field": "title", "op": "contains_any_of", "value": [DROP, "\"; --"]}) == set()
    assert workspace.store.count(workspace.store.tables.unified("people")) == 4


def test_single_quote_is_matched_literally(workspace: Workspace):
    assert titles(workspace, {"field": "title", "op": "contains", "value": "o'brien"}) == {"O'Brien's team"}


def test_percent_sign_in_contains_is_not_a_wildcard(workspace: Workspace):
    assert titles(workspace, {"field": "title", "op": "contains", "value": "100%"}) == {"100% of quota"}


def test_underscore_in_contains_is_not_a_wildcard(workspace: Workspace):
    assert titles(workspace, {"field": "title", "op": "contains", "value": "a_b"}) == {"Zoë Ünïcode 🚀 a_b"}
    assert titles(workspace, {"field": "title", "op": "contains", "value": "o_brien"}) == set()


def test_unicode_value_matches_unicode_text(workspace: Workspace):
    assert titles(workspace, {"field": "title", "op": "contains", "value": "Ünïcode 🚀"}) == {"Zoë Ünïcode 🚀 a_b"}


def test_values_reach_the_database_as_parameters_not_as_sql(workspace: Workspace):
    filter = {"any": [{"field": "title", "op": "equals", "value": DROP},
                      {"field": "title", "op": "contains_any_of", "value": ["100%", "Zoë"]}]}
    config = setup(workspace, [segment("s", filter)], PEOPLE_WITH_TITLES)
    ctx = filter_context(workspace.store, config, "people", NOW)
    query = sa.select(sa.func.count()).where(segment_condition(find_segment(config, "s"), ctx))

    compiled = query.compile(workspace.store.engine)

    assert "DROP" not in str(compiled) and "Zoë" not in str(compiled) and "100" not in str(compiled)
    assert DROP in compiled.params.values()


def test_backslash_and_slash_in_contains_any_of_are_matched_literally(workspace: Workspace):
    people = [{**p, "title": t} for p, t in zip(PEOPLE, ["C:\\sales\\%", "a/b_c", "C:sales", "ab_c"])]
    found = matching(workspace, {"field": "title", "op": "contains_any_of", "value": ["\\sales\\%", "a/b"]}, people)

    assert found == {PEOPLE[0]["email"], PEOPLE[1]["email"]}
