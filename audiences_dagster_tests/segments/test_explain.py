"""`audiences explain <segment> <record>`: each condition evaluated in SQL against one record."""

from __future__ import annotations

from datetime import timedelta

import pytest

from audiences_dagster.cli import main
from audiences_dagster.segments.explain import explain
from audiences_dagster_tests.segments.people import NOW, record_id, refresh, segment, setup
from audiences_dagster_tests.support import Workspace

TREE = {"all": [{"field": "title", "op": "contains", "value": "sales"},
                {"any": [{"field": "score", "op": "gt", "value": 80}, {"field": "paying", "op": "is_false"}]}]}


def test_explain_marks_each_condition_met_or_failed(workspace: Workspace):
    config = setup(workspace, [segment("sellers", TREE)])

    result = explain(workspace.store, config, "sellers", record_id("p4"), now=NOW)  # Dee: Sales Ops, 75, paying

    tree = result.tree
    assert (tree.text, tree.met) == ("all of", False)
    assert [(c.text, c.met) for c in tree.children] == [("title contains 'sales'", True), ("any of", False)]
    assert [(c.text, c.met) for c in tree.children[1].children] == [("score > 80", False), ("paying is false", False)]


def test_explain_shows_the_record_value_next_to_each_field_condition(workspace: Workspace):
    config = setup(workspace, [segment("sellers", TREE)])

    result = explain(workspace.store, config, "sellers", record_id("p4"), now=NOW)

    assert result.tree.children[0].shown_value == "title = 'Head of Sales Ops'"
    assert result.tree.children[1].children[0].shown_value == "score = 75.0"


def test_explain_verdict_agrees_with_membership_after_refresh(workspace: Workspace):
    config = setup(workspace, [segment("sellers", TREE)])
    refresh(workspace)

    verdicts = {p: explain(workspace.store, config, "sellers", record_id(p), now=NOW) for p in ("p1", "p2", "p3", "p4")}

    assert {p: (r.meets, r.member) for p, r in verdicts.items()} == {
        "p1": (True, True), "p2": (False, False), "p3": (False, False), "p4": (False, False)}


def test_explain_of_a_missing_record_says_so(workspace: Workspace):
    config = setup(workspace, [segment("sellers", TREE)])

    result = explain(workspace.store, config, "sellers", 999)

    assert not result.found
    assert result.render() == "segment 'sellers' (people), record 999: no such people record"


def test_explain_command_prints_the_tree(workspace: Workspace, capsys: pytest.CaptureFixture,
                                        monkeypatch: pytest.MonkeyPatch):
    setup(workspace, [segment("sellers", TREE)])
    monkeypatch.setenv("AUDIENCES_CONFIG", str(workspace.config_path))

    code = main(["explain", "sellers", "1"])

    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0].startswith("segment 'sellers' (people), record 1: MEETS the filter")
    assert "  ✓ title contains 'sales'   (title = 'VP Sales')" in out
    assert "    ✗ paying is false   (paying = True)" in out


