"""REST query, queryAll and locator paging through simple-salesforce, with the SOQL subset and its errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest
from simple_salesforce.format import format_soql

from audiences_dagster.sandbox.schema import CONTACT

from .conftest import sf_headers


def _contact(sandbox, **fields) -> str:
    return sandbox.salesforce.create("Contact", {"LastName": "Probe", **fields})


def test_query_returns_attributes_then_fields_in_select_order(sf):
    record = sf.query("SELECT Email, Id, SystemModstamp, IsDeleted FROM Contact LIMIT 1")["records"][0]
    assert list(record) == ["attributes", "Email", "Id", "SystemModstamp", "IsDeleted"]
    assert record["attributes"] == {"type": "Contact", "url": f"/services/data/v59.0/sobjects/Contact/{record['Id']}"}
    assert len(record["Id"]) == 18 and record["Id"].startswith("003") and record["IsDeleted"] is False
    assert datetime.strptime(record["SystemModstamp"], "%Y-%m-%dT%H:%M:%S.%f%z")


def test_field_names_are_case_insensitive_and_answered_in_schema_casing(sf):
    record = sf.query("select id, EMAIL from contact limit 1")["records"][0]
    assert {"Id", "Email"} <= set(record)


def test_parent_fields_nest_under_the_relationship_and_a_missing_parent_is_null(sandbox, sf):
    orphan = _contact(sandbox, Email="orphan@example.com")
    rows = sf.query(f"SELECT Id, Account.Name FROM Contact WHERE Id = '{orphan}' OR Email != null")["records"]
    by_id = {r["Id"]: r for r in rows}
    assert by_id.pop(orphan)["Account"] is None
    parent = next(iter(by_id.values()))["Account"]
    assert parent["attributes"]["type"] == "Account" and parent["Name"]


def test_query_pages_by_locator(sandbox, sf):
    sandbox.salesforce_settings.query_page_size = 7
    first = sf.query("SELECT Id FROM Contact ORDER BY Id")
    assert (first["totalSize"], first["done"], len(first["records"])) == (30, False, 7)
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-7")
    everything = sf.query_all("SELECT Id FROM Contact ORDER BY Id")
    ids = [r["Id"] for r in everything["records"]]
    assert len(ids) == 30 and ids == sorted(ids)


def test_last_page_has_done_true_and_no_next_records_url(sf):
    page = sf.query("SELECT Id FROM Account")
    assert page["done"] is True and "nextRecordsUrl" not in page


def test_query_options_batch_size_is_honoured_between_200_and_2000(sandbox, sf, http):
    with sandbox.db.write() as conn:
        sandbox.salesforce.insert(conn, CONTACT, [{"LastName": f"Bulk {i}"} for i in range(400)])
    url = f"{sandbox.salesforce_url}/services/data/v59.0/query/"
    small = http.get(url, params={"q": "SELECT Id FROM Contact"},
                     headers={**sf_headers(sf), "Sforce-Query-Options": "batchSize=50"}).json()
    assert len(small["records"]) == 200  # below the minimum is raised to 200
    assert len(sf.query("SELECT Id FROM Contact")["records"]) == 430


def test_query_all_continues_with_a_query_locator(sandbox, sf):
    sandbox.salesforce_settings.query_page_size = 5
    gone = _contact(sandbox)
    sandbox.salesforce.delete("Contact", gone)
    first = sf.query("SELECT Id, IsDeleted FROM Contact", include_deleted=True)
    assert first["totalSize"] == 31 and "/query/" in first["nextRecordsUrl"]
    records = sf.query_all("SELECT Id, IsDeleted FROM Contact", include_deleted=True)["records"]
    assert [r["Id"] for r in records if r["IsDeleted"]] == [gone]


def test_query_never_returns_soft_deleted_records(sandbox, sf):
    gone = _contact(sandbox)
    sandbox.salesforce.delete("Contact", gone)
    assert sf.query(f"SELECT Id FROM Contact WHERE Id = '{gone}'")["totalSize"] == 0
    assert sf.query_all(f"SELECT Id FROM Contact WHERE Id = '{gone}'", include_deleted=True)["totalSize"] == 1


def test_hard_deleted_record_is_gone_even_from_query_all(sandbox, sf):
    gone = _contact(sandbox)
    sandbox.salesforce.hard_delete("Contact", gone)
    assert sf.query_all(f"SELECT Id FROM Contact WHERE Id = '{gone}'", include_deleted=True)["totalSize"] == 0


def test_purged_recycle_bin_hides_deleted_records_from_query_all(sandbox, sf):
    gone = _contact(sandbox)
    sandbox.salesforce.delete("Contact", gone)
    assert sandbox.salesforce.purge_recycle_bin("Contact") == 1
    assert sf.query_all("SELECT Id FROM Contact WHERE IsDeleted = true", include_deleted=True)["totalSize"] == 0


def test_undelete_brings_a_record_back_with_a_new_modstamp(sandbox, sf):
    record = _contact(sandbox)
    sandbox.salesforce.delete("Contact", record)
    sandbox.advance_clock(timedelta(minutes=5))
    sandbox.salesforce.undelete("Contact", record)
    row = sf.query(f"SELECT Id, SystemModstamp FROM Contact WHERE Id = '{record}'")["records"]
    assert len(row) == 1


def test_system_modstamp_cursor_sees_records_changed_after_it(sandbox, http):
    cursor = datetime(2030, 1, 1, tzinfo=timezone.utc)
    sandbox.set_clock(cursor + timedelta(minutes=3), frozen=True)
    sf = Salesforce(instance_url=sandbox.salesforce_url, session_id=sandbox.salesforce_access_token(), session=http)
    changed = sf.query("SELECT Id FROM Contact LIMIT 1")["records"][0]["Id"]
    sandbox.salesforce.update("Contact", changed, {"Title": "CRO"})
    soql = format_soql("SELECT Id, Title, SystemModstamp FROM Contact WHERE SystemModstamp > {} "
                       "ORDER BY SystemModstamp, Id", cursor)
    assert "+00:00" in soql
    rows = sf.query_all(soql)["records"]
    assert [(r["Id"], r["Title"], r["SystemModstamp"]) for r in rows] == [
        (changed, "CRO", "2030-01-01T00:03:00.000+0000")]
    assert sf.query_all("SELECT Id FROM Contact WHERE SystemModstamp > 2030-01-01T00:03:00Z")["totalSize"] == 0


def test_count_query_reports_only_the_total(sf):
    result = sf.query("SELECT COUNT() FROM Lead WHERE IsConverted = true")
    assert result["records"] == [] and result["totalSize"] == 1  # 8% of 20 leads


def test_unknown_field_is_invalid_field_with_salesforce_layout(sf):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Foo FROM Contact")
    error = caught.value.content[0]
    assert error["errorCode"] == "INVALID_FIELD"
    assert error["message"].startswith("\nSELECT Foo FROM Contact\n       ^\nERROR at Row:1:Column:8\n"
                                       "No such column 'Foo' on entity 'Contact'.")


def test_unknown_object_is_invalid_type(sf):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id FROM Nope__c")
    assert caught.value.content[0]["errorCode"] == "INVALID_TYPE"
    assert "sObject type 'Nope__c' is not supported" in caught.value.content[0]["message"]


def test_unparsable_soql_is_malformed_query(sf):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id FROM Contact WHERE Email = 'a' AND Title = 'b' OR Phone = 'c'")
    assert caught.value.content[0]["errorCode"] == "MALFORMED_QUERY"


def test_quoted_datetime_literal_is_refused_like_salesforce(sf):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id FROM Contact WHERE SystemModstamp > '2024-01-01T00:00:00Z'")
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "must be of type dateTime and should not be enclosed in quotes" in caught.value.content[0]["message"]


def test_unknown_locator_is_invalid_query_locator(sf):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query_more("01gDOESNOTEXIST-2000")
    assert caught.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_where_supports_in_like_and_string_escapes(sandbox, sf):
    tricky = _contact(sandbox, Email="o'neil@example.com", Title="VP Sales")
    assert sf.query("SELECT Id FROM Contact WHERE Email = 'O\\'Neil@example.com'")["records"][0]["Id"] == tricky
    assert sf.query("SELECT Id FROM Contact WHERE Title IN ('VP Sales') AND Email LIKE '%neil%'")["totalSize"] == 1
