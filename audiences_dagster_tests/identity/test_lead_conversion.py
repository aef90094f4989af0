"""Salesforce Lead conversion: a converted Lead joins its Contact's person, whichever arrives first."""

from __future__ import annotations

from audiences_dagster_tests.support import Workspace, people_source

CONTACT_COLUMNS = ["Id", "email", "linkedin", "first_name"]
LEAD_COLUMNS = ["Id", "email", "linkedin", "first_name", "ConvertedContactId"]
CONTACT = {"Id": "003A", "email": "jane@newco.com", "linkedin": "", "first_name": "Jane"}


def _lead(uid: str, email: str, converted_to: str = "", first_name: str = "J.") -> dict:
    return {"Id": uid, "email": email, "linkedin": "", "first_name": first_name, "ConvertedContactId": converted_to}


def _configure(ws: Workspace, leads: list[dict], contacts: list[dict]) -> None:
    ws.write_csv("leads.csv", leads, LEAD_COLUMNS)
    ws.write_csv("contacts.csv", contacts, CONTACT_COLUMNS)
    ws.configure({
        "sf_contacts": people_source("contacts.csv", unique_id="Id", tier="salesforce"),
        "sf_leads": people_source("leads.csv", unique_id="Id", tier="salesforce_lead", lead_conversion={
            "column": "ConvertedContactId", "contact_source": "sf_contacts"}),
    })


def test_converted_lead_merges_into_contact_when_contact_arrives_first(workspace: Workspace) -> None:
    _configure(workspace, [], [CONTACT])
    workspace.run()
    contact_id = workspace.unified_id_of("sf_contacts", "003A")
    _configure(workspace, [_lead("00QA", "jane@oldco.com", "003A")], [CONTACT])
    workspace.run()
    [person] = workspace.unified()
    assert person["id"] == contact_id == workspace.unified_id_of("sf_leads", "00QA")
    assert (person["email"], person["first_name"]) == ("jane@newco.com", "Jane")


def test_converted_lead_merges_into_contact_when_lead_arrives_first(workspace: Workspace) -> None:
    _configure(workspace, [_lead("00QA", "jane@oldco.com", "003A")], [])
    workspace.run()
    lead_id = workspace.unified_id_of("sf_leads", "00QA")
    _configure(workspace, [_lead("00QA", "jane@oldco.com", "003A")], [CONTACT])
    workspace.run()
    [person] = workspace.unified()
    assert person["id"] == lead_id == workspace.unified_id_of("sf_contacts", "003A")
    assert (person["email"], person["first_name"]) == ("jane@newco.com", "Jane")


def test_lead_converted_in_a_later_run_merges_into_its_contact(workspace: Workspace) -> None:
    _configure(workspace, [_lead("00QA", "jane@oldco.com")], [CONTACT])
    workspace.run()
    assert len(workspace.unified()) == 2
    _configure(workspace, [_lead("00QA", "jane@oldco.com", "003A")], [CONTACT])
    workspace.run()
    assert len(workspace.unified()) == 1


def test_several_leads_converting_to_one_contact_land_on_one_record(workspace: Workspace) -> None:
    leads = [_lead("00QA", "jane@oldco.com", "003A"), _lead("00QB", "j.doe@startup.io", "003A"),
             _lead("00QC", "jane.doe@gmail.com", "003A")]
    _configure(workspace, leads, [CONTACT])
    workspace.run()
    [person] = workspace.unified()
    ids = {workspace.unified_id_of("sf_leads", lead["Id"]) for lead in leads}
    assert ids == {workspace.unified_id_of("sf_contacts", "003A")} == {person["id"]}


def test_lead_conversion_is_the_logged_merge_reason(workspace: Workspace) -> None:
    _configure(workspace, [_lead("00QA", "jane@oldco.com", "003A")], [CONTACT])
    workspace.run()
    [merge] = workspace.rows("merge_log")
    assert (merge["reason"], merge["key_value"]) == ("lead_conversion", "sf_contacts:003A")


def test_unconverted_lead_stays_its_own_person(workspace: Workspace) -> None:
    _configure(workspace, [_lead("00QA", "jane@oldco.com"), _lead("00QB", "bob@oldco.com", "003B")], [CONTACT])
    workspace.run()
    assert len(workspace.unified()) == 3
    assert workspace.rows("merge_log") == []
