"""Bulk API 2.0 query and ingest jobs through sf.bulk2, plus the raw job states and headers."""

from __future__ import annotations

import csv
import io

import pytest
from simple_salesforce.exceptions import SalesforceOperationError

from .conftest import sf_headers

JOBS = "/services/data/v59.0/jobs"


def _rows(page: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(page)))


def _create_query_job(sandbox, http, sf, soql: str, operation: str = "query") -> dict:
    return http.post(f"{sandbox.salesforce_url}{JOBS}/query", headers=sf_headers(sf),
                     json={"operation": operation, "query": soql}).json()


def test_bulk_query_pages_by_locator(sf):
    pages = list(sf.bulk2.Contact.query("SELECT Id, Email FROM Contact ORDER BY Id", max_records=12, wait=0))
    assert [len(_rows(p)) for p in pages] == [12, 12, 6]
    assert all(p.startswith('"Id","Email"\n') for p in pages)
    ids = [r["Id"] for p in pages for r in _rows(p)]
    assert len(set(ids)) == 30 and ids == sorted(ids)


def test_bulk_query_job_is_in_progress_before_it_completes(sandbox, http, sf):
    job = _create_query_job(sandbox, http, sf, "SELECT Id FROM Account")
    assert job["state"] == "UploadComplete" and job["id"].startswith("750")
    url = f"{sandbox.salesforce_url}{JOBS}/query/{job['id']}"
    early = http.get(f"{url}/results", headers=sf_headers(sf))
    assert early.status_code == 400
    states = [http.get(url, headers=sf_headers(sf)).json()["state"] for _ in range(3)]
    assert states == ["InProgress", "JobComplete", "JobComplete"]
    info = http.get(url, headers=sf_headers(sf)).json()
    assert info["numberRecordsProcessed"] == 12 and info["jobType"] == "V2Query"


def test_bulk_results_carry_record_count_and_null_locator_on_the_last_page(sandbox, http, sf):
    job = _create_query_job(sandbox, http, sf, "SELECT Id FROM Account")
    url = f"{sandbox.salesforce_url}{JOBS}/query/{job['id']}"
    for _ in range(2):
        http.get(url, headers=sf_headers(sf))
    first = http.get(f"{url}/results", params={"maxRecords": 5}, headers=sf_headers(sf))
    assert first.headers["Sforce-NumberOfRecords"] == "5" and first.headers["Content-Type"].startswith("text/csv")
    again = http.get(f"{url}/results", params={"maxRecords": 5}, headers=sf_headers(sf))
    assert again.text == first.text
    last = http.get(f"{url}/results", params={"maxRecords": 10, "locator": first.headers["Sforce-Locator"]},
                    headers=sf_headers(sf))
    assert (last.headers["Sforce-NumberOfRecords"], last.headers["Sforce-Locator"]) == ("7", "null")


def test_bulk_results_need_the_api_version_of_the_job(sandbox, http, sf):
    job = _create_query_job(sandbox, http, sf, "SELECT Id FROM Account")
    for _ in range(2):
        http.get(f"{sandbox.salesforce_url}{JOBS}/query/{job['id']}", headers=sf_headers(sf))
    other = http.get(f"{sandbox.salesforce_url}/services/data/v60.0/jobs/query/{job['id']}/results",
                     headers=sf_headers(sf))
    assert other.status_code == 409


def test_bulk_query_all_includes_deleted_records(sandbox, sf):
    gone = sandbox.salesforce.create("Contact", {"LastName": "Gone"})
    sandbox.salesforce.delete("Contact", gone)
    live = [r["Id"] for p in sf.bulk2.Contact.query("SELECT Id FROM Contact", wait=0) for r in _rows(p)]
    every = [r for p in sf.bulk2.Contact.query_all("SELECT Id, IsDeleted FROM Contact", wait=0) for r in _rows(p)]
    assert gone not in live and {"Id": gone, "IsDeleted": "true"} in every


def test_bulk_csv_quotes_every_value_and_renders_nulls_empty(sandbox, sf):
    bare = sandbox.salesforce.create("Contact", {"LastName": "Bare"})
    page = next(sf.bulk2.Contact.query(f"SELECT Id, Email, IsDeleted, CreatedDate, Account.Name FROM Contact "
                                       f"WHERE Id = '{bare}'", wait=0))
    header, row = page.splitlines()
    assert header == '"Id","Email","IsDeleted","CreatedDate","Account.Name"'
    assert row.startswith(f'"{bare}","","false","') and row.endswith('Z",""')


def test_injected_bulk_failure_fails_the_job(sandbox, sf):
    sandbox.inject_fault("salesforce", "bulk_job_failed")
    with pytest.raises(SalesforceOperationError, match="Job failure"):
        list(sf.bulk2.Contact.query("SELECT Id FROM Contact", wait=0))


