"""A Salesforce source in audiences.yaml: the exact error a user sees for each mistake in its object, keys,
columns and subset (`where`), and the conditions a subset may hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiences_dagster.config import AudiencesConfig, ConfigError, load_config
from audiences_dagster_tests.config.documents import base, write_config

CONNECTION = {"kind": "salesforce", "token_url_env": "SF_TOKEN_URL", "client_id_env": "SF_CLIENT_ID",
              "client_secret_env": "SF_CLIENT_SECRET"}
SYSTEM_COLUMNS_NOTE = ("Id, SystemModstamp, IsDeleted are read by the connector itself "
                       "(incrementals and delete detection)")


def contacts(**overrides: object) -> dict:
    source = {"kind": "salesforce", "connection": "org", "object": "Contact", "entity": "people", "unique_id": "Id",
              "fields": {"email": {"column": "Email", "type": "email"}}}
    return {**source, **overrides}


def accounts(**overrides: object) -> dict:
    source = {"kind": "salesforce", "connection": "org", "object": "Account", "entity": "companies",
              "unique_id": "Id", "fields": {"name": {"column": "Name"}}}
    return {**source, **overrides}


def document(**sources: dict) -> dict:
    return base(connections={"org": CONNECTION}, sources=sources)


def loaded(tmp_path: Path, **sources: dict) -> AudiencesConfig:
    return load_config(write_config(tmp_path, document(**sources)))


def refusal(tmp_path: Path, **sources: dict) -> str:
    """The error for the one bad source, with the file and the source's path stripped off the front."""
    path = write_config(tmp_path, document(**sources))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    prefix = f"{path}: sources.{next(iter(sources))}: "
    message = str(caught.value)
    assert message.startswith(prefix)
    return message.removeprefix(prefix)


def where_refusal(tmp_path: Path, where: str) -> str:
    return refusal(tmp_path, sf_contacts=contacts(where=where))


def test_a_salesforce_source_without_a_connection_is_refused(tmp_path: Path) -> None:
    source = {k: v for k, v in contacts().items() if k != "connection"}
    assert refusal(tmp_path, sf_contacts=source) == \
        "a salesforce source needs 'connection' (a name under connections:)"


def test_an_unknown_object_is_refused_naming_the_objects_and_the_one_given(tmp_path: Path) -> None:
    assert refusal(tmp_path, sf_contacts=contacts(object="Opportunity")) == \
        "object must be one of Contact, Lead, Account, got 'Opportunity'"


def test_an_account_source_must_hold_companies(tmp_path: Path) -> None:
    assert refusal(tmp_path, sf_accounts=accounts(entity="people")) == "object Account holds companies, not people"


def test_a_lead_source_holds_people(tmp_path: Path) -> None:
    assert loaded(tmp_path, sf_leads=contacts(object="Lead")).sources["sf_leads"].entity == "people"


def test_a_unique_id_other_than_id_is_refused_naming_it(tmp_path: Path) -> None:
    assert refusal(tmp_path, sf_contacts=contacts(unique_id="Email")) == \
        "unique_id of a Salesforce source is Id, got 'Email'"


def test_an_updated_at_other_than_system_modstamp_is_refused_naming_it(tmp_path: Path) -> None:
    assert refusal(tmp_path, sf_contacts=contacts(updated_at="LastModifiedDate")) == \
        "updated_at of a Salesforce source is SystemModstamp, got 'LastModifiedDate'"


@pytest.mark.parametrize("setting", [
    {"path": "contacts.csv"}, {"url": "sqlite:///wh.db"}, {"url_env": "WAREHOUSE_URL"}, {"query": "SELECT 1"},
])
def test_csv_and_warehouse_settings_are_refused_on_a_salesforce_source(tmp_path: Path, setting: dict) -> None:
    assert refusal(tmp_path, sf_contacts=contacts(**setting)) == \
        "'path', 'url', 'url_env' and 'query' do not apply to salesforce sources"


def test_a_mapped_column_that_is_not_a_field_name_is_refused_naming_it(tmp_path: Path) -> None:
    fields = {"email": {"column": "Email FROM User", "type": "email"}}
    assert refusal(tmp_path, sf_contacts=contacts(fields=fields)) == \
        "column 'Email FROM User' is not a Salesforce field name (e.g. Email, LinkedIn__c, Account.Name)"


def test_a_related_field_path_is_a_valid_column(tmp_path: Path) -> None:
    fields = {"email": {"column": "Email", "type": "email"}, "company_name": {"column": "Account.Name"}}
    config = loaded(tmp_path, sf_contacts=contacts(fields=fields))
    assert config.sources["sf_contacts"].fields["company_name"].column == "Account.Name"


