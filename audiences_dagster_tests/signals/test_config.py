"""Signals are validated on load: every problem names the signal (or segment) and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiences_dagster.config import ConfigError, load_config
from audiences_dagster_tests.config.documents import base, write_config
from audiences_dagster_tests.signals.world import GROWTH, JOB_CHANGE, PROMOTION, SOURCES


def load(tmp_path: Path, signals: list[dict], segments: list[dict] | None = None):
    return load_config(write_config(tmp_path, base(sources=SOURCES, signals=signals, segments=segments or [])))


def error(tmp_path: Path, signals: list[dict], segments: list[dict] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, signals, segments)
    return str(caught.value).split(": ", 1)[1]


def test_valid_signals_load_with_their_defaults(tmp_path: Path):
    config = load(tmp_path, [JOB_CHANGE, PROMOTION, GROWTH])

    job, promotion, growth = config.signals
    assert (job.watched_field, job.look_back_months, job.recurrence) == ("company_id", 6, "daily")
    assert [level.level for level in promotion.ladder][-1] == "c_level"
    assert (growth.entity, growth.change, growth.min_percent) == ("companies", "increased", 20)


def test_unknown_field_names_the_signal_and_key(tmp_path: Path):
    assert error(tmp_path, [{**GROWTH, "field": "employees"}]) == \
        "signals[0].field: 'employees' is not an imported companies field"


def test_look_back_other_than_3_6_or_12_months_is_refused(tmp_path: Path):
    assert "look_back_months must be one of 3, 6 or 12, got 5" in error(tmp_path, [{**JOB_CHANGE, "look_back_months": 5}])


def test_threshold_on_a_text_field_is_refused(tmp_path: Path):
    bad = {"name": "stage_up", "kind": "field_change", "entity": "companies", "field": "stage", "change": "increased"}

    assert error(tmp_path, [bad]) == ("signals[0].change: 'increased' needs a number field; 'stage' is text "
                                      "(use change: changed)")


def test_job_change_on_companies_is_refused(tmp_path: Path):
    assert "a job_change signal watches people, not companies" in error(
        tmp_path, [{**JOB_CHANGE, "entity": "companies"}])


def test_segment_filter_on_an_undeclared_signal_names_the_path(tmp_path: Path):
    segment = {"name": "moved", "entity": "people",
               "filter": {"all": [{"signal": "job_movers", "op": "within_last", "value": 3, "unit": "months"}]}}

    assert error(tmp_path, [JOB_CHANGE], [segment]) == \
        "segments[0].filter.all[0].signal: 'job_movers' is not a declared signal (declared: job_changers)"


def test_signal_window_needs_a_unit(tmp_path: Path):
    segment = {"name": "moved", "entity": "people", "filter": {"signal": "job_changers", "op": "within_last", "value": 3}}

    assert error(tmp_path, [JOB_CHANGE], [segment]) == "segments[0].filter.unit: say days, weeks or months"


def test_signal_cannot_watch_a_segment_that_filters_on_it(tmp_path: Path):
    segment = {"name": "moved", "entity": "people",
               "filter": {"signal": "job_changers", "op": "within_last", "value": 3, "unit": "months"}}

    assert "signals[0].segment: 'moved' filters on this signal" in error(
        tmp_path, [{**JOB_CHANGE, "segment": "moved"}], [segment])
