"""Every way a segment declaration can be wrong, with the message that names its path; and the
orders and dependencies the refresh reads from the declarations."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from audiences_dagster.config import ConfigError, load_config
from audiences_dagster.config.segments import SegmentConfig, as_datetime, refresh_order, signals_used
from audiences_dagster_tests.config.documents import base, write_config
from audiences_dagster_tests.segments.people import crm_source, segment
from audiences_dagster_tests.signals.world import GROWTH, JOB_CHANGE, SOURCES
from audiences_dagster_tests.support import clock_away_from_utc


def error(tmp_path: Path, *segments: dict, sources: dict | None = None, signals: list[dict] | None = None) -> str:
    settings = {"sources": sources or {"crm": crm_source()}, "segments": list(segments)}
    if signals:
        settings["signals"] = signals
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, base(**settings)))
    return str(caught.value).split(": ", 1)[1]


def loads(tmp_path: Path, *segments: dict, sources: dict | None = None, signals: list[dict] | None = None):
    settings = {"sources": sources or {"crm": crm_source()}, "segments": list(segments)}
    if signals:
        settings["signals"] = signals
    return load_config(write_config(tmp_path, base(**settings)))


@pytest.mark.parametrize(("condition", "message"), [
    ({"field": "title", "op": "contains", "value": ""},
     "filter.value: 'contains' needs a non-empty value (use is_empty / is_not_empty for blanks)"),
    ({"field": "title", "op": "not_contains", "value": ""},
     "filter.value: 'not_contains' needs a non-empty value (use is_empty / is_not_empty for blanks)"),
    ({"field": "title", "op": "contains_any_of", "value": ["VP", ""]},
     "filter.value: 'contains_any_of' needs a non-empty value (use is_empty / is_not_empty for blanks)"),
    ({"field": "title", "op": "contains_any_of", "value": []},
     "filter.value: contains_any_of takes a list of 1 to 10 values"),
    ({"field": "title", "op": "contains_any_of", "value": "VP"},
     "filter.value: contains_any_of takes a list of 1 to 10 values"),
    ({"field": "title", "op": "equals", "value": True},
     "filter.value: 'equals' on a text field needs a text value, got True"),
    ({"field": "title", "op": "equals", "value": ["VP"]},
     "filter.value: 'equals' on a text field needs a text value, got ['VP']"),
    ({"field": "title", "op": "is_empty", "value": "x"}, "filter.value: 'is_empty' takes no value"),
    ({"field": "title", "op": "equals", "value": "VP", "unit": "days"},
     "filter.unit: only within_last / not_within_last take a unit"),
    ({"field": "score", "op": "gt", "value": True}, "filter.value: 'gt' on a number field needs a number, got True"),
    ({"field": "score", "op": "between", "value": [1]}, "filter.value: between takes a list of two numbers [low, high]"),
    ({"field": "score", "op": "between", "value": 5}, "filter.value: between takes a list of two numbers [low, high]"),
    ({"field": "score", "op": "between", "value": [1, "x"]},
     "filter.value: 'between' on a number field needs a number, got 'x'"),
    ({"field": "signed_up", "op": "before", "value": 20250131},
     "filter.value: 'before' on a date field needs a date like 2025-01-31, got 20250131"),
    ({"field": "signed_up", "op": "within_last", "value": 0, "unit": "days"},
     "filter.value: the window must be a whole number of days (1 or more), got 0"),
    ({"field": "signed_up", "op": "within_last", "value": 2.5, "unit": "weeks"},
     "filter.value: the window must be a whole number of weeks (1 or more), got 2.5"),
    ({"field": "signed_up", "op": "not_within_last", "value": True, "unit": "months"},
     "filter.value: the window must be a whole number of months (1 or more), got True"),
    ({"field": "signed_up", "op": "within_last", "value": "3"},
     "filter.value: the window must be a whole number of days (1 or more), got '3'"),
    ({"field": "paying", "op": "equals", "value": True},
     "filter.op: 'equals' does not apply to boolean field 'paying' (use: is_true, is_false, is_empty, is_not_empty)"),
    ({"deleted_in_source": True, "op": "is"}, "filter: 'deleted_in_source' takes true or false and nothing else"),
    ({"converted_lead": True, "value": 1}, "filter: 'converted_lead' takes true or false and nothing else"),
    ({"converted_lead": False, "unit": "days"}, "filter: 'converted_lead' takes true or false and nothing else"),
    ({"source": "crm", "op": "equals"}, "filter.op: 'equals' does not apply to 'source' (use: is, is_not)"),
    ({"source": "crm", "value": "x"}, "filter: 'source' takes an optional op (is / is_not) and no value"),
    ({"member_of": "other", "unit": "days"}, "filter: 'member_of' takes an optional op (is / is_not) and no value"),
    ({"member_of": "s"}, "filter.member_of: segment 's' cannot contain itself"),
    ({"field": "title"}, "filter: condition on field 'title' needs an 'op'"),
    ({"all": [{"field": "title", "op": "is_empty"}], "op": "is"},
     "filter: a group ('all') takes no op, value or unit"),
    ({"any": [{"field": "title", "op": "is_empty"}], "unit": "days"},
     "filter: a group ('any') takes no op, value or unit"),
])
def test_a_wrong_condition_is_refused_naming_its_path(tmp_path: Path, condition: dict, message: str) -> None:
    found = error(tmp_path, segment("other", {"field": "title", "op": "is_empty"}), segment("s", condition))
    assert found == "segments[1]." + message


def test_converted_lead_on_companies_is_refused(tmp_path: Path) -> None:
    accounts = {"kind": "csv", "entity": "companies", "path": "a.csv", "unique_id": "id",
                "fields": {"domain": {"column": "domain", "type": "url"}}}
    found = error(tmp_path, segment("firms", {"converted_lead": True}, entity="companies"),
                  sources={"crm": crm_source(), "accounts": accounts})
    assert found == "segments[0].filter: 'converted_lead' only applies to people"


def test_membership_of_a_segment_of_the_other_entity_is_refused(tmp_path: Path) -> None:
    accounts = {"kind": "csv", "entity": "companies", "path": "a.csv", "unique_id": "id",
                "fields": {"domain": {"column": "domain", "type": "url"}}}
    found = error(tmp_path, segment("firms", {"field": "domain", "op": "is_not_empty"}, entity="companies"),
                  segment("s", {"member_of": "firms"}), sources={"crm": crm_source(), "accounts": accounts})
    assert found == "segments[1].filter.member_of: 'firms' is a companies segment, not a people one"


def test_a_source_of_an_entity_without_sources_lists_none(tmp_path: Path) -> None:
    found = error(tmp_path, segment("firms", {"source": "crm"}, entity="companies"))
    assert found == "segments[0].filter.source: 'crm' is not a companies source (choose from: none)"


def test_an_unknown_preview_field_is_refused_naming_its_position(tmp_path: Path) -> None:
    found = error(tmp_path, segment("s", {"field": "title", "op": "is_empty"}) | {"preview_fields": ["title", "age"]})
    assert found == "segments[0].preview_fields[1]: 'age' is not an imported people field"


def test_preview_fields_that_are_imported_load(tmp_path: Path) -> None:
    config = loads(tmp_path, segment("s", {"field": "title", "op": "is_empty"}) | {"preview_fields": ["title", "email"]})
    assert config.segments[0].preview_fields == ["title", "email"]


@pytest.mark.parametrize("name", ["VIPs", "1st", "has space", "a" * 64, ""])
def test_a_segment_name_that_is_not_lower_snake_case_is_refused(tmp_path: Path, name: str) -> None:
    found = error(tmp_path, segment(name, {"field": "title", "op": "is_empty"}))
    assert f"segment name '{name}' must be lower_snake_case (letters, digits, _)" in found


def test_a_sixty_three_letter_name_is_lower_snake_case(tmp_path: Path) -> None:
    assert loads(tmp_path, segment("a" * 63, {"field": "title", "op": "is_empty"})).segments[0].name == "a" * 63


def test_a_node_without_a_kind_lists_the_kinds(tmp_path: Path) -> None:
    found = error(tmp_path, segment("s", {"op": "is"}))
    assert ("a filter node needs exactly one of all, any, field, source, deleted_in_source, converted_lead, "
            "member_of, signal (found: none)") in found


def test_a_signal_condition_needs_an_op(tmp_path: Path) -> None:
    found = error(tmp_path, segment("s", {"signal": "job_changers"}), sources=SOURCES, signals=[JOB_CHANGE])
    assert "condition on signal 'job_changers' needs an 'op' (within_last or not_within_last)" in found


@pytest.mark.parametrize(("condition", "message"), [
    ({"signal": "ghost", "op": "within_last", "value": 30, "unit": "days"},
     "filter.signal: 'ghost' is not a declared signal (declared: headcount_growth, job_changers)"),
    ({"signal": "headcount_growth", "op": "within_last", "value": 30, "unit": "days"},
     "filter.signal: 'headcount_growth' is a companies signal, not a people one"),
    ({"signal": "job_changers", "op": "is", "value": 30, "unit": "days"},
     "filter.op: 'is' does not apply to a signal (use: not_within_last, within_last)"),
    ({"signal": "job_changers", "op": "within_last", "value": 0, "unit": "days"},
     "filter.value: the window must be a whole number of days (1 or more), got 0"),
    ({"signal": "job_changers", "op": "within_last", "value": 30},
     "filter.unit: say days, weeks or months"),
])
def test_a_wrong_signal_condition_is_refused_naming_its_path(tmp_path: Path, condition: dict, message: str) -> None:
    found = error(tmp_path, segment("s", condition), sources=SOURCES, signals=[JOB_CHANGE, GROWTH])
    assert found == "segments[0]." + message


def test_a_signal_condition_with_no_signals_declared_says_none(tmp_path: Path) -> None:
    found = error(tmp_path, segment("s", {"signal": "ghost", "op": "within_last", "value": 3, "unit": "days"}))
    assert found == "segments[0].filter.signal: 'ghost' is not a declared signal (declared: none)"


@pytest.mark.parametrize(("value", "moment"), [
    ("2025-01-31", datetime(2025, 1, 31)),
    (" 2025-01-31T10:30:00 ", datetime(2025, 1, 31, 10, 30)),
    ("2025-01-31T10:30:00+02:00", datetime(2025, 1, 31, 8, 30)),
    (date(2025, 1, 31), datetime(2025, 1, 31)),
    (datetime(2025, 1, 31, 10, 30), datetime(2025, 1, 31, 10, 30)),
    (datetime(2025, 1, 31, 10, 30, tzinfo=timezone(timedelta(hours=-5))), datetime(2025, 1, 31, 15, 30)),
    ("31/01/2025", None),
    (20250131, None),
])
def test_a_filter_date_is_read_as_naive_utc(value, moment) -> None:
    assert as_datetime(value) == moment


def declared(name: str, condition: dict) -> SegmentConfig:
    return SegmentConfig(name=name, entity="people", filter=condition)


def test_referenced_segments_refresh_before_the_segments_using_them() -> None:
    top = declared("top", {"all": [{"member_of": "mid"}, {"member_of": "base"}]})
    mid = declared("mid", {"any": [{"member_of": "base"}, {"field": "title", "op": "is_empty"}]})
    base_segment = declared("base", {"field": "title", "op": "is_not_empty"})
    alone = declared("alone", {"field": "title", "op": "is_empty"})

    assert [s.name for s in refresh_order([top, alone, mid, base_segment])] == ["base", "mid", "top", "alone"]


def test_a_segment_uses_the_signals_of_the_segments_it_references() -> None:
    fired = {"signal": "job_changers", "op": "within_last", "value": 3, "unit": "days"}
    promoted = {"signal": "promoted", "op": "not_within_last", "value": 3, "unit": "days"}
    base_segment = declared("base", {"all": [fired]})
    mid = declared("mid", {"any": [{"member_of": "base"}, promoted]})
    top = declared("top", {"member_of": "mid"})
    plain = declared("plain", {"field": "title", "op": "is_empty"})

    assert signals_used([top, mid, base_segment, plain]) == {
        "top": {"job_changers", "promoted"}, "mid": {"job_changers", "promoted"}, "base": {"job_changers"},
        "plain": set()}


def test_a_cycle_through_a_nested_reference_names_the_loop_from_the_first_segment_in_it(tmp_path: Path) -> None:
    ok = segment("ok", {"field": "title", "op": "is_empty"})
    a = segment("a", {"any": [{"field": "title", "op": "is_empty"}, {"member_of": "b"}]})
    b = segment("b", {"all": [{"member_of": "ok"}, {"member_of": "a"}]})

    assert error(tmp_path, ok, a, b) == "segments[1].filter: member_of makes a cycle: a -> b -> a"


@pytest.mark.parametrize("condition", [
    {"field": "signed_up", "op": "within_last", "value": 1, "unit": "days"},
    {"field": "title", "op": "contains_any_of", "value": ["VP"]},
    {"field": "title", "op": "contains_any_of", "value": [f"v{i}" for i in range(10)]},
    {"field": "score", "op": "between", "value": [50, 50]},
    {"field": "signed_up", "op": "after", "value": "2025-01-31"},
    {"converted_lead": True},
    {"deleted_in_source": False},
])
def test_a_condition_at_the_edge_of_what_is_allowed_loads(tmp_path: Path, condition: dict) -> None:
    assert loads(tmp_path, segment("s", condition)).segments[0].filter.kind == next(iter(condition))


def test_contains_any_of_with_eleven_values_is_refused(tmp_path: Path) -> None:
    found = error(tmp_path, segment("s", {"field": "title", "op": "contains_any_of", "value": [f"v{i}" for i in range(11)]}))
    assert found == "segments[0].filter.value: contains_any_of takes a list of 1 to 10 values"


def test_deleted_in_source_applies_to_companies(tmp_path: Path) -> None:
    accounts = {"kind": "csv", "entity": "companies", "path": "a.csv", "unique_id": "id",
                "fields": {"domain": {"column": "domain", "type": "url"}}}
    config = loads(tmp_path, segment("gone", {"deleted_in_source": True}, entity="companies"),
                   sources={"crm": crm_source(), "accounts": accounts})
    assert config.segments[0].entity == "companies"


def test_an_unknown_source_lists_every_source_of_the_entity(tmp_path: Path) -> None:
    found = error(tmp_path, segment("s", {"source": "hubspot"}),
                  sources={"crm": crm_source("a.csv"), "events": crm_source("b.csv")})
    assert found == "segments[0].filter.source: 'hubspot' is not a people source (choose from: crm, events)"


def test_a_naive_filter_date_is_utc_whatever_the_machine_zone() -> None:
    with clock_away_from_utc():
        assert as_datetime(datetime(2025, 1, 31, 10, 30)) == datetime(2025, 1, 31, 10, 30)
        assert as_datetime("2025-01-31T10:30:00+02:00") == datetime(2025, 1, 31, 8, 30)
