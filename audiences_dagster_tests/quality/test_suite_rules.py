"""What a data-quality suite reports, exactly: its thresholds read from audiences.yaml, its counts,
each failure line and the summary of a table it could not reach."""

from __future__ import annotations

import sqlalchemy as sa

from audiences_dagster.config.models import AudiencesConfig
from audiences_dagster.quality.suites import Thresholds, validate_unified_table
from audiences_dagster_tests.quality.test_suites import PEOPLE_FIELDS, person, store, unified_table, validate_people


def test_thresholds_come_from_the_checks_section_per_entity() -> None:
    config = AudiencesConfig.model_validate({
        "store": {"url": "sqlite://"},
        "sources": {"crm": {"kind": "csv", "entity": "people", "path": "p.csv", "unique_id": "id",
                            "fields": {"email": {"column": "email", "type": "email"},
                                       "title": {"column": "title"}}}},
        "checks": {"fill_rate": {"people": {"title": 0.7}}, "identity_key_coverage": {"people": 0.9},
                   "max_invalid_share": 0.02}})

    assert Thresholds.of(config, "people") == Thresholds(fill_rate={"title": 0.7}, key_coverage=0.9,
                                                         max_invalid_share=0.02)
    assert Thresholds.of(config, "companies") == Thresholds(fill_rate={}, key_coverage=0.0, max_invalid_share=0.02)


def test_a_clean_table_counts_every_expectation_evaluated_and_successful(store_url: str) -> None:
    result = validate_people(store_url, [person(1), person(2)])

    assert (result.passed, result.evaluated, result.successful) == (True, 5, 5)


def test_each_failure_reads_as_one_line_with_its_count_share_and_examples(store_url: str) -> None:
    rows = [person(i, **({"full_name": None} if i % 2 else {})) for i in range(1, 11)] + [person(11, email="x@")]

    result = validate_people(store_url, rows, fill_rate={"full_name": 0.8})

    assert (result.passed, result.evaluated, result.successful) == (False, 6, 4)
    assert result.failures == [
        "expect_column_values_to_match_regex(email): 1 unexpected of 11 non-null (9.09%), e.g. ['x@']",
        "expect_column_values_to_not_be_null(full_name): 5 unexpected of 11 (45.45%), e.g. [None, None, None]",
    ]


def test_a_table_it_cannot_reach_is_one_error_line_and_one_summary_row(store_url: str) -> None:
    result = validate_unified_table(store_url, "unified_people", "people", PEOPLE_FIELDS)

    [error] = result.errors
    assert (result.passed, result.evaluated, result.successful, result.failures) == (False, 0, 0, [])
    assert error.startswith("unified_people: ") and "\n" not in error
    assert result.summary_markdown.splitlines() == [
        "| expectation | column | success | unexpected |", "|---|---|---|---|",
        f"| table | unified_people | error | {error} |"]


def _validation(*results):
    from great_expectations.core import ExpectationSuiteValidationResult

    return ExpectationSuiteValidationResult(
        success=all(r.success for r in results), results=list(results), suite_name="s",
        statistics={"evaluated_expectations": len(results), "successful_expectations": sum(r.success for r in results)})


def _result(column: str, success: bool, exception_info: dict):
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    config = ExpectationConfiguration(type="expect_column_values_to_match_regex", kwargs={"column": column, "regex": "x"})
    return ExpectationValidationResult(success=success, expectation_config=config, result={},
                                       exception_info=exception_info)


def test_an_expectation_that_raised_is_an_error_in_either_shape_gx_reports_it() -> None:
    """GX puts a raised exception at the top of exception_info or under the metric that raised."""
    from audiences_dagster.quality.suites import _summarize

    top = _result("email", False, {"raised_exception": True, "exception_message": "no such column: email\nSQL ..."})
    nested = _result("phone", False, {"m1": {"raised_exception": True, "exception_message": "bad regex"}})
    calm = _result("title", True, {"raised_exception": False, "exception_message": None})

    summary = _summarize(_validation(top, nested, calm))

    assert summary.errors == ["expect_column_values_to_match_regex(email): no such column: email",
                              "expect_column_values_to_match_regex(phone): bad regex"]
    assert (summary.passed, summary.failures) == (False, [])
    assert [line.split(" | ")[2] for line in summary.summary_markdown.splitlines()[2:]] == ["error", "error", "yes"]


def test_a_domain_field_of_people_is_not_held_to_the_company_domain_shape(store_url: str) -> None:
    fields = PEOPLE_FIELDS | {"domain": "text"}
    store(store_url, unified_table("unified_people", fields), [person(1, domain="https://Acme.com/about")])

    result = validate_unified_table(store_url, "unified_people", "people", fields)

    assert result.passed, result.failures + result.errors


def test_a_table_without_the_archived_column_is_an_error_not_a_crash(store_url: str) -> None:
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE unified_people (id INTEGER PRIMARY KEY, email TEXT)"))
    engine.dispose()

    result = validate_unified_table(store_url, "unified_people", "people", {"email": "email"}, Thresholds(key_coverage=0.5))

    [error] = result.errors
    assert (result.passed, result.evaluated) == (False, 0)
    assert error.startswith("unified_people: ") and "archived" in error


def test_the_summary_gives_a_table_level_check_its_row_count(store_url: str) -> None:
    rows = [person(1), person(2, email=None, linkedin_url=None)]

    result = validate_people(store_url, rows, key_coverage=0.9)

    [row] = [line for line in result.summary_markdown.splitlines() if "records without" in line]
    assert row.endswith("| no | 1 rows |")
