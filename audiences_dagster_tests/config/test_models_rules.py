"""What a loaded audiences.yaml tells the rest of the program (fields, sources and tier ranks per entity,
URLs and paths resolved against the file's folder), and the precise errors for HubSpot sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiences_dagster.config import AudiencesConfig, ConfigError, Tier, load_config
from audiences_dagster_tests.config.documents import base, crm_source, write_config

HUBSPOT_CONNECTION = {"kind": "hubspot", "access_token_env": "AUDIENCES_TEST_HUBSPOT_TOKEN"}


def loaded(tmp_path: Path, document: dict) -> AudiencesConfig:
    return load_config(write_config(tmp_path, document))


def config_error(tmp_path: Path, document: dict) -> tuple[Path, str]:
    path = write_config(tmp_path, document)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return path, str(caught.value)


def companies_source(**overrides: object) -> dict:
    source = {"kind": "csv", "entity": "companies", "path": "companies.csv", "unique_id": "id",
              "fields": {"domain": {"column": "domain"}, "name": {"column": "name"}}}
    return {**source, **overrides}


def sql_source(**overrides: object) -> dict:
    source = {"kind": "sql", "entity": "people", "query": "SELECT id, email FROM contacts", "unique_id": "id",
              "fields": {"email": {"column": "email", "type": "email"}}}
    return {**source, **overrides}


def hubspot_contacts(**overrides: object) -> dict:
    source = {"kind": "hubspot", "connection": "hubspot", "object": "contacts", "entity": "people",
              "unique_id": "id", "fields": {"email": {"column": "email", "type": "email"}}}
    return {**source, **overrides}


def with_hubspot(source: dict, connections: dict | None = None) -> dict:
    return base(connections={"hubspot": HUBSPOT_CONNECTION} if connections is None else connections,
                sources={"hubspot_contacts": source})


def test_fields_of_an_entity_come_only_from_its_own_sources(tmp_path: Path) -> None:
    config = loaded(tmp_path, base(sources={"crm": crm_source(), "accounts": companies_source()}))
    assert config.fields("companies") == {"domain": "text", "name": "text"}


def test_fields_of_people_include_sources_declared_after_a_companies_source(tmp_path: Path) -> None:
    config = loaded(tmp_path, base(sources={"accounts": companies_source(), "crm": crm_source()}))
    assert config.fields("people") == {"email": "email"}


def test_sources_of_an_entity_are_only_those_holding_it(tmp_path: Path) -> None:
    config = loaded(tmp_path, base(sources={"crm": crm_source(), "accounts": companies_source()}))
    assert list(config.sources_for("companies")) == ["accounts"]


def test_a_quarantine_limit_for_one_source_overrides_the_default_share(tmp_path: Path) -> None:
    config = loaded(tmp_path, base(checks={"quarantine": {"by_source": {"crm": 0.2}}}))
    assert config.checks.quarantine.limit("crm") == 0.2


def test_a_field_without_survivorship_override_ranks_by_its_tier(tmp_path: Path) -> None:
    config = loaded(tmp_path, base())
    assert config.tier_rank("people", "email", Tier.salesforce) == 50


def test_the_first_tier_of_a_survivorship_override_outranks_every_default(tmp_path: Path) -> None:
    config = loaded(tmp_path, base(survivorship={"people": {"email": ["csv", "salesforce"]}}))
    assert config.tier_rank("people", "email", Tier.csv) == 1000


def test_each_later_tier_of_a_survivorship_override_ranks_one_lower(tmp_path: Path) -> None:
    config = loaded(tmp_path, base(survivorship={"people": {"email": ["csv", "salesforce"]}}))
    assert config.tier_rank("people", "email", Tier.salesforce) == 999


def test_a_tier_listed_twice_in_an_override_ranks_by_its_first_place(tmp_path: Path) -> None:
    config = loaded(tmp_path, base(survivorship={"people": {"email": ["csv", "salesforce", "csv"]}}))
    assert config.tier_rank("people", "email", Tier.csv) == 1000


def test_a_tier_left_out_of_an_override_keeps_its_default_rank(tmp_path: Path) -> None:
    config = loaded(tmp_path, base(survivorship={"people": {"email": ["csv"]}}))
    assert config.tier_rank("people", "email", Tier.hubspot) == 50


def test_an_override_for_one_field_leaves_other_fields_at_default_ranks(tmp_path: Path) -> None:
    fields = {"email": {"column": "email", "type": "email"}, "title": {"column": "title"}}
    config = loaded(tmp_path, base(sources={"crm": crm_source(fields=fields)},
                                   survivorship={"people": {"email": ["salesforce"]}}))
    assert config.tier_rank("people", "title", Tier.salesforce) == 50


def test_an_override_for_people_leaves_companies_at_default_ranks(tmp_path: Path) -> None:
    config = loaded(tmp_path, base(sources={"crm": crm_source(), "accounts": companies_source()},
                                   survivorship={"people": {"email": ["csv"]}}))
    assert config.tier_rank("companies", "email", Tier.csv) == 20


def test_a_relative_path_resolves_against_the_config_folder(tmp_path: Path) -> None:
    config = loaded(tmp_path, base())
    assert config.resolve_path("data/crm.csv") == tmp_path.resolve() / "data" / "crm.csv"


def test_an_absolute_path_is_used_as_written(tmp_path: Path) -> None:
    config = loaded(tmp_path, base())
    assert config.resolve_path("/srv/exports/crm.csv") == Path("/srv/exports/crm.csv")


def test_a_relative_sqlite_store_resolves_against_the_config_folder(tmp_path: Path) -> None:
    config = loaded(tmp_path, base(store={"url": "sqlite:///data/store.db"}))
    assert config.store_url() == f"sqlite:///{(tmp_path / 'data' / 'store.db').resolve()}"


def test_a_relative_sqlite_store_from_the_environment_resolves_against_the_config_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIENCES_TEST_STORE_URL", "sqlite:///store.db")
    config = loaded(tmp_path, base(store={"url_env": "AUDIENCES_TEST_STORE_URL"}))
    assert config.store_url() == f"sqlite:///{(tmp_path / 'store.db').resolve()}"


def test_an_absolute_sqlite_store_is_used_as_written(tmp_path: Path) -> None:
    config = loaded(tmp_path, base(store={"url": "sqlite:////srv/audiences/../audiences/store.db"}))
    assert config.store_url() == "sqlite:////srv/audiences/../audiences/store.db"


def test_an_in_memory_sqlite_store_is_kept_in_memory(tmp_path: Path) -> None:
    config = loaded(tmp_path, base(store={"url": "sqlite:///:memory:"}))
    assert config.store_url() == "sqlite:///:memory:"


def test_a_postgresql_store_url_is_used_as_written(tmp_path: Path) -> None:
    config = loaded(tmp_path, base(store={"url": "postgresql+psycopg2://app@db/audiences"}))
    assert config.store_url() == "postgresql+psycopg2://app@db/audiences"


def test_a_warehouse_url_written_in_the_file_is_used_as_written(tmp_path: Path) -> None:
    config = loaded(tmp_path, base(sources={"wh": sql_source(url="postgresql://wh/analytics")}))
    assert config.sources["wh"].resolved_url() == "postgresql://wh/analytics"


def test_a_warehouse_url_is_read_from_the_named_environment_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIENCES_TEST_WAREHOUSE_URL", "postgresql://wh/analytics")
    config = loaded(tmp_path, base(sources={"wh": sql_source(url_env="AUDIENCES_TEST_WAREHOUSE_URL")}))
    assert config.sources["wh"].resolved_url() == "postgresql://wh/analytics"


def test_an_unset_warehouse_url_variable_is_named_when_the_warehouse_is_reached(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDIENCES_TEST_WAREHOUSE_URL", raising=False)
    config = loaded(tmp_path, base(sources={"wh": sql_source(url_env="AUDIENCES_TEST_WAREHOUSE_URL")}))
    with pytest.raises(EnvironmentError) as caught:
        config.sources["wh"].resolved_url()
    assert str(caught.value) == "environment variable AUDIENCES_TEST_WAREHOUSE_URL is not set (warehouse URL)"


def test_the_hubspot_token_is_read_from_the_named_environment_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIENCES_TEST_HUBSPOT_TOKEN", "pat-na1-test")
    config = loaded(tmp_path, with_hubspot(hubspot_contacts()))
    assert config.connections["hubspot"].access_token() == "pat-na1-test"


def test_an_unset_hubspot_token_variable_is_named_when_the_api_is_reached(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDIENCES_TEST_HUBSPOT_TOKEN", raising=False)
    config = loaded(tmp_path, with_hubspot(hubspot_contacts()))
    with pytest.raises(EnvironmentError) as caught:
        config.connections["hubspot"].access_token()
    assert str(caught.value) == ("environment variable AUDIENCES_TEST_HUBSPOT_TOKEN is not set "
                                 "(HubSpot access token)")


def test_a_hubspot_source_without_a_connection_is_refused_naming_its_path(tmp_path: Path) -> None:
    source = {k: v for k, v in hubspot_contacts().items() if k != "connection"}
    path, message = config_error(tmp_path, with_hubspot(source))
    assert message == (f"{path}: sources.hubspot_contacts: a hubspot source needs 'connection' "
                       "(a name under connections)")


def test_a_hubspot_source_of_an_unknown_object_is_told_the_objects_it_may_read(tmp_path: Path) -> None:
    path, message = config_error(tmp_path, with_hubspot(hubspot_contacts(object="deals")))
    assert message == (f"{path}: sources.hubspot_contacts: a hubspot source needs 'object': "
                       "one of contacts, companies")


def test_a_hubspot_source_may_key_on_hs_object_id(tmp_path: Path) -> None:
    config = loaded(tmp_path, with_hubspot(hubspot_contacts(unique_id="hs_object_id")))
    assert config.sources["hubspot_contacts"].unique_id == "hs_object_id"


def test_a_hubspot_source_with_another_unique_id_is_told_the_record_id(tmp_path: Path) -> None:
    path, message = config_error(tmp_path, with_hubspot(hubspot_contacts(unique_id="email")))
    assert message == (f"{path}: sources.hubspot_contacts: a hubspot source's unique_id is the record id: "
                       "'id' (or 'hs_object_id')")


@pytest.mark.parametrize("setting", [
    {"path": "contacts.csv"}, {"url": "sqlite:///wh.db"}, {"url_env": "WAREHOUSE_URL"}, {"query": "SELECT 1"},
])
def test_a_hubspot_source_refuses_csv_and_warehouse_settings(tmp_path: Path, setting: dict) -> None:
    path, message = config_error(tmp_path, with_hubspot(hubspot_contacts(**setting)))
    assert message == (f"{path}: sources.hubspot_contacts: 'path', 'url', 'url_env' and 'query' do not apply "
                       "to hubspot sources")


def test_a_crm_source_without_any_connection_declared_says_none_are(tmp_path: Path) -> None:
    path, message = config_error(tmp_path, with_hubspot(hubspot_contacts(), connections={}))
    assert message == (f"{path}: sources.hubspot_contacts.connection: 'hubspot' is not a connection under "
                       "connections (none declared)")


def test_a_crm_source_naming_an_unknown_connection_is_told_the_declared_ones(tmp_path: Path) -> None:
    connections = {"hubspot_eu": HUBSPOT_CONNECTION, "hubspot_us": HUBSPOT_CONNECTION}
    path, message = config_error(tmp_path, with_hubspot(hubspot_contacts(), connections=connections))
    assert message == (f"{path}: sources.hubspot_contacts.connection: 'hubspot' is not a connection under "
                       "connections (hubspot_eu, hubspot_us)")
