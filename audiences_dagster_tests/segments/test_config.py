"""Segments are validated on load: every problem names the segment and the path in its filter."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiences_dagster.config import ConfigError, load_config
from audiences_dagster_tests.config.documents import base, write_config
from audiences_dagster_tests.segments.people import crm_source, segment


def load(tmp_path: Path, *segments: dict):
    return load_config(write_config(tmp_path, base(sources={"crm": crm_source()}, segments=list(segments))))


def error(tmp_path: Path, *segments: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, *segments)
    return str(caught.value).split(": ", 1)[1]


OK = segment("ok", {"field": "title", "op": "is_not_empty"})


def test_a_valid_segment_loads_with_its_filter_tree(tmp_path: Path):
    tree = {"all": [{"field": "title", "op": "contains", "value": "VP"},
                    {"any": [{"field": "score", "op": "gte", "value": 50}, {"source": "crm"}]}]}

    config = load(tmp_path, segment("vps", tree))

    [vps] = config.segments
    assert (vps.name, vps.entity, vps.filter.all[1].any[0].op) == ("vps", "people", "gte")


def test_unknown_field_names_the_segment_index_and_the_path_in_the_filter(tmp_path: Path):
    bad = segment("seniors", {"all": [{"field": "title", "op": "is_not_empty"},
                                      {"field": "seniority", "op": "equals", "value": "VP"}]})

    assert error(tmp_path, OK, OK | {"name": "ok2"}, bad) == \
        "segments[2].filter.all[1].field: 'seniority' is not an imported people field"


def test_field_of_the_other_entity_is_not_an_imported_field(tmp_path: Path):
    bad = segment("firms", {"field": "title", "op": "is_not_empty"}, entity="companies")

    assert error(tmp_path, bad) == "segments[0].filter.field: 'title' is not an imported companies field"


def test_operator_that_does_not_fit_the_field_type_lists_the_ones_that_do(tmp_path: Path):
    message = error(tmp_path, segment("s", {"field": "score", "op": "contains", "value": "9"}))

    assert message.startswith("segments[0].filter.op: 'contains' does not apply to number field 'score' (use: equals")


def test_text_value_for_a_number_field_is_refused(tmp_path: Path):
    message = error(tmp_path, segment("s", {"field": "score", "op": "gt", "value": "lots"}))

    assert message == "segments[0].filter.value: 'gt' on a number field needs a number, got 'lots'"


def test_unparseable_date_is_refused(tmp_path: Path):
    message = error(tmp_path, segment("s", {"field": "signed_up", "op": "before", "value": "31/02/2024"}))

    assert message == "segments[0].filter.value: 'before' on a date field needs a date like 2025-01-31, got '31/02/2024'"


def test_contains_any_of_takes_at_most_ten_values(tmp_path: Path):
    values = [f"word{i}" for i in range(11)]

    message = error(tmp_path, segment("s", {"field": "title", "op": "contains_any_of", "value": values}))

    assert message == "segments[0].filter.value: contains_any_of takes a list of 1 to 10 values"


def test_between_needs_low_before_high(tmp_path: Path):
    message = error(tmp_path, segment("s", {"field": "score", "op": "between", "value": [90, 10]}))

    assert message == "segments[0].filter.value: between needs low <= high, got [90, 10]"


def test_window_needs_a_unit(tmp_path: Path):
    message = error(tmp_path, segment("s", {"field": "signed_up", "op": "within_last", "value": 3}))

    assert message == "segments[0].filter.unit: say days, weeks or months"


def test_unknown_unit_is_refused(tmp_path: Path):
    message = error(tmp_path, segment("s", {"field": "signed_up", "op": "within_last", "value": 3, "unit": "years"}))

    assert message.startswith("segments[0].filter.unit: Input should be 'days', 'weeks' or 'months'")


def test_a_node_with_two_kinds_is_refused(tmp_path: Path):
    message = error(tmp_path, segment("s", {"field": "title", "op": "is_empty", "source": "crm"}))

    assert message.startswith("segments[0].filter: a filter node needs exactly one of")


def test_an_empty_group_is_refused(tmp_path: Path):
    assert error(tmp_path, segment("s", {"any": []})) == "segments[0].filter: 'any' needs at least one condition"


def test_unknown_key_in_a_nested_condition_names_its_path(tmp_path: Path):
    message = error(tmp_path, segment("s", {"all": [{"field": "title", "op": "is_empty", "valu": 1}]}))

    assert message == "segments[0].filter.all[0].valu: unknown key"


def test_unknown_source_lists_the_sources(tmp_path: Path):
    message = error(tmp_path, segment("s", {"source": "hubspot"}))

    assert message == "segments[0].filter.source: 'hubspot' is not a people source (choose from: crm)"


def test_member_of_an_undeclared_segment_is_refused(tmp_path: Path):
    message = error(tmp_path, segment("s", {"member_of": "ghosts"}))

    assert message == "segments[0].filter.member_of: 'ghosts' is not a declared segment"


def test_segments_referring_to_each_other_in_a_cycle_are_refused(tmp_path: Path):
    a = segment("a", {"member_of": "b"})
    b = segment("b", {"all": [{"member_of": "c"}]})
    c = segment("c", {"member_of": "a", "op": "is_not"})

    assert error(tmp_path, a, b, c) == "segments[0].filter: member_of makes a cycle: a -> b -> c -> a"


def test_duplicate_segment_names_are_refused(tmp_path: Path):
    assert error(tmp_path, OK, OK) == "segments[1].name: segment 'ok' is declared more than once"