def test_bulk_query_with_bad_soql_is_refused_at_creation(sandbox, http, sf):
    response = http.post(f"{sandbox.salesforce_url}{JOBS}/query", headers=sf_headers(sf),
                         json={"operation": "query", "query": "SELECT Nope FROM Contact"})
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "INVALID_FIELD"


def test_deleting_a_query_job_answers_204(sandbox, http, sf):
    job = _create_query_job(sandbox, http, sf, "SELECT Id FROM Account")
    url = f"{sandbox.salesforce_url}{JOBS}/query/{job['id']}"
    assert http.delete(url, headers=sf_headers(sf)).status_code == 204
    assert http.get(url, headers=sf_headers(sf)).status_code == 404


def test_bulk_upsert_creates_and_updates_by_external_id(sandbox, sf):
    sf.Contact.upsert("Audiences_Id__c/p-1", {"LastName": "Old", "Title": "Keep"})
    result = sf.bulk2.Contact.upsert(records=[{"Audiences_Id__c": "p-1", "LastName": "Renamed", "Title": ""},
                                              {"Audiences_Id__c": "p-2", "LastName": "Fresh"}],
                                     external_id_field="Audiences_Id__c", wait=0)
    assert [(r["numberRecordsProcessed"], r["numberRecordsFailed"]) for r in result] == [(2, 0)]
    rows = {r["Audiences_Id__c"]: r for r in sf.query(
        "SELECT Audiences_Id__c, LastName, Title FROM Contact WHERE Audiences_Id__c != null")["records"]}
    assert (rows["p-1"]["LastName"], rows["p-1"]["Title"]) == ("Renamed", "Keep")  # empty cell leaves a value
    successes = sf.bulk2.Contact.get_successful_records(result[0]["job_id"])
    assert {(r["sf__Created"], r["Audiences_Id__c"]) for r in csv.DictReader(io.StringIO(successes))} == {
        ("false", "p-1"), ("true", "p-2")}


def test_bulk_ingest_na_marker_nulls_a_field(sandbox, sf):
    contact = sandbox.salesforce.create("Contact", {"LastName": "Lee", "Title": "CTO"})
    sf.bulk2.Contact.update(records=[{"Id": contact, "Title": "#N/A"}], wait=0)
    assert sf.Contact.get(contact)["Title"] is None


def test_bulk_ingest_with_an_unknown_column_fails_the_whole_job(sf):
    with pytest.raises(SalesforceOperationError, match="InvalidBatch : Field name not found : ContactId__c"):
        sf.bulk2.Contact.insert(records=[{"LastName": "X", "ContactId__c": "1"}], wait=0)


def test_bulk_ingest_row_for_a_converted_lead_fails_alone(sandbox, sf):
    converted, open_lead = (sandbox.salesforce.create("Lead", {"LastName": n, "Company": "C"}) for n in "AB")
    sandbox.salesforce.convert_lead(converted)
    result = sf.bulk2.Lead.update(records=[{"Id": converted, "Title": "x"}, {"Id": open_lead, "Title": "y"}],
                                  wait=0)
    assert (result[0]["numberRecordsProcessed"], result[0]["numberRecordsFailed"]) == (2, 1)
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Lead.get_failed_records(result[0]["job_id"]))))
    assert [(r["Id"], r["sf__Error"]) for r in failed] == [
        (converted, "CANNOT_UPDATE_CONVERTED_LEAD:cannot reference converted lead:--")]


def test_bulk_ingest_duplicate_external_ids_in_one_file_fail(sf):
    result = sf.bulk2.Contact.upsert(records=[{"Audiences_Id__c": "dup", "LastName": "A"},
                                              {"Audiences_Id__c": "dup", "LastName": "B"}],
                                     external_id_field="Audiences_Id__c", wait=0)
    assert result[0]["numberRecordsFailed"] == 2


def test_unprocessed_records_route_takes_either_spelling(sandbox, http, sf):
    job = http.post(f"{sandbox.salesforce_url}{JOBS}/ingest", headers=sf_headers(sf),
                    json={"object": "Contact", "operation": "insert", "contentType": "CSV"}).json()
    url = f"{sandbox.salesforce_url}{JOBS}/ingest/{job['id']}"
    upload = http.put(f"{url}/batches", data=b"LastName\nOne\n",
                      headers={**sf_headers(sf), "Content-Type": "text/csv"})
    assert upload.status_code == 201 and upload.content == b""
    assert http.patch(url, json={"state": "Aborted"}, headers=sf_headers(sf)).json()["state"] == "Aborted"
    for path in ("unprocessedrecords", "unprocessedRecords"):
        assert http.get(f"{url}/{path}", headers=sf_headers(sf)).text == "LastName\nOne\n"
