"""Salesforce Contact, Lead and Account through simple-salesforce against the sandbox, into SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from audiences_dagster.sandbox import Sandbox
from audiences_dagster.sources.base import SourceError
from audiences_dagster.sources.importer import import_source
from audiences_dagster_tests.sources.salesforce_org import (
    accounts, configure, contacts, leads, live_ids, org,  # noqa: F401  (org is a fixture)
)
from audiences_dagster_tests.support import Workspace


def _source_rows(workspace: Workspace, source: str, entity: str = "people") -> list[dict]:
    table = workspace.store.tables.source(entity)
    return workspace.rows(f"source_{entity}", table.c.source == source)


def _later(sandbox: Sandbox) -> None:
    """Changes after an import happen later on the sandbox clock, as they would in a real org."""
    sandbox.advance_clock(timedelta(minutes=1))


def test_full_sync_imports_every_contact(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()})
    report = workspace.import_all()["sf_contacts"]
    rows = _source_rows(workspace, "sf_contacts")
    assert "Bulk API 2.0" in report.plan
    assert sorted(r["source_id"] for r in rows) == sorted(live_ids(org, "Contact"))
    assert {(r["object"], r["tier"]) for r in rows} == {("Contact", "salesforce")}
    assert all(r["source_updated_at"] is not None for r in rows)


def test_full_sync_reads_bulk_results_page_by_page(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()}, batch_size=7)
    report = workspace.import_all()["sf_contacts"]
    assert (report.rows_read, report.batches) == (30, 5)
    assert len(_source_rows(workspace, "sf_contacts")) == 30


def test_leads_import_at_the_lead_tier(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts(), "sf_leads": leads()})
    workspace.import_all()
    rows = _source_rows(workspace, "sf_leads")
    assert sorted(r["source_id"] for r in rows) == sorted(live_ids(org, "Lead"))
    assert {(r["object"], r["tier"]) for r in rows} == {("Lead", "salesforce_lead")}


def test_accounts_import_as_companies(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_accounts": accounts()})
    workspace.import_all()
    rows = _source_rows(workspace, "sf_accounts", "companies")
    assert sorted(r["source_id"] for r in rows) == sorted(live_ids(org, "Account"))
    assert all(r["domain"] for r in rows)


def test_only_mapped_fields_and_system_fields_are_selected(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts(), "sf_leads": leads()})
    workspace.import_all()
    jobs = [json.loads(r[0]) for r in org.db.connection().execute("SELECT info FROM sf_bulk_job ORDER BY id")]
    selects = {job["object"]: job["_query"].split(" FROM ")[0].removeprefix("SELECT ").split(", ") for job in jobs}
    system = ["Id", "SystemModstamp", "IsDeleted", "MasterRecordId"]
    mapped = ["FirstName", "LastName", "Email", "LinkedIn__c", "Title"]
    assert selects["Contact"] == system + mapped
    assert selects["Lead"] == system + ["ConvertedContactId", "IsConverted"] + mapped + ["Company"]


def test_incremental_reads_only_changed_contacts(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()})
    workspace.import_all()
    changed = live_ids(org, "Contact")[3]
    _later(org)
    org.salesforce.update("Contact", changed, {"Title": "Chief Revenue Officer"})
    report = workspace.import_all()["sf_contacts"]
    assert "changed or deleted since" in report.plan
    assert (report.rows_read, report.counts.updated) == (1, 1)
    row = next(r for r in _source_rows(workspace, "sf_contacts") if r["source_id"] == changed)
    assert row["title"] == "Chief Revenue Officer"


def test_incremental_picks_up_new_contacts(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()})
    workspace.import_all()
    _later(org)
    new_id = org.salesforce.create("Contact", {"LastName": "Okafor", "Email": "ada.okafor@lumenhealth.com"})
    report = workspace.import_all()["sf_contacts"]
    assert report.counts.inserted == 1
    assert new_id in {r["source_id"] for r in _source_rows(workspace, "sf_contacts")}


def test_overlap_window_never_reimports_what_was_read(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()})
    workspace.import_all()
    _later(org)
    org.salesforce.update("Contact", live_ids(org, "Contact")[0], {"Title": "Head of Growth"})
    workspace.import_all()
    org.advance_clock(timedelta(seconds=20))  # still inside the overlap window of the last read
    assert workspace.import_all()["sf_contacts"].rows_read == 0


def test_soft_deleted_contact_is_deleted_in_source(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()})
    workspace.import_all()
    gone = live_ids(org, "Contact")[5]
    _later(org)
    org.salesforce.delete("Contact", gone)
    report = workspace.import_all()["sf_contacts"]
    assert report.deleted_in_source == 1
    deleted = [r["source_id"] for r in _source_rows(workspace, "sf_contacts") if r["deleted_in_source"]]
    assert deleted == [gone]


def test_hard_delete_is_found_by_the_next_full_sync(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()})
    workspace.import_all()
    gone = live_ids(org, "Contact")[7]
    _later(org)
    org.salesforce.hard_delete("Contact", gone)
    assert workspace.import_all()["sf_contacts"].deleted_in_source == 0  # an incremental cannot see it
    report = workspace.import_all(full=True)["sf_contacts"]
    assert "Bulk API" in report.plan and report.deleted_in_source == 1
    deleted = [r["source_id"] for r in _source_rows(workspace, "sf_contacts") if r["deleted_in_source"]]
    assert deleted == [gone]


def test_undeleted_contact_is_live_again(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()})
    workspace.import_all()
    record = live_ids(org, "Contact")[2]
    _later(org)
    org.salesforce.delete("Contact", record)
    workspace.import_all()
    _later(org)
    org.salesforce.undelete("Contact", record)
    workspace.import_all()
    row = next(r for r in _source_rows(workspace, "sf_contacts") if r["source_id"] == record)
    assert not row["deleted_in_source"]


def test_subset_reads_only_matching_records(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_leads": leads(where="LeadSource = 'Web'", lead_conversion=None)})
    workspace.import_all()
    web = {r[0] for r in org.db.connection().execute(
        "SELECT \"Id\" FROM sf_lead WHERE \"LeadSource\" = 'Web' AND \"IsDeleted\" = 0")}
    assert web and {r["source_id"] for r in _source_rows(workspace, "sf_leads")} == web


def test_contacts_link_to_their_account(workspace: Workspace, org: Sandbox) -> None:
    link = {"account_id_column": "AccountId", "account_source": "sf_accounts"}
    configure(workspace, {"sf_accounts": accounts(), "sf_contacts": contacts(company=link)})
    workspace.run()
    people = workspace.unified("people")
    assert people and all(p["company_id"] is not None for p in people)


def _two_people(org: Sandbox) -> tuple[str, str]:
    first = org.salesforce.create("Contact", {"LastName": "Ito", "Email": "kenji.ito@northwindtraders.com"})
    second = org.salesforce.create("Contact", {"LastName": "Ito", "Email": "kenji.ito.home@gmail.com"})
    return first, second


def test_merged_contact_joins_its_master(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()})
    master, duplicate = _two_people(org)
    workspace.run()
    assert workspace.unified_id_of("sf_contacts", master) != workspace.unified_id_of("sf_contacts", duplicate)
    _later(org)
    org.salesforce.merge("Contact", master, [duplicate])
    result = workspace.run()
    assert workspace.unified_id_of("sf_contacts", master) == workspace.unified_id_of("sf_contacts", duplicate)
    assert result["imports"]["sf_contacts"].deleted_in_source == 1
    assert result["people"].merges["crm_merge"] == 1


def test_contact_merged_before_the_first_import_still_joins_its_master(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()})
    master, duplicate = _two_people(org)
    org.salesforce.merge("Contact", master, [duplicate])
    workspace.run()
    assert workspace.unified_id_of("sf_contacts", duplicate) == workspace.unified_id_of("sf_contacts", master)
    row = next(r for r in _source_rows(workspace, "sf_contacts") if r["source_id"] == duplicate)
    assert row["deleted_in_source"]


def _converted_lead(org: Sandbox) -> tuple[str, str]:
    """A lead and an existing contact with different emails: only the conversion can link them."""
    contact = org.salesforce.create("Contact", {"LastName": "Moreau", "Email": "claire.moreau@acmeindustrial.com"})
    lead = org.salesforce.create("Lead", {"LastName": "Moreau", "Company": "Acme",
                                          "Email": "cmoreau@gmail.com"})
    org.salesforce.convert_lead(lead, contact_id=contact)
    return lead, contact


def test_converted_lead_merges_with_its_contact_when_the_lead_arrives_first(workspace: Workspace,
                                                                              org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts(), "sf_leads": leads()})
    lead, contact = _converted_lead(org)
    import_source(workspace.store, workspace.config, "sf_leads", "run-1")
    workspace.unify_all()
    import_source(workspace.store, workspace.config, "sf_contacts", "run-2")
    workspace.unify_all()
    assert workspace.unified_id_of("sf_leads", lead) == workspace.unified_id_of("sf_contacts", contact)


def test_converted_lead_merges_with_its_contact_when_the_contact_arrives_first(workspace: Workspace,
                                                                                org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts(), "sf_leads": leads()})
    lead, contact = _converted_lead(org)
    import_source(workspace.store, workspace.config, "sf_contacts", "run-1")
    workspace.unify_all()
    import_source(workspace.store, workspace.config, "sf_leads", "run-2")
    result = workspace.unify_all()
    assert workspace.unified_id_of("sf_leads", lead) == workspace.unified_id_of("sf_contacts", contact)
    assert result["people"].merges["lead_conversion"] >= 1


def test_lead_converted_after_import_merges_on_the_next_incremental(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts(), "sf_leads": leads()})
    contact = org.salesforce.create("Contact", {"LastName": "Haddad", "Email": "rami@haddadlogistics.com"})
    lead = org.salesforce.create("Lead", {"LastName": "Haddad", "Company": "Haddad", "Email": "rhaddad@yahoo.com"})
    workspace.run()
    assert workspace.unified_id_of("sf_leads", lead) != workspace.unified_id_of("sf_contacts", contact)
    _later(org)
    org.salesforce.convert_lead(lead, contact_id=contact)
    workspace.run()
    assert workspace.unified_id_of("sf_leads", lead) == workspace.unified_id_of("sf_contacts", contact)


def test_subset_matching_nothing_completes_an_empty_full_sync(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts(where="LeadSource = 'No such source'")})
    report = workspace.import_all()["sf_contacts"]
    assert report.rows_read == 0 and not workspace.store.sync_state("sf_contacts")["pass_open"]
    _later(org)
    org.salesforce.update("Contact", live_ids(org, "Contact")[0], {"LeadSource": "No such source"})
    assert workspace.import_all()["sf_contacts"].rows_read == 1


def test_unknown_field_fails_before_anything_is_written(workspace: Workspace, org: Sandbox) -> None:
    fields = {"email": {"column": "Email", "type": "email"}, "nickname": {"column": "Nickname__c"}}
    configure(workspace, {"sf_contacts": contacts(fields=fields)})
    with pytest.raises(SourceError, match="INVALID_FIELD.*Nickname__c"):
        workspace.import_all()
    assert _source_rows(workspace, "sf_contacts") == []
