"""A HubSpot source in audiences.yaml: a named connection of kind hubspot, an object matching
the entity, HubSpot's record id as the unique id; mistakes are ConfigErrors naming the path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from audiences_dagster.config import ConfigError, load_config
from audiences_dagster.config.models import Tier
from audiences_dagster_tests.sources.hubspot_world import TOKEN_ENV, hubspot_sources

CONNECTIONS = {"hubspot": {"kind": "hubspot", "access_token_env": TOKEN_ENV}}


def _load(tmp_path: Path, sources: dict, connections: dict = CONNECTIONS):
    path = tmp_path / "audiences.yaml"
    document = {"store": {"url": "sqlite:///store.db"}, "connections": connections, "sources": sources}
    path.write_text(yaml.safe_dump(document))
    return path, load_config(path)


def _error(tmp_path: Path, sources: dict, connections: dict = CONNECTIONS) -> tuple[Path, str]:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, sources, connections)
    return tmp_path / "audiences.yaml", str(caught.value)


def test_hubspot_sources_read_their_modified_date_and_rank_as_hubspot(tmp_path: Path) -> None:
    _, config = _load(tmp_path, hubspot_sources())
    contacts, companies = config.sources["hubspot_contacts"], config.sources["hubspot_companies"]
    assert (contacts.updated_at, companies.updated_at) == ("lastmodifieddate", "hs_lastmodifieddate")
    assert contacts.effective_tier is Tier.hubspot
    assert config.connections["hubspot"].base_url == "https://api.hubapi.com"


def test_unknown_connection_is_a_config_error(tmp_path: Path) -> None:
    sources = hubspot_sources()
    sources["hubspot_contacts"]["connection"] = "hubspot_eu"
    path, message = _error(tmp_path, sources)
    assert f"{path}: sources.hubspot_contacts.connection: 'hubspot_eu' is not a connection under connections" in message


def test_connection_of_an_unknown_kind_is_a_config_error(tmp_path: Path) -> None:
    path, message = _error(tmp_path, hubspot_sources(), {"hubspot": {"kind": "pipedrive", "access_token_env": "X"}})
    assert f"{path}: connections.hubspot" in message and "'pipedrive'" in message


def test_object_must_match_the_entity(tmp_path: Path) -> None:
    sources = hubspot_sources()
    sources["hubspot_companies"]["object"] = "contacts"
    path, message = _error(tmp_path, sources)
    assert f"{path}: sources.hubspot_companies: HubSpot contacts hold people, not companies" in message


def test_unique_id_must_be_the_hubspot_record_id(tmp_path: Path) -> None:
    sources = hubspot_sources()
    sources["hubspot_contacts"]["unique_id"] = "email"
    path, message = _error(tmp_path, sources)
    assert "a hubspot source's unique_id is the record id" in message


def test_source_naming_a_salesforce_connection_is_a_config_error(tmp_path: Path) -> None:
    connections = {**CONNECTIONS, "salesforce": {"kind": "salesforce", "client_id_env": "SF_CLIENT_ID",
                                                  "client_secret_env": "SF_SECRET",
                                                  "token_url": "https://login.salesforce.com/services/oauth2/token"}}
    sources = hubspot_sources()
    sources["hubspot_contacts"]["connection"] = "salesforce"
    path, message = _error(tmp_path, sources, connections)
    assert (f"{path}: sources.hubspot_contacts.connection: 'salesforce' is a salesforce connection; "
            "a hubspot source needs a hubspot connection") in message


def test_access_token_is_not_a_config_key(tmp_path: Path) -> None:
    connections = {"hubspot": {"kind": "hubspot", "access_token_env": TOKEN_ENV, "access_token": "pat-secret"}}
    path, message = _error(tmp_path, hubspot_sources(), connections)
    assert f"{path}: connections.hubspot.hubspot.access_token: unknown key" in message


def test_token_pasted_as_the_variable_name_is_refused_without_repeating_it(tmp_path: Path) -> None:
    connections = {"hubspot": {"kind": "hubspot", "access_token_env": "pat-na1-1234-abcd"}}
    path, message = _error(tmp_path, hubspot_sources(), connections)
    assert f"{path}: connections.hubspot.hubspot.access_token_env: must be the name of an environment" in message
    assert "pat-na1-1234-abcd" not in message


def test_base_url_can_come_from_an_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    connections = {"hubspot": {**CONNECTIONS["hubspot"], "base_url_env": "AUDIENCES_TEST_HUBSPOT_URL"}}
    monkeypatch.setenv("AUDIENCES_TEST_HUBSPOT_URL", "http://127.0.0.1:8123")
    _, config = _load(tmp_path, hubspot_sources(), connections)
    assert config.connections["hubspot"].api_url() == "http://127.0.0.1:8123"


def test_an_unset_base_url_variable_is_named_when_the_api_is_reached(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch):
    connections = {"hubspot": {**CONNECTIONS["hubspot"], "base_url_env": "AUDIENCES_TEST_HUBSPOT_URL"}}
    monkeypatch.delenv("AUDIENCES_TEST_HUBSPOT_URL", raising=False)
    _, config = _load(tmp_path, hubspot_sources(), connections)
    with pytest.raises(EnvironmentError, match="AUDIENCES_TEST_HUBSPOT_URL is not set"):
        config.connections["hubspot"].api_url()