def test_explain_command_with_an_unknown_segment_lists_the_declared_ones(
        workspace: Workspace, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    setup(workspace, [segment("sellers", TREE)])
    monkeypatch.setenv("AUDIENCES_CONFIG", str(workspace.config_path))

    code = main(["explain", "buyers", "1"])

    assert code == 2
    assert capsys.readouterr().err.strip() == \
        "SegmentError: segment 'buyers' is not declared in audiences.yaml (declared: sellers)"


EVERY_KIND = {"all": [
    {"member_of": "payers", "op": "is_not"}, {"member_of": "payers"},
    {"source": "crm", "op": "is_not"}, {"source": "crm"},
    {"deleted_in_source": False}, {"deleted_in_source": True},
    {"converted_lead": True}, {"converted_lead": False},
    {"any": [{"field": "title", "op": "contains_any_of", "value": ["VP", "Head"]},
             {"field": "score", "op": "between", "value": [40, 75]},
             {"field": "score", "op": "not_equals", "value": 90},
             {"field": "score", "op": "gte", "value": 75},
             {"field": "title", "op": "equals", "value": "VP Sales"},
             {"field": "title", "op": "is_not_empty"},
             {"field": "signed_up", "op": "not_within_last", "value": 3, "unit": "months"},
             {"field": "signed_up", "op": "before", "value": "2020-01-31"}]},
]}


def test_explain_words_every_kind_of_condition_and_its_negation(workspace: Workspace):
    config = setup(workspace, [segment("payers", {"field": "paying", "op": "is_true"}), segment("every", EVERY_KIND)])
    refresh(workspace)

    tree = explain(workspace.store, config, "every", record_id("p1"), now=NOW).tree  # Ann: a payer, from crm

    assert [(c.text, c.met) for c in tree.children[:8]] == [
        ("not member of segment 'payers'", False), ("member of segment 'payers'", True),
        ("not from source 'crm'", False), ("from source 'crm'", True),
        ("not deleted in source", True), ("deleted in source", False),
        ("converted lead", False), ("not converted lead", True)]
    assert [c.text for c in tree.children[8].children] == [
        "title contains any of 'VP', 'Head'", "score between 40 and 75", "score ≠ 90", "score ≥ 75",
        "title = 'VP Sales'", "title is not empty", "signed_up not within last 3 months",
        "signed_up before '2020-01-31'"]
    assert tree.children[2].shown_value == "sources = crm"


def test_explain_words_the_remaining_operators(workspace: Workspace):
    tree = {"any": [{"field": "title", "op": "is_empty"}, {"field": "paying", "op": "is_true"},
                    {"field": "signed_up", "op": "within_last", "value": 30, "unit": "days"},
                    {"field": "score", "op": "lt", "value": 10}, {"field": "score", "op": "lte", "value": 10.5}]}
    config = setup(workspace, [segment("rest", tree)])

    explained = explain(workspace.store, config, "rest", record_id("p1"), now=NOW).tree

    assert [c.text for c in explained.children] == [
        "title is empty", "paying is true", "signed_up within last 30 days", "score < 10", "score ≤ 10.5"]


@pytest.mark.parametrize(("op", "words"), [("within_last", "fired"), ("not_within_last", "did not fire")])
def test_a_signal_condition_says_whether_it_fired_within_its_window(op: str, words: str):
    from audiences_dagster.config.segments import FilterNode
    from audiences_dagster.segments.filters import describe

    node = FilterNode(signal="job_changers", op=op, value=3, unit="months")

    assert describe(node) == f"signal 'job_changers' {words} within the last 3 months"


def test_the_rendered_explanation_gives_the_verdict_the_stored_membership_and_the_indented_tree(
        workspace: Workspace):
    config = setup(workspace, [segment("sellers", TREE)])

    rendered = explain(workspace.store, config, "sellers", record_id("p4"), now=NOW).render()

    assert rendered.splitlines() == [
        "segment 'sellers' (people), record 4: does NOT meet the filter; as of the last refresh it is not a member",
        "✗ all of",
        "  ✓ title contains 'sales'   (title = 'Head of Sales Ops')",
        "  ✗ any of",
        "    ✗ score > 80   (score = 75.0)",
        "    ✗ paying is false   (paying = True)",
    ]


def test_a_member_that_meets_the_filter_says_both(workspace: Workspace):
    config = setup(workspace, [segment("sellers", TREE)])
    refresh(workspace)

    first = explain(workspace.store, config, "sellers", record_id("p1"), now=NOW).render().splitlines()[0]

    assert first == "segment 'sellers' (people), record 1: MEETS the filter; as of the last refresh it is a member"


def test_an_archived_member_never_meets_and_says_why(workspace: Workspace):
    config = setup(workspace, [segment("sellers", TREE)])
    refresh(workspace)
    table = workspace.store.tables.unified("people")
    with workspace.store.engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == record_id("p1")).values(archived=True))

    result = explain(workspace.store, config, "sellers", record_id("p1"), now=NOW)

    assert (result.archived, result.meets, result.tree.met) == (True, False, True)
    assert result.render().splitlines()[0] == (
        "segment 'sellers' (people), record 1: does NOT meet the filter (the record is archived, so it is never "
        "a member); as of the last refresh it is a member")


def test_membership_shown_is_of_the_explained_segment_only(workspace: Workspace):
    config = setup(workspace, [segment("payers", {"field": "paying", "op": "is_true"}),
                               segment("sellers", TREE)])
    refresh(workspace)

    result = explain(workspace.store, config, "sellers", record_id("p4"), now=NOW)  # a payer, not a seller

    assert (result.meets, result.member) == (False, False)


def test_a_blank_value_and_a_record_from_no_source_are_shown_as_such(workspace: Workspace):
    tree = {"all": [{"field": "title", "op": "is_empty"}, {"field": "first_name", "op": "is_empty"},
                    {"source": "crm"}]}
    config = setup(workspace, [segment("blank", tree)])
    table = workspace.store.tables.unified("people")
    with workspace.store.engine.begin() as conn:  # an empty text and an empty source list, as a hand-edited store can hold them
        conn.execute(table.update().where(table.c.id == record_id("p3")).values(first_name="", sources=""))

    shown = [c.shown_value for c in explain(workspace.store, config, "blank", record_id("p3"), now=NOW).tree.children]

    assert shown == ["title = empty", "first_name = empty", "sources = none"]


def test_explain_judges_a_window_at_the_time_it_is_given_and_by_default_now(workspace: Workspace):
    recent = {"field": "signed_up", "op": "within_last", "value": 30, "unit": "days"}
    config = setup(workspace, [segment("recent", recent)])  # Ann signed up 5 days ago

    later = explain(workspace.store, config, "recent", record_id("p1"), now=NOW + timedelta(days=60))
    today = explain(workspace.store, config, "recent", record_id("p1"))

    assert (later.meets, today.meets) == (False, True)
