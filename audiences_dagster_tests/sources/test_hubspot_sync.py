"""HubSpot contacts and companies into the store through hubspot-api-client and the sandbox:
full sync, incremental, archived records, merges and contact-company associations."""

from __future__ import annotations

from datetime import timedelta

from audiences_dagster.sandbox import Sandbox
from audiences_dagster.sources.mapping import MERGE_KEY
from audiences_dagster_tests.sources.hubspot_world import configure, contact_ids, crm, source_rows
from audiences_dagster_tests.support import Workspace

__all__ = ["crm"]


def test_full_sync_imports_every_contact_and_company(workspace: Workspace, crm: Sandbox) -> None:
    configure(workspace, crm)
    report = workspace.run()
    contacts, companies = report["imports"]["hubspot_contacts"], report["imports"]["hubspot_companies"]
    assert contacts.plan == "full pass over HubSpot contacts" and contacts.counts.inserted == 30
    assert companies.counts.inserted == 12
    assert set(source_rows(workspace, "people", "hubspot_contacts")) == set(contact_ids(crm))
    assert len(workspace.unified("companies")) == 12


def test_incremental_reads_only_records_modified_since_the_last_import(workspace: Workspace, crm: Sandbox) -> None:
    configure(workspace, crm)
    workspace.run()
    crm.advance_clock(timedelta(hours=1))
    changed = contact_ids(crm)[4]
    crm.hubspot.update("contacts", changed, {"jobtitle": "Chief Revenue Officer"})
    added = crm.hubspot.create("contacts", {"email": "new.person@example-new.com", "firstname": "New"})
    report = workspace.run()["imports"]["hubspot_contacts"]
    assert report.plan.startswith("contacts modified since") and report.rows_read < 5
    assert (report.counts.inserted, report.counts.updated) == (1, 1)
    rows = source_rows(workspace, "people", "hubspot_contacts")
    assert rows[changed]["title"] == "Chief Revenue Officer" and str(added) in rows


def test_an_unchanged_source_reads_nothing_new(workspace: Workspace, crm: Sandbox) -> None:
    configure(workspace, crm)
    workspace.run()
    report = workspace.run()["imports"]["hubspot_contacts"]
    assert report.counts.inserted == report.counts.updated == 0


def test_archived_contact_is_marked_deleted_in_source(workspace: Workspace, crm: Sandbox) -> None:
    configure(workspace, crm)
    workspace.run()
    gone = contact_ids(crm)[0]
    crm.advance_clock(timedelta(minutes=30))
    crm.hubspot.archive("contacts", gone)
    report = workspace.run()["imports"]["hubspot_contacts"]
    assert report.deleted_in_source == 1
    rows = source_rows(workspace, "people", "hubspot_contacts")
    assert [sid for sid, r in rows.items() if r["deleted_in_source"]] == [gone]
    assert len(rows) == 30


def test_archived_contact_found_by_a_full_sync_is_marked_deleted(workspace: Workspace, crm: Sandbox) -> None:
    configure(workspace, crm)
    workspace.run()
    gone = contact_ids(crm)[3]
    crm.hubspot.archive("contacts", gone)
    report = workspace.run(full=True)["imports"]["hubspot_contacts"]
    assert report.plan == "full pass over HubSpot contacts" and report.deleted_in_source == 1
    rows = source_rows(workspace, "people", "hubspot_contacts")
    assert [sid for sid, r in rows.items() if r["deleted_in_source"]] == [gone]


def test_merged_contacts_become_one_unified_record(workspace: Workspace, crm: Sandbox) -> None:
    configure(workspace, crm)
    workspace.run()
    primary, other = contact_ids(crm)[:2]
    before = {workspace.unified_id_of("hubspot_contacts", i) for i in (primary, other)}
    assert len(before) == 2
    crm.advance_clock(timedelta(minutes=30))
    merged = str(crm.hubspot.merge("contacts", primary, other))
    workspace.run()
    unified = {workspace.unified_id_of("hubspot_contacts", i) for i in (primary, other, merged)}
    assert unified == {min(before)}
    rows = source_rows(workspace, "people", "hubspot_contacts")
    assert rows[primary]["deleted_in_source"] and rows[other]["deleted_in_source"]
    assert not rows[merged]["deleted_in_source"]
    person = next(u for u in workspace.unified() if u["id"] == min(before))
    assert not person["deleted_in_source"]
    reasons = {r["reason"] for r in workspace.rows("merge_log")}
    assert MERGE_KEY in reasons


def test_merge_seen_before_the_merged_away_records_still_makes_one_record(workspace: Workspace,
                                                                          crm: Sandbox) -> None:
    primary, other = contact_ids(crm)[:2]
    merged = str(crm.hubspot.merge("contacts", primary, other))
    configure(workspace, crm)
    workspace.run()
    rows = source_rows(workspace, "people", "hubspot_contacts")
    assert merged in rows and primary not in rows and other not in rows
    assert len(workspace.unified()) == 29


def test_contact_is_linked_to_its_associated_company(workspace: Workspace, crm: Sandbox) -> None:
    configure(workspace, crm)
    workspace.run()
    contact = contact_ids(crm)[0]
    with crm.db.read() as conn:
        company = str(conn.execute("SELECT company_id FROM hs_association WHERE contact_id = ?",
                                   (int(contact),)).fetchone()[0])
    rows = source_rows(workspace, "people", "hubspot_contacts")
    assert rows[contact]["company_account_id"] == company
    person = next(u for u in workspace.unified() if u["id"] == workspace.unified_id_of("hubspot_contacts", contact))
    assert person["company_id"] == workspace.unified_id_of("hubspot_companies", company, entity="companies")


def test_changed_contact_picks_up_its_new_primary_company(workspace: Workspace, crm: Sandbox) -> None:
    configure(workspace, crm)
    workspace.run()
    contact = contact_ids(crm)[0]
    with crm.db.read() as conn:
        other = str(conn.execute("SELECT id FROM hs_object WHERE object_type = 'companies' AND id NOT IN"
                                 " (SELECT company_id FROM hs_association WHERE contact_id = ?) ORDER BY id LIMIT 1",
                                 (int(contact),)).fetchone()[0])
    crm.advance_clock(timedelta(minutes=30))
    crm.hubspot.associate(contact, other, primary=True)
    crm.hubspot.update("contacts", contact, {"jobtitle": "Moved Company"})
    workspace.run()
    assert source_rows(workspace, "people", "hubspot_contacts")[contact]["company_account_id"] == other
    person = next(u for u in workspace.unified() if u["id"] == workspace.unified_id_of("hubspot_contacts", contact))
    assert person["company_id"] == workspace.unified_id_of("hubspot_companies", other, entity="companies")
