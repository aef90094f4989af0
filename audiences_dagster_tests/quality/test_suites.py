"""Data-quality suites on unified tables, validated in the database on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from audiences_dagster.quality import SuiteResult, validate_unified_table
from audiences_dagster.quality.suites import Thresholds

PEOPLE_FIELDS = {"email": "email", "linkedin_url": "url", "full_name": "text", "title": "text"}
COMPANY_FIELDS = {"domain": "text", "linkedin_url": "url", "name": "text"}
COLUMN_TYPES: dict[str, Any] = {
    "text": sa.Text, "email": sa.Text, "url": sa.Text, "phone": sa.Text,
    "number": sa.Float, "date": sa.Date, "boolean": sa.Boolean,
}


def unified_table(name: str, fields: dict[str, str], *, primary_key: bool = True) -> sa.Table:
    """A unified table shaped like the store's: id, system columns, each field plus its __from."""
    columns = [
        sa.Column("id", sa.Integer, primary_key=primary_key, autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("sources", sa.Text),
        sa.Column("archived", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("deleted_in_source", sa.Boolean, nullable=False, server_default=sa.false()),
    ]
    for field, kind in fields.items():
        columns += [sa.Column(field, COLUMN_TYPES[kind]), sa.Column(f"{field}__from", sa.Integer)]
    return sa.Table(name, sa.MetaData(), *columns)


def store(url: str, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Create the table and insert the rows, leaving no connection open behind."""
    engine = sa.create_engine(url)
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    engine.dispose()


def person(id_: int, **overrides: Any) -> dict[str, Any]:
    """A clean, fully keyed, non-archived person."""
    row = {
        "id": id_,
        "email": f"person.{id_}@acme.com",
        "linkedin_url": f"https://www.linkedin.com/in/person-{id_}",
        "full_name": f"Person {id_}",
        "title": "Engineer",
        "archived": False,
    }
    return row | overrides


def company(id_: int, **overrides: Any) -> dict[str, Any]:
    """A clean, fully keyed, non-archived company."""
    row = {
        "id": id_,
        "domain": f"company{id_}.com",
        "linkedin_url": f"https://www.linkedin.com/company/company-{id_}",
        "name": f"Company {id_}",
        "archived": False,
    }
    return row | overrides


def validate_people(
    url: str,
    rows: list[dict[str, Any]],
    *,
    fields: dict[str, str] = PEOPLE_FIELDS,
    fill_rate: dict[str, float] | None = None,
    primary_key: bool = True,
    **thresholds: float,
) -> SuiteResult:
    """Store people rows in a table with the default people fields, then validate it."""
    store(url, unified_table("unified_people", PEOPLE_FIELDS, primary_key=primary_key), rows)
    return validate_unified_table(url, "unified_people", "people", fields,
                                  Thresholds(fill_rate=fill_rate or {}, **thresholds))


def failures_about(result: SuiteResult, needle: str) -> list[str]:
    return [line for line in result.failures if needle in line]


def test_clean_people_table_passes(store_url: str) -> None:
    unusual = ["o'brien+news@mail.acme-corp.co.uk", "josé@café.fr", "ünsal@xn--mnchen-3ya.de"]
    rows = [person(i) for i in range(1, 18)]
    rows += [person(i, email=email) for i, email in enumerate(unusual, start=18)]

    result = validate_people(store_url, rows, fill_rate={"full_name": 1.0})

    assert result.passed, result.failures + result.errors
    assert result.failures == [] and result.errors == []
    assert result.evaluated == result.successful > 0


def test_clean_company_table_passes(store_url: str) -> None:
    rows = [company(1), company(2, domain="acme.co.uk"), company(3, domain="münchen.de"),
            company(4, domain="xn--mnchen-3ya.de"),
            company(5, linkedin_url="https://www.linkedin.com/school/acme-university")]
    store(store_url, unified_table("unified_companies", COMPANY_FIELDS), rows)

    result = validate_unified_table(
        store_url, "unified_companies", "companies", COMPANY_FIELDS, Thresholds(fill_rate={"name": 1.0})
    )

    assert result.passed, result.failures + result.errors


def test_invalid_email_fails_and_is_named_in_failures(store_url: str) -> None:
    invalid = [
        "jane.doe@", "Jane.Doe@acme.com", "jane doe@acme.com", "jane..doe@acme.com", "jane@acme.com\n",
    ]
    rows = [person(1), person(2, email=None)]
    rows += [person(i, email=email) for i, email in enumerate(invalid, start=3)]

    result = validate_people(store_url, rows)

    assert not result.passed
    (line,) = failures_about(result, "expect_column_values_to_match_regex(email)")
    assert f"{len(invalid)} unexpected of {len(rows) - 1} non-null" in line
    assert "'jane.doe@'" in line
    assert result.errors == []


def test_non_canonical_linkedin_url_fails(store_url: str) -> None:
    variants = [
        "http://www.linkedin.com/in/jane",
        "https://linkedin.com/in/jane",
        "https://www.linkedin.com/in/jane/",
        "https://www.linkedin.com/in/jane?trk=abc",
        "https://www.linkedin.com/pub/jane",
        "HTTPS://WWW.LINKEDIN.COM/IN/JANE",
        "https://www.linkedin.com/in/jane\n",
        "https://www.linkedin.com/in/",
    ]
    rows = [person(1)] + [person(i, linkedin_url=url) for i, url in enumerate(variants, start=2)]

    result = validate_people(store_url, rows)

    assert not result.passed
    (line,) = failures_about(result, "expect_column_values_to_match_regex(linkedin_url)")
    assert f"{len(variants)} unexpected of {len(rows)} non-null" in line


def test_company_domain_with_scheme_path_or_www_fails(store_url: str) -> None:
    bad = ["https://acme.com", "www.acme.com", "acme.com/about", "Acme.com", "acme", "acme.com."]
    rows = [company(1)] + [company(i, domain=domain) for i, domain in enumerate(bad, start=2)]
    store(store_url, unified_table("unified_companies", COMPANY_FIELDS), rows)

    result = validate_unified_table(store_url, "unified_companies", "companies", COMPANY_FIELDS)

    assert not result.passed
    (line,) = failures_about(result, "expect_column_values_to_match_regex(domain)")
    assert f"{len(bad)} unexpected of {len(rows)} non-null" in line


def _keyless_people(keyed: int, keyless: int) -> list[dict[str, Any]]:
    rows = [person(i) for i in range(1, keyed + 1)]
    rows += [person(i, email=None, linkedin_url=None) for i in range(keyed + 1, keyed + keyless + 1)]
    rows += [person(1000, email=None), person(1001, linkedin_url=None)]  # one key is enough
    return rows


def test_keyless_records_within_the_key_coverage_pass(store_url: str) -> None:
    result = validate_people(store_url, _keyless_people(keyed=6, keyless=2), key_coverage=0.8)

    assert result.passed, result.failures + result.errors


def test_key_coverage_below_its_threshold_fails_with_the_count(store_url: str) -> None:
    result = validate_people(store_url, _keyless_people(keyed=6, keyless=3), key_coverage=0.8)

    assert not result.passed
    (line,) = result.failures
    assert "records without linkedin_url / email (key coverage at least 80% of 11)" in line
    assert "observed 3, expected at most 2" in line


def test_key_coverage_exactly_at_its_threshold_passes(store_url: str) -> None:
    result = validate_people(store_url, _keyless_people(keyed=8, keyless=2), key_coverage=5 / 6)

    assert result.passed, result.failures + result.errors


def test_archived_keyless_records_do_not_count_against_the_key_coverage(store_url: str) -> None:
    rows = _keyless_people(keyed=4, keyless=0)
    rows += [person(i, email=None, linkedin_url=None, archived=True) for i in range(10, 20)]

    result = validate_people(store_url, rows, key_coverage=1.0)

    assert result.passed, result.failures + result.errors


def test_without_a_key_coverage_keyless_records_are_not_checked(store_url: str) -> None:
    result = validate_people(store_url, _keyless_people(keyed=0, keyless=5))

    assert result.passed, result.failures + result.errors
    assert "records without" not in result.summary_markdown


def test_malformed_emails_within_the_allowed_share_pass_and_above_it_fail(store_url: str) -> None:
    rows = [person(i) for i in range(1, 10)] + [person(10, email="jane.doe@")]

    assert validate_people(store_url, rows, max_invalid_share=0.1).passed
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE unified_people"))
    engine.dispose()
    result = validate_people(store_url, rows, max_invalid_share=0.05)

    assert not result.passed
    (line,) = failures_about(result, "expect_column_values_to_match_regex(email)")
    assert "1 unexpected of 10 non-null" in line


def test_duplicate_id_fails(store_url: str) -> None:
    rows = [person(1), person(7), person(7, email="other@acme.com", linkedin_url=None)]

    result = validate_people(store_url, rows, primary_key=False)

    assert not result.passed
    (line,) = result.failures
    assert line.startswith("expect_column_values_to_be_unique(id): 2 unexpected of 3 non-null")


def test_fill_rate_below_threshold_fails_while_one_above_passes(store_url: str) -> None:
    half_filled = {"full_name": None, "title": None}
    rows = [person(i, **half_filled) if i % 2 else person(i) for i in range(1, 11)]

    result = validate_people(store_url, rows, fill_rate={"full_name": 0.8, "title": 0.4})

    assert not result.passed
    (line,) = result.failures
    assert line.startswith("expect_column_values_to_not_be_null(full_name): 5 unexpected of 10")
    assert "| expect_column_values_to_not_be_null | title | yes |" in result.summary_markdown


def test_archived_rows_are_ignored(store_url: str) -> None:
    archived = dict(archived=True, full_name=None)
    rows = [person(1), person(2),
            person(2, email="bad@", linkedin_url="http://linkedin.com/in/x", **archived),
            person(3, email=None, linkedin_url=None, **archived)]

    result = validate_people(store_url, rows, primary_key=False, fill_rate={"full_name": 1.0})

    assert result.passed, result.failures + result.errors


def test_broken_expectation_is_reported_as_error_not_failure(store_url: str) -> None:
    fields = PEOPLE_FIELDS | {"personal_email": "email"}

    result = validate_people(store_url, [person(1)], fields=fields)

    assert not result.passed
    assert result.failures == []
    (line,) = result.errors
    assert line.startswith("expect_column_values_to_match_regex(personal_email):")
    assert "personal_email" in line.split(":", 1)[1]
    row = "| expect_column_values_to_match_regex | personal_email | error | - |"
    assert row in result.summary_markdown


def test_missing_table_is_reported_as_error(store_url: str) -> None:
    result = validate_unified_table(store_url, "unified_people", "people", PEOPLE_FIELDS)

    assert not result.passed
    assert result.evaluated == 0
    (line,) = result.errors
    assert line.startswith("unified_people:")


def test_summary_shows_each_expectation_with_unexpected_share(store_url: str) -> None:
    result = validate_people(store_url, [person(1), person(2, email="x@")])

    lines = result.summary_markdown.splitlines()
    assert lines[0] == "| expectation | column | success | unexpected |"
    assert len(lines) == 2 + result.evaluated
    assert "| expect_column_values_to_match_regex | email | no | 1 / 50.00% |" in lines


def test_an_unknown_entity_is_refused_with_the_known_ones() -> None:
    import pytest

    from audiences_dagster.quality.suites import build_expectations

    with pytest.raises(ValueError, match=r"unknown entity 'accounts'; expected one of \['companies', 'people'\]"):
        build_expectations("accounts", PEOPLE_FIELDS)
