"""Salesforce record changes (conversion, merges, sObject rows), limits, and injected faults."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from simple_salesforce.exceptions import (
    SalesforceExpiredSession, SalesforceGeneralError, SalesforceMalformedRequest, SalesforceRefusedRequest,
)

from .conftest import sf_headers


def _lead(sandbox, **fields) -> str:
    return sandbox.salesforce.create("Lead", {"LastName": "Lopez", "Company": "Umbra AI", **fields})


def test_seeded_converted_leads_point_at_contacts_and_accounts(sf):
    lead = sf.query("SELECT Id, IsConverted, ConvertedDate, ConvertedContactId, ConvertedAccountId, Status "
                    "FROM Lead WHERE IsConverted = true")["records"][0]
    contact = sf.Contact.get(lead["ConvertedContactId"])
    assert contact["AccountId"] == lead["ConvertedAccountId"]
    assert lead["Status"] == "Closed - Converted" and len(lead["ConvertedDate"]) == 10


def test_lead_conversion_marks_the_lead_and_bumps_its_modstamp(sandbox, sf):
    lead = _lead(sandbox, Email="lopez@umbra.ai")
    sandbox.advance_clock(timedelta(hours=1))
    result = sandbox.salesforce.convert_lead(lead)
    row = sf.query(f"SELECT IsConverted, ConvertedContactId, ConvertedAccountId, ConvertedOpportunityId, "
                   f"SystemModstamp, CreatedDate FROM Lead WHERE Id = '{lead}'")["records"][0]
    assert row["IsConverted"] is True and row["ConvertedContactId"] == result["contactId"]
    assert row["ConvertedOpportunityId"] is None and row["SystemModstamp"] > row["CreatedDate"]
    assert sf.Contact.get(result["contactId"])["Email"] == "lopez@umbra.ai"


def test_conversion_into_an_existing_contact_only_fills_empty_fields(sandbox, sf):
    contact = sandbox.salesforce.create("Contact", {"LastName": "Lopez", "Title": "CEO"})
    lead = _lead(sandbox, Title="Intern", Email="lopez@umbra.ai")
    sandbox.salesforce.convert_lead(lead, contact_id=contact, create_opportunity=True)
    merged = sf.Contact.get(contact)
    assert (merged["Title"], merged["Email"]) == ("CEO", "lopez@umbra.ai")
    assert sf.Lead.get(lead)["ConvertedOpportunityId"].startswith("006")


def test_converted_lead_cannot_be_updated(sandbox, sf):
    lead = _lead(sandbox)
    sandbox.salesforce.convert_lead(lead)
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Lead.update(lead, {"Title": "CTO"})
    assert caught.value.content == [{"message": "cannot reference converted lead",
                                     "errorCode": "CANNOT_UPDATE_CONVERTED_LEAD", "fields": []}]


def test_merge_soft_deletes_losers_with_master_record_id(sandbox, sf):
    master, loser = (sandbox.salesforce.create("Account", {"Name": n}) for n in ("Acme", "ACME Inc"))
    sandbox.salesforce.merge("Account", master, [loser])
    row = sf.query_all(f"SELECT Id, IsDeleted, MasterRecordId FROM Account WHERE Id = '{loser}'",
                       include_deleted=True)["records"][0]
    assert (row["IsDeleted"], row["MasterRecordId"]) == (True, master)


def test_rest_update_moves_last_modified_and_modstamp(sandbox, sf):
    contact = sandbox.salesforce.create("Contact", {"LastName": "Kim"})
    sandbox.advance_clock(timedelta(minutes=10))
    assert sf.Contact.update(contact, {"Title": "CFO"}) == 204
    row = sf.Contact.get(contact)
    assert row["Title"] == "CFO" and row["LastModifiedDate"] == row["SystemModstamp"] > row["CreatedDate"]


def test_read_only_field_cannot_be_written(sf):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Lead.create({"LastName": "X", "Company": "Y", "IsConverted": True})
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_create_without_required_fields_is_refused(sf):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Contact.create({"FirstName": "Nameless"})
    assert caught.value.content[0] == {"message": "Required fields are missing: [LastName]",
                                       "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["LastName"]}


def test_upsert_by_external_id_creates_then_updates(sf):
    assert sf.Contact.upsert("Audiences_Id__c/person-1", {"LastName": "Ng"}) == 201
    assert sf.Contact.upsert("Audiences_Id__c/person-1", {"Title": "VP"}) == 200
    rows = sf.query("SELECT LastName, Title FROM Contact WHERE Audiences_Id__c = 'person-1'")["records"]
    assert [(r["LastName"], r["Title"]) for r in rows] == [("Ng", "VP")]


def test_updated_and_deleted_replication_windows(sandbox, sf):
    start = datetime.now(timezone.utc) - timedelta(minutes=1)
    changed = sandbox.salesforce.create("Contact", {"LastName": "New"})
    gone = sandbox.salesforce.create("Contact", {"LastName": "Gone"})
    sandbox.salesforce.delete("Contact", gone)
    end = datetime.now(timezone.utc) + timedelta(minutes=1)
    assert sf.Contact.updated(start, end)["ids"] == [changed]
    deleted = sf.Contact.deleted(start, end)
    assert [d["id"] for d in deleted["deletedRecords"]] == [gone] and "earliestDateAvailable" in deleted


def test_every_rest_response_reports_api_usage(sf):
    sf.query("SELECT Id FROM Account")
    sf.query("SELECT Id FROM Account")
    assert sf.api_usage["api-usage"].used >= 2 and sf.api_usage["api-usage"].total == 100_000


def test_limits_report_daily_api_requests(sandbox, sf):
    sandbox.salesforce_settings.daily_api_requests = 50
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 50 and limits["DailyApiRequests"]["Remaining"] == 49


def test_exhausted_daily_limit_gets_request_limit_exceeded(sandbox, sf, http):
    sandbox.salesforce_settings.daily_api_requests = 1
    sf.query("SELECT Id FROM Account")
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM Account")
    assert caught.value.status == 403
    assert caught.value.content == [{"message": "TotalRequests Limit exceeded.",
                                     "errorCode": "REQUEST_LIMIT_EXCEEDED", "fields": []}]
    refused = http.get(f"{sandbox.salesforce_url}/services/data/v59.0/limits/", headers=sf_headers(sf))
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=1/1"


def test_injected_unauthorized_answers_invalid_session_once(sandbox, sf):
    sandbox.inject_fault("salesforce", "unauthorized")
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Account")
    assert sf.query("SELECT Id FROM Account")["totalSize"] == 12


def test_injected_rate_limit_answers_request_limit_exceeded(sandbox, sf):
    sandbox.inject_fault("salesforce", "rate_limited", count=2)
    for _ in range(2):
        with pytest.raises(SalesforceRefusedRequest) as caught:
            sf.query("SELECT Id FROM Account")
        assert caught.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert sf.query("SELECT Id FROM Account")["done"] is True


def test_injected_server_error_answers_500_unknown_exception(sandbox, sf):
    sandbox.inject_fault("salesforce", "server_error")
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.query("SELECT Id FROM Account")
    assert caught.value.status == 500 and caught.value.content[0]["errorCode"] == "UNKNOWN_EXCEPTION"


def test_injected_slow_response_is_delayed_then_served(sandbox, sf):
    sandbox.inject_fault("salesforce", "slow", delay_seconds=0.3)
    started = time.monotonic()
    assert sf.query("SELECT Id FROM Account")["totalSize"] == 12
    assert time.monotonic() - started >= 0.3


def test_unknown_record_is_not_found(sf):
    with pytest.raises(Exception) as caught:
        sf.Contact.get("0038d00000ZZZZZAAA")
    assert caught.value.status == 404 and caught.value.content[0]["errorCode"] == "NOT_FOUND"

