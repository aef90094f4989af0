"""A well-formed row with no cross-source key (no email, no LinkedIn URL) is a record of its own,
and still merges through lead conversion, CRM merges and a key it gains later."""

from __future__ import annotations

from datetime import timedelta

from audiences_dagster.sandbox import Sandbox
from audiences_dagster_tests.sources.hubspot_world import configure as configure_hubspot, crm
from audiences_dagster_tests.sources.salesforce_org import configure as configure_salesforce, contacts, org
from audiences_dagster_tests.support import Workspace, people_source

__all__ = ["crm", "org"]

CONTACT_COLUMNS = ["Id", "email", "linkedin", "first_name"]
LEAD_COLUMNS = [*CONTACT_COLUMNS, "ConvertedContactId"]
KEYLESS_CONTACT = {"Id": "003K", "email": "", "linkedin": "", "first_name": "Kay"}


def _configure(ws: Workspace, contacts: list[dict], leads: list[dict] | None = None) -> None:
    ws.write_csv("contacts.csv", contacts, CONTACT_COLUMNS)
    sources = {"sf_contacts": people_source("contacts.csv", unique_id="Id", tier="salesforce")}
    if leads is not None:
        ws.write_csv("leads.csv", leads, LEAD_COLUMNS)
        sources["sf_leads"] = people_source("leads.csv", unique_id="Id", tier="salesforce_lead", lead_conversion={
            "column": "ConvertedContactId", "contact_source": "sf_contacts"})
    ws.configure(sources)


def _lead(uid: str, converted_to: str = "", email: str = "", first_name: str = "K.") -> dict:
    return {"Id": uid, "email": email, "linkedin": "", "first_name": first_name, "ConvertedContactId": converted_to}


def test_a_keyless_contact_is_its_own_record(workspace: Workspace) -> None:
    _configure(workspace, [KEYLESS_CONTACT, {"Id": "003P", "email": "n/a", "linkedin": "-", "first_name": "Pat"}])

    reports = workspace.run()

    assert workspace.rows("quarantine", workspace.store.tables.quarantine.c.scope == "row") == []
    assert reports["imports"]["sf_contacts"].records_kept == 2
    people = {p["first_name"]: p for p in workspace.unified()}
    assert set(people) == {"Kay", "Pat"}
    assert people["Kay"]["id"] == workspace.unified_id_of("sf_contacts", "003K")
    assert people["Pat"]["email"] is None and people["Pat"]["linkedin_url"] is None


def test_two_keyless_contacts_never_merge(workspace: Workspace) -> None:
    _configure(workspace, [KEYLESS_CONTACT, {**KEYLESS_CONTACT, "Id": "003L"}])
    workspace.run()
    assert len(workspace.unified()) == 2
    assert workspace.rows("merge_log") == []


def test_a_lead_converting_into_a_keyless_contact_merges_when_the_contact_arrives_first(workspace: Workspace) -> None:
    _configure(workspace, [KEYLESS_CONTACT], [])
    workspace.run()
    contact_id = workspace.unified_id_of("sf_contacts", "003K")
    _configure(workspace, [KEYLESS_CONTACT], [_lead("00QK", "003K", email="kay@oldco.com")])
    workspace.run()
    [person] = workspace.unified()
    assert person["id"] == contact_id == workspace.unified_id_of("sf_leads", "00QK")
    assert (person["first_name"], person["email"]) == ("Kay", "kay@oldco.com")
    [merge] = workspace.rows("merge_log")
    assert (merge["reason"], merge["key_value"]) == ("lead_conversion", "sf_contacts:003K")


def test_a_keyless_lead_converting_into_a_keyless_contact_merges_when_the_lead_arrives_first(
        workspace: Workspace) -> None:
    _configure(workspace, [], [_lead("00QK", "003K")])
    workspace.run()
    lead_id = workspace.unified_id_of("sf_leads", "00QK")
    _configure(workspace, [KEYLESS_CONTACT], [_lead("00QK", "003K")])
    workspace.run()
    [person] = workspace.unified()
    assert person["id"] == lead_id == workspace.unified_id_of("sf_contacts", "003K")
    assert person["first_name"] == "Kay"  # the contact's tier beats the lead's


def test_a_keyless_record_that_gains_an_email_merges_and_keeps_its_older_id(workspace: Workspace) -> None:
    workspace.write_csv("events.csv", [{"id": "e1", "email": "kay@acme.com", "linkedin": "", "first_name": "Kay E."}])
    _configure(workspace, [KEYLESS_CONTACT])
    workspace.run()
    contact_id = workspace.unified_id_of("sf_contacts", "003K")
    workspace.configure({
        "sf_contacts": people_source("contacts.csv", unique_id="Id", tier="salesforce"),
        "events": people_source("events.csv"),
    })
    workspace.run()
    assert len(workspace.unified()) == 2

    workspace.write_csv("contacts.csv", [{**KEYLESS_CONTACT, "email": "Kay@Acme.com"}], CONTACT_COLUMNS)
    workspace.run()

    [person] = workspace.unified()
    assert person["id"] == contact_id == workspace.unified_id_of("events", "e1")
    assert (person["email"], person["first_name"]) == ("kay@acme.com", "Kay")
    [merge] = workspace.rows("merge_log")
    assert (merge["survivor_id"], merge["reason"]) == (contact_id, "email")


def test_a_keyless_hubspot_contact_merged_in_hubspot_merges(workspace: Workspace, crm: Sandbox) -> None:
    first = crm.hubspot.create("contacts", {"firstname": "Kay", "lastname": "Keyless"})
    second = crm.hubspot.create("contacts", {"firstname": "Kay", "lastname": "K.", "jobtitle": "CFO"})
    configure_hubspot(workspace, crm)
    workspace.run()
    before = {workspace.unified_id_of("hubspot_contacts", str(i)) for i in (first, second)}
    assert len(before) == 2 and None not in before
    crm.advance_clock(timedelta(minutes=30))
    merged = str(crm.hubspot.merge("contacts", first, second))

    workspace.run()

    after = {workspace.unified_id_of("hubspot_contacts", i) for i in (str(first), str(second), merged)}
    assert after == {min(before)}
    assert {r["reason"] for r in workspace.rows("merge_log")} == {"crm_merge"}


def test_a_keyless_salesforce_contact_merged_in_salesforce_merges(workspace: Workspace, org: Sandbox) -> None:
    configure_salesforce(workspace, {"sf_contacts": contacts()})
    master = org.salesforce.create("Contact", {"FirstName": "Kenji", "LastName": "Ito", "Title": "CFO"})
    duplicate = org.salesforce.create("Contact", {"FirstName": "K.", "LastName": "Ito"})
    workspace.run()
    before = {workspace.unified_id_of("sf_contacts", i) for i in (master, duplicate)}
    assert len(before) == 2 and None not in before
    org.advance_clock(timedelta(minutes=1))
    org.salesforce.merge("Contact", master, [duplicate])

    result = workspace.run()

    assert workspace.unified_id_of("sf_contacts", master) == workspace.unified_id_of("sf_contacts", duplicate)
    assert result["people"].merges["crm_merge"] == 1
