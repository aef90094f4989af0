"""The /__sandbox__/ hooks let a test in another process change data, time and faults over HTTP."""

from __future__ import annotations

import requests

from .conftest import trusting_session


def _hook(sandbox, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{sandbox.hubspot_url}/__sandbox__{path}", timeout=10, **kwargs)


def test_salesforce_record_hooks_create_change_and_delete(sandbox, sf):
    created = _hook(sandbox, "POST", "/salesforce/records/Contact", json={"LastName": "Hook", "Email": "h@x.io"})
    record = created.json()["id"]
    assert created.status_code == 201
    assert _hook(sandbox, "PATCH", f"/salesforce/records/Contact/{record}", json={"Title": "COO"}).status_code == 204
    assert sf.Contact.get(record)["Title"] == "COO"
    _hook(sandbox, "DELETE", f"/salesforce/records/Contact/{record}")
    assert sf.query_all(f"SELECT IsDeleted FROM Contact WHERE Id = '{record}'",
                        include_deleted=True)["records"][0]["IsDeleted"] is True
    _hook(sandbox, "DELETE", f"/salesforce/records/Contact/{record}", params={"hard": "true"})
    assert sf.query_all(f"SELECT Id FROM Contact WHERE Id = '{record}'", include_deleted=True)["totalSize"] == 0


def test_convert_lead_and_merge_hooks(sandbox, sf):
    lead = _hook(sandbox, "POST", "/salesforce/records/Lead", json={"LastName": "L", "Company": "C"}).json()["id"]
    converted = _hook(sandbox, "POST", "/salesforce/convertLead", json={"leadId": lead}).json()
    assert sf.Lead.get(lead)["ConvertedContactId"] == converted["contactId"]
    keep, lose = (_hook(sandbox, "POST", "/salesforce/records/Account", json={"Name": n}).json()["id"]
                  for n in ("A", "B"))
    _hook(sandbox, "POST", "/salesforce/merge", json={"sobject": "Account", "masterRecordId": keep,
                                                      "recordIds": [lose]})
    assert sf.query_all(f"SELECT MasterRecordId FROM Account WHERE Id = '{lose}'",
                        include_deleted=True)["records"][0]["MasterRecordId"] == keep


def test_hooks_are_served_on_the_salesforce_listener_too(sandbox):
    response = trusting_session(sandbox).get(f"{sandbox.salesforce_url}/__sandbox__/clock")
    assert response.status_code == 200 and response.json()["now"].endswith("Z")


def test_clock_hook_sets_the_time_records_are_stamped_with(sandbox, hubspot):
    _hook(sandbox, "POST", "/clock", json={"now": "2033-03-03T00:00:00Z", "frozen": True})
    _hook(sandbox, "POST", "/clock", json={"advanceSeconds": 60})
    company = _hook(sandbox, "POST", "/hubspot/objects/companies", json={"name": "Later Inc"}).json()["id"]
    found = hubspot.crm.companies.basic_api.get_by_id(company)
    assert found.properties["createdate"] == "2033-03-03T00:01:00.000Z"


def test_hubspot_hooks_archive_restore_merge_and_associate(sandbox, hubspot):
    first, second = (_hook(sandbox, "POST", "/hubspot/objects/contacts", json={"email": e}).json()["id"]
                     for e in ("one@x.io", "two@x.io"))
    _hook(sandbox, "DELETE", f"/hubspot/objects/contacts/{first}")
    assert [c.id for c in hubspot.crm.contacts.basic_api.get_page(archived=True).results] == [first]
    _hook(sandbox, "POST", f"/hubspot/objects/contacts/{first}/restore")
    merged = _hook(sandbox, "POST", "/hubspot/merge", json={"objectType": "contacts", "primaryObjectId": first,
                                                           "objectIdToMerge": second}).json()["id"]
    company = hubspot.crm.companies.basic_api.get_page(limit=1).results[0].id
    _hook(sandbox, "POST", "/hubspot/associate", json={"contactId": merged, "companyId": company, "primary": True})
    page = hubspot.crm.associations.v4.basic_api.get_page("contacts", merged, "companies")
    assert [r.to_object_id for r in page.results] == [company]
    _hook(sandbox, "DELETE", f"/hubspot/objects/contacts/{merged}", params={"hard": "true"})
    assert hubspot.crm.contacts.basic_api.get_page(archived=True).results == []


def test_fault_and_settings_hooks(sandbox, sf):
    _hook(sandbox, "POST", "/faults", json={"api": "hubspot", "kind": "server_error", "count": 1})
    assert requests.get(f"{sandbox.hubspot_url}/crm/v3/objects/contacts", timeout=10,
                        headers={"Authorization": f"Bearer {sandbox.hubspot_access_token}"}).status_code == 500
    settings = _hook(sandbox, "PATCH", "/settings/salesforce", json={"query_page_size": 4}).json()
    assert settings["query_page_size"] == 4 and len(sf.query("SELECT Id FROM Contact")["records"]) == 4


def test_a_wrong_hook_call_says_what_is_wrong(sandbox):
    response = _hook(sandbox, "POST", "/salesforce/records/Widget", json={})
    assert response.status_code == 400 and "unknown Salesforce object 'Widget'" in response.json()["error"]
