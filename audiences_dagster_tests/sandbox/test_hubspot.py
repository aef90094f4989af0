"""HubSpot CRM v3/v4 through hubspot-api-client: list, get, search, batches, merges, associations, limits."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from hubspot.crm.contacts import ApiException

from audiences_dagster.sandbox.clock import to_ms

MODIFIED_SEARCH = {"filterGroups": [{"filters": [
    {"propertyName": "lastmodifieddate", "operator": "GTE", "value": "0"}]}],
    "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]}


def _raw(sandbox, method: str, path: str, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {sandbox.hubspot_access_token}"}
    return requests.request(method, f"{sandbox.hubspot_url}{path}", headers=headers, timeout=10, **kwargs)


def test_missing_token_gets_invalid_authentication(sandbox):
    response = requests.get(f"{sandbox.hubspot_url}/crm/v3/objects/contacts", timeout=10)
    assert response.status_code == 401 and response.json()["category"] == "INVALID_AUTHENTICATION"


def test_list_pages_with_an_opaque_after_cursor(hubspot):
    first = hubspot.crm.contacts.basic_api.get_page(limit=20, properties=["email"])
    assert len(first.results) == 20 and first.paging.next.after
    rest = hubspot.crm.contacts.basic_api.get_page(limit=20, after=first.paging.next.after)
    assert len(rest.results) == 10 and rest.paging is None
    assert len({r.id for r in first.results + rest.results}) == 30
    assert len(hubspot.crm.contacts.get_all()) == 30


def test_requested_properties_come_back_as_strings_or_null(hubspot):
    contact = hubspot.crm.contacts.basic_api.get_page(limit=1, properties=["email", "website"]).results[0]
    assert contact.properties["website"] is None and "@" in contact.properties["email"]
    assert contact.properties["hs_object_id"] == contact.id and contact.archived is False


def test_archived_list_returns_only_archived_records(sandbox, hubspot):
    gone = hubspot.crm.contacts.basic_api.get_page(limit=1).results[0].id
    hubspot.crm.contacts.basic_api.archive(gone)
    archived = hubspot.crm.contacts.basic_api.get_page(archived=True).results
    assert [(c.id, c.archived, c.archived_at is not None) for c in archived] == [(gone, True, True)]
    live = [c.id for c in hubspot.crm.contacts.get_all()]
    assert gone not in live and len(live) == 29


def test_get_by_email_id_property(hubspot):
    email = hubspot.crm.contacts.basic_api.get_page(limit=1, properties=["email"]).results[0].properties["email"]
    found = hubspot.crm.contacts.basic_api.get_by_id(email.upper(), id_property="email", properties=["email"])
    assert found.properties["email"] == email


def test_unknown_id_is_object_not_found(hubspot):
    with pytest.raises(ApiException) as caught:
        hubspot.crm.contacts.basic_api.get_by_id("999999")
    assert caught.value.status == 404 and '"OBJECT_NOT_FOUND"' in caught.value.body


def test_merge_creates_a_new_id_listing_both_merged_ids(hubspot):
    a, b = (c.id for c in hubspot.crm.contacts.basic_api.get_page(limit=2).results)
    merged = hubspot.crm.contacts.basic_api.merge({"primaryObjectId": a, "objectIdToMerge": b})
    assert merged.id not in (a, b)
    assert merged.properties["hs_merged_object_ids"] == f"{a};{b}"


def test_merged_away_id_resolves_to_the_merged_record(sandbox, hubspot):
    a, b = (c.id for c in hubspot.crm.contacts.basic_api.get_page(limit=2).results)
    new_id = sandbox.hubspot.merge("contacts", a, b)
    assert hubspot.crm.contacts.basic_api.get_by_id(b).id == str(new_id)
    ids = {c.id for c in hubspot.crm.contacts.get_all()}
    assert str(new_id) in ids and not {a, b} & ids


def test_search_filters_and_sorts_by_lastmodifieddate(sandbox, hubspot):
    sandbox.set_clock(datetime(2031, 1, 1, tzinfo=timezone.utc), frozen=True)
    changed = hubspot.crm.contacts.basic_api.get_page(limit=1).results[0].id
    hubspot.crm.contacts.basic_api.update(changed, {"properties": {"jobtitle": "CRO"}})
    cursor = str(to_ms(datetime(2030, 12, 31, tzinfo=timezone.utc)))
    result = hubspot.crm.contacts.search_api.do_search({
        "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": cursor}]}],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["jobtitle"], "limit": 200})
    assert result.total == 1 and result.results[0].id == changed
    assert result.results[0].properties["lastmodifieddate"] == "2031-01-01T00:00:00.000Z"
    assert result.results[0].properties["jobtitle"] == "CRO" and "email" in result.results[0].properties


def test_search_pages_by_integer_offsets(hubspot):
    first = hubspot.crm.contacts.search_api.do_search({**MODIFIED_SEARCH, "limit": 25})
    assert (first.total, len(first.results), first.paging.next.after) == (30, 25, "25")
    second = hubspot.crm.contacts.search_api.do_search({**MODIFIED_SEARCH, "limit": 25, "after": "25"})
    assert len(second.results) == 5 and second.paging is None


def test_search_or_of_and_groups(sandbox, hubspot):
    for email, title in (("a@x.io", "CEO"), ("b@x.io", "CTO"), ("c@y.io", "CEO")):
        sandbox.hubspot.create("contacts", {"email": email, "jobtitle": title})
    result = hubspot.crm.contacts.search_api.do_search({"filterGroups": [
        {"filters": [{"propertyName": "jobtitle", "operator": "EQ", "value": "ceo"},
                     {"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*@x.io"}]},
        {"filters": [{"propertyName": "email", "operator": "IN", "values": ["c@y.io"]}]}]})
    assert sorted(r.properties["email"] for r in result.results) == ["a@x.io", "c@y.io"]


def test_search_rejects_paging_past_ten_thousand(sandbox):
    response = _raw(sandbox, "POST", "/crm/v3/objects/contacts/search", json={"limit": 200, "after": "10000"})
    assert response.status_code == 400 and response.json()["category"] == "VALIDATION_ERROR"


def test_search_rejects_more_than_one_sort(sandbox):
    response = _raw(sandbox, "POST", "/crm/v3/objects/contacts/search", json={"sorts": [
        {"propertyName": "email", "direction": "ASCENDING"}, {"propertyName": "createdate"}]})
    assert response.status_code == 400


def test_search_rejects_pages_over_two_hundred(sandbox):
    assert _raw(sandbox, "POST", "/crm/v3/objects/contacts/search", json={"limit": 201}).status_code == 400


def test_search_rejects_too_many_filter_groups(sandbox):
    groups = [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}] * 6
    assert _raw(sandbox, "POST", "/crm/v3/objects/contacts/search",
                json={"filterGroups": groups}).status_code == 400


def test_search_never_returns_archived_records(sandbox, hubspot):
    gone = hubspot.crm.companies.basic_api.get_page(limit=1).results[0].id
    sandbox.hubspot.archive("companies", gone)
    result = hubspot.crm.companies.search_api.do_search({"limit": 200})
    assert result.total == 11 and gone not in {r.id for r in result.results}
    assert "hs_lastmodifieddate" in result.results[0].properties


def test_search_index_lag_hides_fresh_writes(sandbox, hubspot):
    sandbox.hubspot_settings.index_lag_ms = 300
    sandbox.hubspot.create("contacts", {"email": "fresh@example.com"})
    query = {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "fresh@example.com"}]}]}
    assert hubspot.crm.contacts.search_api.do_search(query).total == 0
    time.sleep(0.35)
    assert hubspot.crm.contacts.search_api.do_search(query).total == 1


def test_rate_limit_headers_on_lists_but_never_on_search(sandbox):
    listed = _raw(sandbox, "GET", "/crm/v3/objects/contacts")
    assert listed.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert {"X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining", "X-HubSpot-RateLimit-Daily",
            "X-HubSpot-RateLimit-Daily-Remaining"} <= set(listed.headers)
    searched = _raw(sandbox, "POST", "/crm/v3/objects/contacts/search", json={})
    assert not [h for h in searched.headers if h.lower().startswith("x-hubspot-ratelimit")]


def test_burst_limit_answers_429_ten_secondly_rolling(sandbox):
    sandbox.hubspot_settings.burst_limit = 2
    statuses = [_raw(sandbox, "GET", "/crm/v3/objects/companies").status_code for _ in range(3)]
    refused = _raw(sandbox, "GET", "/crm/v3/objects/companies")
    assert statuses == [200, 200, 429]
    body = refused.json()
    assert (body["errorType"], body["policyName"]) == ("RATE_LIMIT", "TEN_SECONDLY_ROLLING")
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"


def test_daily_limit_answers_429_daily(sandbox):
    sandbox.hubspot_settings.daily_limit = 1
    _raw(sandbox, "GET", "/crm/v3/objects/companies")
    assert _raw(sandbox, "GET", "/crm/v3/objects/companies").json()["policyName"] == "DAILY"


def test_search_has_its_own_per_second_bucket(sandbox):
    sandbox.hubspot_settings.search_per_second = 1
    assert _raw(sandbox, "POST", "/crm/v3/objects/contacts/search", json={}).status_code == 200
    assert _raw(sandbox, "POST", "/crm/v3/objects/contacts/search", json={}).status_code == 429
    assert _raw(sandbox, "GET", "/crm/v3/objects/contacts").status_code == 200


def test_injected_faults_answer_429_500_and_401(sandbox, hubspot):
    sandbox.inject_fault("hubspot", "rate_limited", policy="DAILY")
    sandbox.inject_fault("hubspot", "server_error")
    sandbox.inject_fault("hubspot", "unauthorized")
    statuses = []
    for _ in range(4):
        try:
            hubspot.crm.companies.basic_api.get_page()
            statuses.append(200)
        except Exception as exc:  # each API module has its own ApiException class
            statuses.append(exc.status)
    assert statuses == [429, 500, 401, 200]


def test_batch_read_reports_missing_ids_with_207(hubspot):
    known = hubspot.crm.contacts.basic_api.get_page(limit=1).results[0].id
    result = hubspot.crm.contacts.batch_api.read({"inputs": [{"id": known}, {"id": "99999"}],
                                                  "properties": ["email"]})
    assert [r.id for r in result.results] == [known] and result.num_errors == 1
    assert result.errors[0].category == "OBJECT_NOT_FOUND" and result.errors[0].context == {"ids": ["99999"]}


def test_batch_upsert_by_email_says_which_records_are_new(hubspot):
    existing = hubspot.crm.contacts.basic_api.get_page(limit=1, properties=["email"]).results[0]
    result = hubspot.crm.contacts.batch_api.upsert({"inputs": [
        {"idProperty": "email", "id": existing.properties["email"], "properties": {"jobtitle": "CMO"}},
        {"idProperty": "email", "id": "brand.new@example.com", "properties": {"firstname": "Bran"}}]})
    assert sorted((r.new, r.id == existing.id) for r in result.results) == [(False, True), (True, False)]
    assert hubspot.crm.contacts.basic_api.get_by_id(existing.id, properties=["jobtitle"]).properties[
        "jobtitle"] == "CMO"


def test_batches_over_one_hundred_inputs_are_refused(sandbox):
    inputs = [{"id": str(i)} for i in range(101)]
    response = _raw(sandbox, "POST", "/crm/v3/objects/contacts/batch/read", json={"inputs": inputs})
    assert response.status_code == 400 and response.json()["category"] == "VALIDATION_ERROR"


def test_create_returns_201_and_duplicate_email_conflicts(hubspot):
    created = hubspot.crm.contacts.basic_api.create({"properties": {"email": "once@example.com"}})
    assert created is not None and created.properties["email"] == "once@example.com"
    with pytest.raises(ApiException) as caught:
        hubspot.crm.contacts.basic_api.create({"properties": {"email": "ONCE@example.com"}})
    assert caught.value.status == 409 and f"Existing ID: {created.id}" in caught.value.body


def test_unknown_property_is_a_validation_error(hubspot):
    with pytest.raises(ApiException) as caught:
        hubspot.crm.contacts.basic_api.create({"properties": {"shoe_size": "44"}})
    assert caught.value.status == 400 and "PROPERTY_DOESNT_EXIST" in caught.value.body


def test_batch_create_and_archive(hubspot):
    created = hubspot.crm.companies.batch_api.create({"inputs": [{"properties": {"name": "Quill Labs"}}]})
    assert created.status == "COMPLETE" and len(created.results) == 1
    hubspot.crm.companies.batch_api.archive({"inputs": [{"id": created.results[0].id}]})
    with pytest.raises(Exception):
        hubspot.crm.companies.basic_api.get_by_id(created.results[0].id)


def test_contact_company_associations_use_type_ids_1_and_279(sandbox, hubspot):
    contact = hubspot.crm.contacts.basic_api.get_page(limit=1).results[0].id
    page = hubspot.crm.associations.v4.basic_api.get_page("contacts", contact, "companies")
    assert sorted(t.type_id for t in page.results[0].association_types) == [1, 279]
    raw = _raw(sandbox, "GET", f"/crm/v4/objects/contacts/{contact}/associations/companies").json()
    assert isinstance(raw["results"][0]["toObjectId"], int)  # a JSON number on the wire


def test_association_batch_read_reports_unassociated_inputs_with_207(sandbox, hubspot):
    lonely = sandbox.hubspot.create("contacts", {"email": "lonely@example.com"})
    known = hubspot.crm.contacts.basic_api.get_page(limit=1).results[0].id
    result = hubspot.crm.associations.v4.batch_api.get_page("contacts", "companies", {
        "inputs": [{"id": known}, {"id": str(lonely)}]})
    assert [r._from.id for r in result.results] == [known]
    assert result.errors[0].sub_category == "crm.associations.NO_ASSOCIATIONS_FOUND"


def test_default_association_links_a_contact_to_a_company(sandbox, hubspot):
    contact = sandbox.hubspot.create("contacts", {"email": "link@example.com"})
    company = hubspot.crm.companies.basic_api.get_page(limit=1).results[0].id
    hubspot.crm.associations.v4.basic_api.create_default("contacts", str(contact), "companies", company)
    page = hubspot.crm.associations.v4.basic_api.get_page("companies", company, "contacts", limit=500)
    assert str(contact) in {r.to_object_id for r in page.results}
    assert {t.type_id for r in page.results for t in r.association_types} >= {280}


def test_inline_associations_on_get(hubspot):
    contact = hubspot.crm.contacts.basic_api.get_page(limit=1).results[0].id
    found = hubspot.crm.contacts.basic_api.get_by_id(contact, associations=["companies"])
    types = {r.type for r in found.associations["companies"].results}
    assert types == {"contact_to_company", "contact_to_company_unlabeled"}


def test_lastmodifieddate_follows_the_sandbox_clock(sandbox, hubspot):
    sandbox.set_clock(datetime(2032, 2, 2, tzinfo=timezone.utc), frozen=True)
    company = hubspot.crm.companies.basic_api.get_page(limit=1).results[0].id
    updated = hubspot.crm.companies.basic_api.update(company, {"properties": {"industry": "Energy"}})
    assert updated.updated_at == datetime(2032, 2, 2, tzinfo=timezone.utc)
    sandbox.advance_clock(timedelta(days=1))
    assert updated.properties["hs_lastmodifieddate"] == "2032-02-02T00:00:00.000Z"
