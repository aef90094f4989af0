"""How one batch of raw rows becomes imported values, identity keys and quarantine entries:
typed and normalized by field, at most one reason per quarantined row, and the detail a user
reads naming the column and the value. Pure: no store, no file."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from audiences_dagster.config.models import AudiencesConfig
from audiences_dagster.sources.base import SourceError, require_columns
from audiences_dagster.sources.mapping import MappedBatch, map_batch
from audiences_dagster_tests.support import clock_away_from_utc

HUBSPOT = {"hub": {"kind": "hubspot", "access_token_env": "HUBSPOT_TOKEN"}}
SALESFORCE = {"org": {"kind": "salesforce", "token_url": "https://login.salesforce.com/services/oauth2/token",
                      "client_id_env": "SF_CLIENT_ID", "client_secret_env": "SF_CLIENT_SECRET"}}


def people(**settings) -> dict:
    """A people CSV source: id, email, first name, and whatever `settings` add or replace."""
    fields = {"email": {"column": "email", "type": "email"}, "first_name": {"column": "first_name"}}
    return {"kind": "csv", "entity": "people", "path": "people.csv", "unique_id": "id",
            "fields": fields | settings.pop("fields", {}), **settings}


def companies(**settings) -> dict:
    return {"kind": "csv", "entity": "companies", "path": "companies.csv", "unique_id": "id",
            "fields": {"name": {"column": "name"}}, **settings}


def configure(sources: dict | None = None, **settings) -> AudiencesConfig:
    return AudiencesConfig.model_validate({"store": {"url": "sqlite://"}, "sources": sources or {"crm": people()},
                                           **settings})


def mapped(rows: list[dict], config: AudiencesConfig | None = None, source: str = "crm",
           first_line: int = 2) -> MappedBatch:
    """One batch of raw string rows (as a reader hands them over), numbered from `first_line`."""
    raw = pd.DataFrame(rows, dtype="string")
    return map_batch(raw, pd.Series(range(first_line, first_line + len(rows))), source, config or configure())


def person(pid: str | None, **values) -> dict:
    return {"id": pid, "email": f"{pid}@acme.com", "first_name": "Ann", **values}


def imported(batch: MappedBatch, column: str) -> dict:
    return dict(zip(batch.rows["source_id"], batch.rows[column]))


def keys_of(batch: MappedBatch) -> set[tuple[str, str, str]]:
    return set(batch.keys.itertuples(index=False, name=None))


def reasons(batch: MappedBatch) -> list[tuple[int, str, str, str | None]]:
    return [(q["row_number"], q["scope"], q["reason"], q["field"]) for q in batch.quarantine]


# The columns a source must provide --------------------------------------------------------------

def missing_columns_message(source: dict, available: list[str], sources: dict | None = None) -> str:
    config = configure({"crm": source, **(sources or {})})
    with pytest.raises(SourceError) as raised:
        require_columns("crm", config.sources["crm"], available, "people.csv")
    return str(raised.value)


def test_missing_updated_at_column_is_named_before_anything_is_read() -> None:
    message = missing_columns_message(people(updated_at="modified"), ["id", "email", "first_name"])
    assert message == ("sources.crm: people.csv has no column(s) 'modified'; "
                       "it has 'id', 'email', 'first_name'")


def test_missing_company_link_columns_are_named_in_mapping_order() -> None:
    source = people(company={"account_id_column": "account", "account_source": "accounts",
                             "domain_column": "website"})
    message = missing_columns_message(source, ["id", "email", "first_name"], {"accounts": companies()})
    assert message.startswith("sources.crm: people.csv has no column(s) 'account', 'website';")


def test_a_company_link_by_domain_alone_asks_for_the_domain_column_only() -> None:
    message = missing_columns_message(people(company={"domain_column": "website"}), ["id", "email", "first_name"])
    assert message.startswith("sources.crm: people.csv has no column(s) 'website';")


def test_missing_lead_conversion_column_is_named() -> None:
    source = people(lead_conversion={"column": "converted", "contact_source": "contacts"})
    message = missing_columns_message(source, ["id", "email", "first_name"], {"contacts": people()})
    assert message.startswith("sources.crm: people.csv has no column(s) 'converted';")


def test_a_hubspot_source_must_provide_the_merged_ids_column() -> None:
    source = {"kind": "hubspot", "entity": "people", "object": "contacts", "connection": "hub", "unique_id": "id",
              "fields": {"email": {"column": "email", "type": "email"}}}
    config = configure({"crm": source}, connections=HUBSPOT)
    with pytest.raises(SourceError, match=r"has no column\(s\) 'hs_merged_object_ids';"):
        require_columns("crm", config.sources["crm"], ["id", "email", "lastmodifieddate"], "HubSpot contacts")


def test_a_column_mapped_twice_is_named_once_when_missing() -> None:
    source = people(fields={"work_email": {"column": "email", "type": "email"}})
    message = missing_columns_message(source, ["id", "first_name"])
    assert message.startswith("sources.crm: people.csv has no column(s) 'email';")


def test_a_source_providing_every_column_passes_the_check() -> None:
    source = people(updated_at="modified", company={"domain_column": "website"})
    config = configure({"crm": source})
    require_columns("crm", config.sources["crm"], ["id", "email", "first_name", "modified", "website"], "people.csv")


# Rows quarantined, each with one reason ----------------------------------------------------------

def test_value_longer_than_the_text_limit_quarantines_the_row_naming_its_length() -> None:
    batch = mapped([person("p1", first_name="A" * 17)], configure(max_text_length=16))
    [entry] = batch.quarantine
    assert (entry["row_number"], entry["scope"], entry["reason"], entry["field"], entry["source_id"]) == \
        (2, "row", "value_too_long", "first_name", "p1")
    assert entry["detail"] == "column 'first_name' holds 17 characters"
    assert batch.rows.empty


def test_value_exactly_at_the_text_limit_is_imported() -> None:
    batch = mapped([person("p1", first_name="A" * 16)], configure(max_text_length=16))
    assert imported(batch, "first_name") == {"p1": "A" * 16}
    assert batch.quarantine == []


def test_an_overlong_unique_id_quarantines_the_row() -> None:
    batch = mapped([person("p" * 17, email="")], configure(max_text_length=16))
    assert reasons(batch) == [(2, "row", "value_too_long", "id")]


def test_row_without_a_unique_id_is_quarantined_naming_the_id_column() -> None:
    batch = mapped([person("p1"), person(None)])
    [entry] = batch.quarantine
    assert (entry["row_number"], entry["reason"], entry["field"], entry["source_id"]) == \
        (3, "missing_unique_id", "id", None)
    assert entry["detail"] == "unique id column 'id' is empty"
    assert list(batch.rows["source_id"]) == ["p1"]


def test_row_whose_unique_id_is_only_spaces_is_quarantined_as_missing_it() -> None:
    batch = mapped([person("   ")])
    assert reasons(batch) == [(2, "row", "missing_unique_id", "id")]


def test_unique_id_is_imported_without_surrounding_spaces() -> None:
    batch = mapped([person(" p1 ")])
    assert list(batch.rows["source_id"]) == ["p1"]


def test_unparsable_value_quarantines_the_row_naming_its_column_and_value() -> None:
    config = configure({"crm": people(fields={"birthday": {"column": "born", "type": "date"}})})
    batch = mapped([person("p1", born="2020-01-31"), person("p2", born="not a date")], config)
    [entry] = batch.quarantine
    assert (entry["row_number"], entry["scope"], entry["reason"], entry["field"], entry["source_id"]) == \
        (3, "row", "unparsable_date", "born", "p2")
    assert entry["detail"] == "column 'born' value 'not a date': unparsable date"
    assert list(batch.rows["source_id"]) == ["p1"]


def test_quarantine_entries_carry_the_line_numbers_the_reader_gave() -> None:
    config = configure({"crm": people(fields={"score": {"column": "score", "type": "number"}})})
    batch = mapped([person("p1", score="1"), person("p2", score="one")], config, first_line=40)
    assert [q["row_number"] for q in batch.quarantine] == [41]


def test_row_with_several_problems_is_quarantined_once_for_the_first() -> None:
    fields = {"born": {"column": "born", "type": "date"}, "score": {"column": "score", "type": "number"}}
    batch = mapped([person("p1", born="never", score="one"), person("p2", born="A" * 20, score="one")],
                   configure({"crm": people(fields=fields)}, max_text_length=16))
    assert reasons(batch) == [(3, "row", "value_too_long", "born"), (2, "row", "unparsable_date", "born")]


def test_rows_with_different_problems_in_one_column_are_each_quarantined() -> None:
    fields = {"active": {"column": "active", "type": "boolean"}}
    batch = mapped([person("p1", active="maybe"), person("p2", active="perhaps"), person("p3", active="yes")],
                   configure({"crm": people(fields=fields)}))
    assert reasons(batch) == [(2, "row", "unparsable_boolean", "active"), (3, "row", "unparsable_boolean", "active")]
    assert imported(batch, "active") == {"p3": True}


def test_row_with_a_repeated_id_is_quarantined_with_the_reason() -> None:
    batch = mapped([person("p1", first_name="Ann"), person(" p1", first_name="Annie")])
    [entry] = batch.quarantine
    assert (entry["row_number"], entry["scope"], entry["reason"], entry["field"], entry["source_id"]) == \
        (2, "row", "duplicate_unique_id", "id", "p1")
    assert entry["detail"] == "column 'id' value 'p1': duplicate unique id"
    assert imported(batch, "first_name") == {"p1": "Annie"}


def test_malformed_later_row_with_the_same_id_leaves_the_earlier_row_imported() -> None:
    batch = mapped([person("p1", first_name="Ann"), person("p1", first_name="A" * 20)], configure(max_text_length=16))
    assert reasons(batch) == [(3, "row", "value_too_long", "first_name")]
    assert imported(batch, "first_name") == {"p1": "Ann"}


def test_invalid_contact_value_is_dropped_and_its_row_kept() -> None:
    batch = mapped([person("p1", email="ann-at-acme")])
    [entry] = batch.quarantine
    assert (entry["scope"], entry["reason"], entry["field"], entry["source_id"]) == \
        ("value", "invalid_email", "email", "p1")
    assert entry["detail"] == "column 'email' value 'ann-at-acme': invalid email"
    assert pd.isna(imported(batch, "email")["p1"])
    assert imported(batch, "first_name") == {"p1": "Ann"}


def test_invalid_value_of_a_quarantined_row_is_not_reported_again() -> None:
    fields = {"born": {"column": "born", "type": "date"}}
    batch = mapped([person("p1", email="bad", born="never"), person("p2", email="bad", born="2020-01-01")],
                   configure({"crm": people(fields=fields)}))
    assert reasons(batch) == [(2, "row", "unparsable_date", "born"), (3, "value", "invalid_email", "email")]


def test_invalid_value_of_a_repeated_row_is_not_reported_again() -> None:
    batch = mapped([person("p1", email="bad"), person("p1")])
    assert reasons(batch) == [(2, "row", "duplicate_unique_id", "id")]


def test_quarantined_row_keeps_its_raw_values_with_missing_ones_as_null() -> None:
    fields = {"born": {"column": "born", "type": "date"}}
    batch = mapped([{"id": "p1", "email": None, "first_name": "Ann", "born": "never"}],
                   configure({"crm": people(fields=fields)}))
    [entry] = batch.quarantine
    assert json.loads(entry["raw"]) == {"id": "p1", "email": None, "first_name": "Ann", "born": "never"}


def test_quarantine_time_is_now_in_utc_without_a_zone() -> None:
    with clock_away_from_utc():
        batch = mapped([person(None)])
    [entry] = batch.quarantine
    assert entry["quarantined_at"].tzinfo is None
    assert abs(entry["quarantined_at"] - datetime.now(timezone.utc).replace(tzinfo=None)) < timedelta(minutes=1)


def test_long_value_is_shortened_in_the_detail() -> None:
    fields = {"born": {"column": "born", "type": "date"}}
    batch = mapped([person("p1", born="x" * 81)], configure({"crm": people(fields=fields)}))
    [entry] = batch.quarantine
    assert entry["detail"] == f"column 'born' value {'x' * 77 + '...'!r}: unparsable date"


def test_value_of_eighty_characters_is_shown_whole_in_the_detail() -> None:
    fields = {"born": {"column": "born", "type": "date"}}
    batch = mapped([person("p1", born="x" * 80)], configure({"crm": people(fields=fields)}))
    [entry] = batch.quarantine
    assert entry["detail"] == f"column 'born' value {'x' * 80!r}: unparsable date"


# Values typed and normalized by field ------------------------------------------------------------

@pytest.mark.parametrize(("kind", "raw", "value"), [
    ("email", " MAILTO:Ann@Acme.COM ", "ann@acme.com"),
    ("url", "Acme.com/about/", "https://acme.com/about"),
    ("phone", "(415) 555-0132", "+14155550132"),
    ("number", "$1,234.5", 1234.5),
    ("date", "2020-01-31T10:00:00+02:00", pd.Timestamp("2020-01-31 08:00:00")),
    ("boolean", "Y", True),
    ("text", "  Ann  ", "Ann"),
], ids=["email", "url", "phone", "number", "date", "boolean", "text"])
def test_each_field_type_imports_its_normalized_value(kind: str, raw: str, value) -> None:
    config = configure({"crm": people(fields={"extra": {"column": "extra", "type": kind}})})
    batch = mapped([person("p1", extra=raw)], config)
    assert imported(batch, "extra") == {"p1": value}
    assert batch.quarantine == []


def test_phone_numbers_without_a_country_code_take_the_configured_region() -> None:
    config = configure({"crm": people(fields={"phone": {"column": "phone", "type": "phone"}})},
                       identity={"default_phone_region": "GB"})
    batch = mapped([person("p1", phone="020 7946 0958")], config)
    assert imported(batch, "phone") == {"p1": "+442079460958"}


def test_configured_placeholder_is_imported_as_missing_whatever_its_case() -> None:
    config = configure(identity={"extra_placeholders": ["TBC"]})
    batch = mapped([person("p1", first_name="tbc"), person("p2", first_name="Tbc Ltd")], config)
    names = imported(batch, "first_name")
    assert pd.isna(names["p1"]) and names["p2"] == "Tbc Ltd"


def test_field_holding_the_linkedin_key_is_imported_in_canonical_form() -> None:
    source = people(fields={"profile": {"column": "profile"}}, keys={"linkedin_url": "profile", "email": "email"})
    batch = mapped([person("p1", profile="http://uk.linkedin.com/in/Ann-Lee/?trk=x")], configure({"crm": source}))
    assert imported(batch, "profile") == {"p1": "https://www.linkedin.com/in/ann-lee"}


def test_field_holding_the_domain_key_is_imported_as_the_registered_domain() -> None:
    source = companies(fields={"name": {"column": "name"}, "website": {"column": "website", "type": "url"}},
                       keys={"domain": "website"})
    batch = mapped([{"id": "c1", "name": "Acme", "website": "https://www.shop.acme.co.uk/about"}],
                   configure({"accounts": source}), source="accounts")
    assert imported(batch, "website") == {"c1": "acme.co.uk"}
    assert keys_of(batch) == {("c1", "domain", "acme.co.uk")}


def test_updated_at_column_is_imported_as_the_source_update_time() -> None:
    batch = mapped([person("p1", modified="2024-03-01T09:30:00Z")], configure({"crm": people(updated_at="modified")}))
    assert imported(batch, "source_updated_at") == {"p1": pd.Timestamp("2024-03-01 09:30:00")}


def test_without_an_updated_at_column_the_source_update_time_is_missing() -> None:
    batch = mapped([person("p1")])
    assert pd.isna(imported(batch, "source_updated_at")["p1"])


# Links from people to companies and to converted leads ------------------------------------------

def linked(**company) -> AudiencesConfig:
    return configure({"crm": people(company=company), "accounts": companies()})


def test_person_row_names_its_company_account_in_the_companies_source() -> None:
    batch = mapped([person("p1", account=" 001A "), person("p2", account="n/a")],
                   linked(account_id_column="account", account_source="accounts"))
    assert imported(batch, "company_account_id") == {"p1": "001A", "p2": pd.NA}
    assert imported(batch, "company_account_source") == {"p1": "accounts", "p2": "accounts"}


def test_person_row_without_an_account_link_names_no_companies_source() -> None:
    batch = mapped([person("p1", website="acme.com")], linked(domain_column="website"))
    assert pd.isna(imported(batch, "company_account_id")["p1"])
    assert imported(batch, "company_account_source") == {"p1": None}


def test_person_row_names_its_company_by_the_registered_domain_of_its_website() -> None:
    batch = mapped([person("p1", website="https://www.Acme.com/about")], linked(domain_column="website"))
    assert imported(batch, "company_domain") == {"p1": "acme.com"}


def test_without_a_company_link_a_person_has_no_company_domain() -> None:
    batch = mapped([person("p1")])
    assert pd.isna(imported(batch, "company_domain")["p1"])


def test_work_email_names_the_company_when_linking_by_email_domain() -> None:
    config = configure(identity={"link_people_by_email_domain": True})
    batch = mapped([person("p1", email="ann@mail.acme.com"), person("p2", email="bob@gmail.com")], config)
    assert imported(batch, "company_domain") == {"p1": "acme.com", "p2": pd.NA}


def test_email_domain_does_not_name_the_company_unless_configured() -> None:
    batch = mapped([person("p1", email="ann@acme.com")])
    assert pd.isna(imported(batch, "company_domain")["p1"])


def test_a_website_column_wins_over_the_email_domain() -> None:
    config = configure({"crm": people(company={"domain_column": "website"})},
                       identity={"link_people_by_email_domain": True})
    batch = mapped([person("p1", email="ann@acme.com", website="globex.com"), person("p2", website="")], config)
    assert imported(batch, "company_domain") == {"p1": "globex.com", "p2": "acme.com"}


def conversion() -> AudiencesConfig:
    return configure({"leads": people(lead_conversion={"column": "converted", "contact_source": "contacts"}),
                      "contacts": people()})


def test_converted_lead_row_records_its_contact_and_a_link_to_it() -> None:
    batch = mapped([person("00Q1", converted=" 003A "), person("00Q2", converted="")], conversion(), source="leads")
    assert imported(batch, "converted_to") == {"00Q1": "003A", "00Q2": pd.NA}
    assert ("00Q1", "lead_conversion", "contacts:003A") in keys_of(batch)
    assert not any(source_id == "00Q2" and kind == "lead_conversion" for source_id, kind, _ in keys_of(batch))


def test_contact_row_carries_the_link_converted_leads_point_at() -> None:
    batch = mapped([person("003A")], conversion(), source="contacts")
    assert keys_of(batch) == {("003A", "email", "003a@acme.com"), ("003A", "lead_conversion", "contacts:003A")}


def test_a_people_source_no_lead_converts_into_has_no_conversion_links() -> None:
    batch = mapped([person("p1")])
    assert keys_of(batch) == {("p1", "email", "p1@acme.com")}


# Identity keys -----------------------------------------------------------------------------------

def test_role_mailbox_links_no_records_by_default() -> None:
    batch = mapped([person("p1", email="info@acme.com"), person("p2", email="ann@acme.com")])
    assert keys_of(batch) == {("p2", "email", "ann@acme.com")}
    assert imported(batch, "email") == {"p1": "info@acme.com", "p2": "ann@acme.com"}


def test_role_mailbox_links_records_when_configured_to() -> None:
    batch = mapped([person("p1", email="info@acme.com")], configure(identity={"role_mailboxes_are_junk": False}))
    assert keys_of(batch) == {("p1", "email", "info@acme.com")}


def test_row_without_any_key_value_has_no_identity_keys() -> None:
    batch = mapped([person("p1", email="")])
    assert keys_of(batch) == set()
    assert list(batch.rows["source_id"]) == ["p1"]


def test_source_mapping_no_key_field_imports_rows_without_keys() -> None:
    source = people()
    source["fields"] = {"first_name": {"column": "first_name"}}
    batch = mapped([{"id": "p1", "first_name": "Ann"}], configure({"crm": source}))
    assert (batch.keys.empty, list(batch.keys.columns)) == (True, ["source_id", "key_type", "key_value"])
    assert imported(batch, "first_name") == {"p1": "Ann"}


def hubspot_contacts(rows: list[dict]) -> MappedBatch:
    source = {"kind": "hubspot", "entity": "people", "object": "contacts", "connection": "hub", "unique_id": "id",
              "fields": {"email": {"column": "email", "type": "email"}}}
    config = configure({"hub_contacts": source}, connections=HUBSPOT)
    return mapped([{"lastmodifieddate": None, **row} for row in rows], config, source="hub_contacts")


def test_hubspot_record_links_every_contact_merged_into_it() -> None:
    batch = hubspot_contacts([{"id": "100", "email": "", "hs_merged_object_ids": " 101 ; 102;;"}])
    assert keys_of(batch) == {("100", "crm_merge", "hub_contacts:100"), ("100", "crm_merge", "hub_contacts:101"),
                              ("100", "crm_merge", "hub_contacts:102")}


def test_hubspot_record_without_merges_links_only_its_own_id() -> None:
    batch = hubspot_contacts([{"id": "100", "email": "", "hs_merged_object_ids": None},
                              {"id": "200", "email": "", "hs_merged_object_ids": "200"}])
    assert sorted(batch.keys.itertuples(index=False, name=None)) == [
        ("100", "crm_merge", "hub_contacts:100"), ("200", "crm_merge", "hub_contacts:200")]


def test_salesforce_record_merged_away_links_to_its_master_record() -> None:
    source = {"kind": "salesforce", "entity": "people", "object": "Contact", "connection": "org", "unique_id": "Id",
              "fields": {"email": {"column": "Email", "type": "email"}}}
    config = configure({"sf_contacts": source}, connections=SALESFORCE)
    batch = mapped([{"Id": "003B", "Email": "", "SystemModstamp": None, "MasterRecordId": "003A"}], config,
                   source="sf_contacts")
    assert keys_of(batch) == {("003B", "crm_merge", "sf_contacts:003B"), ("003B", "crm_merge", "sf_contacts:003A")}


def test_a_csv_source_reports_no_crm_merges() -> None:
    batch = mapped([person("p1", email="")])
    assert keys_of(batch) == set()


# Row fingerprints: an unchanged row writes nothing, any change is seen ---------------------------

def fingerprint(row: dict, config: AudiencesConfig | None = None, source: str = "crm") -> str:
    [value] = mapped([row], config, source).rows["row_hash"]
    return value


@pytest.mark.parametrize(("column", "before", "after"), [
    ("first_name", "Ann", "Anne"),
    ("modified", "2024-03-01T09:30:00", "2024-03-01T09:30:01"),
    ("modified", "2024-03-01T09:30:00.100", "2024-03-01T09:30:00.200"),
    ("account", "001A", "001B"),
    ("website", "acme.com", "globex.com"),
    ("converted", "003A", "003B"),
], ids=["field", "updated_at", "updated_at_fraction", "account", "company_domain", "conversion"])
def test_a_changed_value_changes_the_row_fingerprint(column: str, before: str, after: str) -> None:
    source = people(updated_at="modified", lead_conversion={"column": "converted", "contact_source": "crm"},
                    company={"account_id_column": "account", "account_source": "accounts", "domain_column": "website"})
    config = configure({"crm": source, "accounts": companies()})
    row = person("p1", modified="2024-03-01T09:30:00", account="001A", website="acme.com", converted="003A")
    assert fingerprint({**row, column: before}, config) != fingerprint({**row, column: after}, config)


def test_an_unchanged_row_keeps_its_fingerprint_whatever_the_rest_of_its_batch() -> None:
    config = configure({"crm": people(updated_at="modified")})
    alone = fingerprint(person("p1", modified="2024-03-01T09:30:00"), config)
    batch = mapped([person("p0", modified="2024-03-01T09:30:00.250"), person("p1", modified="2024-03-01T09:30:00"),
                    person("p2", modified="2024-03-01")], config)
    assert imported(batch, "row_hash")["p1"] == alone


def test_company_row_fingerprints_stay_those_stores_already_hold() -> None:
    """A changed fingerprint would make the next import rewrite (and re-resolve) every row."""
    config = configure({"accounts": companies(updated_at="modified")})
    rows = [{"id": "c1", "name": "Acme", "modified": "2024-03-01T09:30:00.250"},
            {"id": "c2", "name": "Globex", "modified": "2024-03-01T09:30:00"},
            {"id": "c3", "name": "Initech", "modified": "2024-03-01"},
            {"id": "c4", "name": "Umbrella", "modified": None}]
    assert list(mapped(rows, config, "accounts").rows["row_hash"]) == PINNED_COMPANY_HASHES


PINNED_COMPANY_HASHES = ["1e775a2453f3856d", "902ab0816149e7f3", "2a8cb2e50d971892", "dd4a90ae96c85cbb"]


@pytest.mark.parametrize("field", [
    {"type": "email"}, {"type": "url"}, {"type": "phone"}, {"type": "number"}, {"type": "date"},
    {"type": "boolean"}, {"key": "linkedin_url"}, {"key": "domain"},
], ids=["email", "url", "phone", "number", "date", "boolean", "linkedin-key", "domain-key"])
def test_a_configured_placeholder_is_missing_in_every_kind_of_field_and_quarantines_nothing(field: dict) -> None:
    if "key" in field:  # a text field holding an identity key
        source = (people(fields={"extra": {"column": "extra"}}, keys={"linkedin_url": "extra", "email": "email"})
                  if field["key"] == "linkedin_url" else
                  companies(fields={"name": {"column": "name"}, "extra": {"column": "extra"}}, keys={"domain": "extra"}))
    else:
        source = people(fields={"extra": {"column": "extra", "type": field["type"]}})
    name = "accounts" if field.get("key") == "domain" else "crm"
    row = {"id": "r1", "name": "Acme", "extra": "Redacted"} if name == "accounts" else person("r1", extra="Redacted")
    config = configure({name: source}, identity={"extra_placeholders": ["redacted"]})

    batch = mapped([row], config, source=name)

    assert pd.isna(imported(batch, "extra")["r1"])
    assert batch.quarantine == []


def test_a_person_source_linked_to_companies_still_needs_its_own_columns() -> None:
    source = people(company={"account_id_column": "AccountId", "account_source": "accounts"})
    message = missing_columns_message(source, ["id", "first_name", "AccountId"], {"accounts": companies()})
    assert "'email'" in message

