"""Salesforce connections and sources in audiences.yaml: every mistake names the file, the path and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from audiences_dagster.config import ConfigError, load_config
from audiences_dagster_tests.sources.salesforce_org import CONNECTION, contacts, leads

HUBSPOT = {"kind": "hubspot", "access_token_env": "HUBSPOT_TOKEN"}


def _load(tmp_path: Path, sources: dict, connections: dict | None = None):
    document = {"store": {"url": "sqlite:///store.db"}, "connections": connections or {"org": CONNECTION},
                "sources": sources}
    path = tmp_path / "audiences.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return load_config(path)


def _error(tmp_path: Path, sources: dict, connections: dict | None = None) -> str:
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, sources, connections)
    return str(error.value)


def test_a_salesforce_source_loads_with_its_defaults(tmp_path: Path) -> None:
    config = _load(tmp_path, {"sf_contacts": contacts(), "sf_leads": leads()})
    assert config.sources["sf_contacts"].updated_at == "SystemModstamp"
    assert config.sources["sf_contacts"].effective_tier.value == "salesforce"
    assert config.sources["sf_leads"].effective_tier.value == "salesforce_lead"
    assert config.connections["org"].daily_request_limit == 100_000


def test_unknown_connection_is_named(tmp_path: Path) -> None:
    message = _error(tmp_path, {"sf_contacts": contacts(connection="prod")})
    assert "audiences.yaml" in message and "sources.sf_contacts.connection: 'prod' is not a connection" in message


def test_connection_of_another_crm_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, {"sf_contacts": contacts()}, {"org": HUBSPOT})
    assert "'org' is a hubspot connection; a salesforce source needs a salesforce connection" in message


def test_object_must_be_contact_lead_or_account(tmp_path: Path) -> None:
    message = _error(tmp_path, {"sf_contacts": contacts(object="Opportunity")})
    assert "sources.sf_contacts" in message and "object must be one of Contact, Lead, Account" in message


def test_object_must_hold_the_sources_entity(tmp_path: Path) -> None:
    assert "object Contact holds people, not companies" in _error(
        tmp_path, {"sf_contacts": contacts(entity="companies", fields={"name": {"column": "LastName"}})})


def test_unique_id_must_be_the_salesforce_id(tmp_path: Path) -> None:
    assert "unique_id of a Salesforce source is Id" in _error(tmp_path, {"sf_contacts": contacts(unique_id="Email")})


def test_column_must_be_a_field_name(tmp_path: Path) -> None:
    fields = {"email": {"column": "Email FROM User --", "type": "email"}}
    assert "is not a Salesforce field name" in _error(tmp_path, {"sf_contacts": contacts(fields=fields)})


def test_client_credentials_need_a_secret_variable(tmp_path: Path) -> None:
    connection = {k: v for k, v in CONNECTION.items() if k != "client_secret_env"}
    message = _error(tmp_path, {"sf_contacts": contacts()}, {"org": connection})
    assert "connections.org" in message and "client_credentials needs 'client_secret_env'" in message


def test_jwt_bearer_needs_user_and_key_variables(tmp_path: Path) -> None:
    connection = {**CONNECTION, "auth": "jwt_bearer"}
    assert "jwt_bearer needs 'username_env' and 'private_key_path_env'" in _error(
        tmp_path, {"sf_contacts": contacts()}, {"org": connection})


def test_a_secret_pasted_where_a_variable_name_goes_is_refused(tmp_path: Path) -> None:
    connection = {**CONNECTION, "client_secret_env": "8fJ2-kq!x9"}
    message = _error(tmp_path, {"sf_contacts": contacts()}, {"org": connection})
    assert "connections.org" in message and "client_secret_env: is not an environment variable name" in message
    assert "8fJ2-kq!x9" not in message


def test_token_url_must_be_https(tmp_path: Path) -> None:
    connection = {**{k: v for k, v in CONNECTION.items() if k != "token_url_env"},
                  "token_url": "http://login.salesforce.com/services/oauth2/token"}
    assert "token_url must be an https:// URL" in _error(tmp_path, {"sf_contacts": contacts()}, {"org": connection})


@pytest.mark.parametrize("where", [
    "LeadSource = 'Web'",
    "(LeadSource IN ('Web', 'Event') OR Title LIKE '%VP%') AND CreatedDate > 2024-01-01T00:00:00Z",
    "Account.Industry != null AND NOT Email = 'it\\'s'",
])
def test_subset_accepts_a_condition(tmp_path: Path, where: str) -> None:
    assert _load(tmp_path, {"sf_contacts": contacts(where=where)}).sources["sf_contacts"].where == where


@pytest.mark.parametrize("where, problem", [
    ("IsDeleted = false", "may not filter on IsDeleted"),
    ("SystemModstamp > 2024-01-01T00:00:00Z", "may not filter on SystemModstamp"),
    ("Id != null", "may not filter on Id"),
    ("LeadSource = 'Web' ORDER BY Email", "'ORDER' is not allowed"),
    ("LeadSource = 'Web' LIMIT 10", "'LIMIT' is not allowed"),
    ("WHERE LeadSource = 'Web'", "'WHERE' is not allowed"),
    ("Id IN (SELECT ContactId FROM Task)", "may not filter on Id"),
    ("LeadSource = 'Web'; DELETE", "cannot read"),
    ("LeadSource = :source", "cannot read"),
    ("(LeadSource = 'Web'", "unclosed '('"),
    ("LeadSource = 'Web", "cannot read"),
    ("Title", "is not a condition"),
    ("  ", "is empty"),
])
def test_subset_refuses_anything_but_a_safe_condition(tmp_path: Path, where: str, problem: str) -> None:
    message = _error(tmp_path, {"sf_contacts": contacts(where=where)})
    assert "sources.sf_contacts" in message and problem in message


def test_subset_belongs_to_salesforce_sources(tmp_path: Path) -> None:
    csv = {"kind": "csv", "path": "x.csv", "entity": "people", "unique_id": "id",
           "fields": {"email": {"column": "email", "type": "email"}}, "where": "a = 1"}
    assert "'where' belongs to salesforce sources" in _error(tmp_path, {"people_csv": csv})
