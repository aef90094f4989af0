"""The cross-checks of signals against the rest of audiences.yaml: each refusal names the signal's
path and key and says what is wrong, and a signal that fits the config loads."""

from __future__ import annotations

from pathlib import Path

from audiences_dagster.config.signals import SignalConfig, check_signals
from audiences_dagster_tests.signals.test_config import error, load
from audiences_dagster_tests.signals.world import GROWTH, JOB_CHANGE, PROMOTION

GLOBEX_PEOPLE = {"name": "globex_people", "entity": "people",
                 "filter": {"field": "email", "op": "contains", "value": "@globex.com"}}
SEED_COMPANIES = {"name": "seed_companies", "entity": "companies",
                  "filter": {"field": "stage", "op": "contains", "value": "Seed"}}


def test_signal_declared_twice_names_the_second_declaration(tmp_path: Path):
    assert error(tmp_path, [PROMOTION, JOB_CHANGE, {**JOB_CHANGE, "kind": "promotion"}]) == \
        "signals[2].name: signal 'job_changers' is declared more than once"


def test_promotion_on_a_field_that_is_not_text_is_refused(tmp_path: Path):
    assert error(tmp_path, [{**PROMOTION, "field": "email"}]) == \
        "signals[0].field: a promotion reads titles; 'email' is email, not text"


def test_promotion_without_a_field_reads_the_title(tmp_path: Path):
    [promotion] = load(tmp_path, [{"name": "promoted", "kind": "promotion"}]).signals

    assert promotion.watched_field == "title"


def test_signal_watching_an_undeclared_segment_is_refused(tmp_path: Path):
    assert error(tmp_path, [JOB_CHANGE, {**PROMOTION, "segment": "vips"}], [GLOBEX_PEOPLE]) == \
        "signals[1].segment: 'vips' is not a declared segment"


def test_signal_watching_a_segment_of_the_other_entity_is_refused(tmp_path: Path):
    assert error(tmp_path, [{**PROMOTION, "segment": "seed_companies"}], [SEED_COMPANIES]) == \
        "signals[0].segment: 'seed_companies' is a companies segment, not a people one"


def test_signal_watching_a_segment_of_its_entity_loads(tmp_path: Path):
    config = load(tmp_path, [{**PROMOTION, "segment": "globex_people"}, {**GROWTH, "segment": "seed_companies"}],
                  [GLOBEX_PEOPLE, SEED_COMPANIES])

    assert [(s.name, s.segment) for s in config.signals] == [
        ("promoted", "globex_people"), ("headcount_growth", "seed_companies")]


def test_signal_cannot_watch_a_segment_that_filters_on_it_and_says_why(tmp_path: Path):
    segment = {"name": "moved", "entity": "people",
               "filter": {"signal": "job_changers", "op": "within_last", "value": 3, "unit": "months"}}

    assert error(tmp_path, [{**JOB_CHANGE, "segment": "moved"}], [segment]) == (
        "signals[0].segment: 'moved' filters on this signal, so the signal cannot watch it "
        "(each would wait for the other)")


def test_signal_may_watch_a_segment_when_no_filter_uses_signals():
    signal = SignalConfig.model_validate({**PROMOTION, "segment": "globex_people"})

    assert check_signals([signal], lambda entity: {"title": "text"}, {"globex_people": "people"}) is None