def test_a_company_account_column_that_is_not_a_field_name_is_refused(tmp_path: Path) -> None:
    company = {"account_id_column": "AccountId;", "account_source": "sf_accounts"}
    message = refusal(tmp_path, sf_contacts=contacts(company=company), sf_accounts=accounts())
    assert message.startswith("column 'AccountId;' is not a Salesforce field name")


def test_a_company_domain_column_that_is_not_a_field_name_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, sf_contacts=contacts(company={"domain_column": "Web site"}))
    assert message.startswith("column 'Web site' is not a Salesforce field name")


def test_a_lead_conversion_column_that_is_not_a_field_name_is_refused(tmp_path: Path) -> None:
    conversion = {"column": "Converted Contact", "contact_source": "sf_contacts"}
    message = refusal(tmp_path, sf_leads=contacts(object="Lead", lead_conversion=conversion),
                      sf_contacts=contacts())
    assert message.startswith("column 'Converted Contact' is not a Salesforce field name")


def test_an_empty_subset_is_refused_with_how_to_read_everything(tmp_path: Path) -> None:
    assert where_refusal(tmp_path, "") == "where: is empty; remove it to read every record"


def test_a_clause_word_in_the_subset_is_refused_naming_it(tmp_path: Path) -> None:
    assert where_refusal(tmp_path, "LeadSource = 'Web' order by Email") == \
        "where: 'order' is not allowed; write only a condition, e.g. LeadSource = 'Web'"


def test_a_system_column_in_the_subset_is_refused_in_any_case(tmp_path: Path) -> None:
    assert where_refusal(tmp_path, "isdeleted = false") == f"where: may not filter on isdeleted; {SYSTEM_COLUMNS_NOTE}"


@pytest.mark.parametrize("where", ["LeadSource = 'order'", "LeadSource = 'IsDeleted'"])
def test_clause_words_and_system_columns_inside_quotes_are_plain_values(tmp_path: Path, where: str) -> None:
    assert loaded(tmp_path, sf_contacts=contacts(where=where)).sources["sf_contacts"].where == where


@pytest.mark.parametrize("where", [
    "((LeadSource = 'Web'))",
    "(LeadSource = 'Web') OR (LeadSource = 'Event')",
    "(LeadSource = 'Web' OR (Title = 'VP' AND Department = 'Sales'))",
])
def test_a_subset_may_group_conditions_in_parentheses(tmp_path: Path, where: str) -> None:
    assert loaded(tmp_path, sf_contacts=contacts(where=where)).sources["sf_contacts"].where == where


@pytest.mark.parametrize("where", ["LeadSource = 'Web')", "LeadSource = 'Web') OR (Title = 'VP'"])
def test_a_closing_parenthesis_without_its_opening_one_is_refused(tmp_path: Path, where: str) -> None:
    assert where_refusal(tmp_path, where) == "where: has a ')' without its '('"


def test_an_unclosed_parenthesis_is_refused(tmp_path: Path) -> None:
    assert where_refusal(tmp_path, "((LeadSource = 'Web')") == "where: has an unclosed '('"


def test_a_subset_without_a_comparison_is_refused(tmp_path: Path) -> None:
    assert where_refusal(tmp_path, "Title AND Department") == \
        "where: is not a condition (no comparison such as =, !=, <, IN or LIKE)"


@pytest.mark.parametrize("where", [
    "LeadSource in ('Web', 'Event')", "Title LIKE '%VP%'", "Interests__c includes ('AI')",
    "Interests__c EXCLUDES ('AI')",
])
def test_set_and_pattern_operators_count_as_comparisons(tmp_path: Path, where: str) -> None:
    assert loaded(tmp_path, sf_contacts=contacts(where=where)).sources["sf_contacts"].where == where


def test_an_unreadable_part_of_the_subset_is_shown_with_its_position(tmp_path: Path) -> None:
    assert where_refusal(tmp_path, "LeadSource = 'Web'; DELETE FROM Contact WHERE") == (
        "where: cannot read '; DELETE FROM Contac' at character 19; only a condition "
        "(fields, comparisons, quoted strings, AND/OR/NOT, parentheses) is allowed")


def test_an_unreadable_part_after_spaces_is_shown_with_its_position(tmp_path: Path) -> None:
    assert where_refusal(tmp_path, "  Title = :title").startswith("where: cannot read ':title' at character 11;")


def test_a_bad_mapped_column_is_refused_on_a_source_that_links_its_company(tmp_path: Path) -> None:
    fields = {"email": {"column": "Email FROM User", "type": "email"}}
    message = refusal(tmp_path, sf_contacts=contacts(fields=fields, company={"domain_column": "Website"}))
    assert message.startswith("column 'Email FROM User' is not a Salesforce field name")
