"""Sandbox CRM data from the demo generator's world: Salesforce Accounts, Contacts and Leads (some converted)
and HubSpot companies and contacts (partly the same people), fixed seed, inserted in bulk."""

from __future__ import annotations

import random
from dataclasses import dataclass

from audiences_dagster.demo.generator import (
    Company, CrmRecord, Person, crm_companies, crm_moment, crm_people,
)
from audiences_dagster.demo import demo_crm
from audiences_dagster.sandbox.clock import to_ms
from audiences_dagster.sandbox.database import SandboxDatabase
from audiences_dagster.sandbox.hubspot_records import HubSpotRecords
from audiences_dagster.sandbox.records import SalesforceRecords
from audiences_dagster.sandbox.schema import ACCOUNT, CONTACT, CONVERTED_LEAD_STATUS, LEAD

HUBSPOT_SHARE_OF_SALESFORCE_PEOPLE = 0.4
CONVERTED_SHARE = 0.08
LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Not Converted")
LEAD_SOURCES = ("Web", "Event", "Partner Referral", "Purchased List", "Other")


@dataclass(frozen=True)
class SeedCounts:
    accounts: int
    contacts: int
    leads: int
    converted_leads: int
    hubspot_companies: int
    hubspot_contacts: int


def sandbox_is_empty(db: SandboxDatabase) -> bool:
    conn = db.connection()
    return all(conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is None
               for table in (ACCOUNT.table, CONTACT.table, LEAD.table, "hs_object"))


def seed_sandbox(db: SandboxDatabase, salesforce: SalesforceRecords, hubspot: HubSpotRecords, *, seed: int = 7,
                 contacts: int = 1_000, leads: int | None = None, hubspot_contacts: int | None = None,
                 companies: int = 300) -> SeedCounts:
    """Write one deterministic world: `contacts` Salesforce Contacts, half as many Leads (8% converted into
    those Contacts) and `hubspot_contacts` HubSpot contacts, 40% of them people Salesforce also holds."""
    leads = contacts // 2 if leads is None else leads
    hubspot_contacts = contacts if hubspot_contacts is None else hubspot_contacts
    shared = min(int(hubspot_contacts * HUBSPOT_SHARE_OF_SALESFORCE_PEOPLE), contacts)
    rng = random.Random(f"audiences-sandbox:{seed}")
    world = crm_companies(seed, companies)
    converted = min(int(leads * CONVERTED_SHARE), contacts)
    people = crm_people(seed, contacts + (leads - converted) + (hubspot_contacts - shared), world)
    contact_people = people[:contacts]
    lead_people = people[contacts:contacts + leads - converted]
    hubspot_people = people[:shared] + people[contacts + leads - converted:]
    with db.write() as conn:
        account_ids = dict(zip([c.idx for c in world], salesforce.insert(
            conn, ACCOUNT, [_account(rng, c) for c in world], system=True)))
        contact_ids = salesforce.insert(conn, CONTACT, [_contact(rng, p, account_ids) for p in contact_people],
                                        system=True)
        converting = rng.sample(range(contacts), converted)
        lead_rows = [_lead(rng, p) for p in lead_people] + [
            _converted_lead(rng, contact_people[i], contact_ids[i], account_ids) for i in converting]
        salesforce.insert(conn, LEAD, lead_rows, system=True)
        company_ids = _hubspot_companies(conn, rng, hubspot, world)
        _hubspot_contacts(conn, rng, hubspot, hubspot_people, company_ids)
    return SeedCounts(len(world), contacts, len(lead_rows), converted, len(company_ids), len(hubspot_people))


def _stamps(rng: random.Random) -> tuple[int, int]:
    created = crm_moment(rng)
    return to_ms(created), to_ms(crm_moment(rng, after=created))


def _system_fields(rng: random.Random) -> dict:
    created, modified = _stamps(rng)
    return {"CreatedDate": created, "LastModifiedDate": modified, "SystemModstamp": modified}


def _account(rng: random.Random, company: Company) -> dict:
    return {"Name": company.name, "Website": f"https://www.{company.domain}/",
            "LinkedIn_Company__c": f"https://www.linkedin.com/company/{company.linkedin_slug}",
            "NumberOfEmployees": company.employees, "Industry": company.industry, **_system_fields(rng)}


def _contact(rng: random.Random, person: Person, account_ids: dict[int, str]) -> dict:
    return {"FirstName": person.first, "LastName": person.last, "Email": person.work_email, "Title": person.title,
            "Phone": person.phone, "LinkedIn__c": _linkedin(person), "AccountId": account_ids[person.company.idx],
            "LeadSource": rng.choice(LEAD_SOURCES), **_system_fields(rng)}


def _lead(rng: random.Random, person: Person) -> dict:
    email = person.work_email if rng.random() < 0.7 else person.personal_email
    return {"FirstName": person.first, "LastName": person.last, "Email": email, "Title": person.title,
            "Company": person.company.name, "Phone": person.phone, "LinkedIn__c": _linkedin(person),
            "Status": rng.choice(LEAD_STATUSES), "LeadSource": rng.choice(LEAD_SOURCES), "IsConverted": False,
            **_system_fields(rng)}


def _converted_lead(rng: random.Random, person: Person, contact_id: str, account_ids: dict[int, str]) -> dict:
    """A Lead converted into an existing Contact: the five conversion fields and a converted Status."""
    lead = _lead(rng, person)
    converted_on = crm_moment(rng).date().isoformat()
    lead.update(IsConverted=True, ConvertedDate=converted_on, ConvertedContactId=contact_id,
                ConvertedAccountId=account_ids[person.company.idx], Status=CONVERTED_LEAD_STATUS)
    return lead


def _linkedin(person: Person) -> str | None:
    return f"https://www.linkedin.com/in/{person.linkedin_slug}" if person.linkedin_slug else None


def _hubspot_companies(conn, rng: random.Random, hubspot: HubSpotRecords, world: list[Company]) -> dict[int, int]:
    rows = [{"name": c.name, "domain": c.domain, "website": f"https://www.{c.domain}", "industry": c.industry,
             "numberofemployees": str(c.employees), "country": c.country.upper(),
             "linkedin_company_page": f"https://www.linkedin.com/company/{c.linkedin_slug}"} for c in world]
    ids = hubspot.insert(conn, "companies", rows, system=True, stamps=[_stamps(rng) for _ in rows])
    return dict(zip([c.idx for c in world], ids))


def _hubspot_contacts(conn, rng: random.Random, hubspot: HubSpotRecords, people: list[Person],
                      company_ids: dict[int, int]) -> None:
    rows = [{"email": p.work_email, "firstname": p.first, "lastname": p.last, "jobtitle": p.title,
             "phone": p.phone, "company": p.company.name, "hs_linkedin_url": _linkedin(p) or "",
             "lifecyclestage": rng.choice(("subscriber", "lead", "marketingqualifiedlead", "customer")),
             "associatedcompanyid": str(company_ids[p.company.idx])} for p in people]
    ids = hubspot.insert(conn, "contacts", rows, system=True, stamps=[_stamps(rng) for _ in rows])
    conn.executemany("INSERT INTO hs_association (contact_id, company_id, is_primary) VALUES (?, ?, 1)",
                     [(i, company_ids[p.company.idx]) for i, p in zip(ids, people)])


def seed_demo_world(db: SandboxDatabase, salesforce: SalesforceRecords, hubspot: HubSpotRecords, *, seed: int = 7,
                    people: int = 3000, companies: int = 600) -> SeedCounts:
    """The demo's CRMs (demo.generator.demo_crm): the people and companies the demo's files and warehouse also
    hold, so imports through the connectors merge with them; duplicate Contacts end merged in Salesforce."""
    crm = demo_crm(seed, people, companies)
    with db.write() as conn:
        account_ids = dict(zip([r.key for r in crm.accounts],
                               salesforce.insert(conn, ACCOUNT, [_sf_fields(r) for r in crm.accounts], system=True)))
        contacts = [r for r in crm.contacts if r.duplicate_of is None]
        contact_ids = dict(zip([r.key for r in contacts], salesforce.insert(
            conn, CONTACT, [_sf_fields(r, AccountId=account_ids.get(r.company)) for r in contacts], system=True)))
        duplicates = [r for r in crm.contacts if r.duplicate_of is not None]
        duplicate_ids = salesforce.insert(
            conn, CONTACT, [_sf_fields(r, AccountId=account_ids.get(r.company)) for r in duplicates], system=True)
        companies_of = {r.key: r.company for r in contacts}
        salesforce.insert(conn, LEAD, [_demo_lead(r, contact_ids, account_ids, companies_of) for r in crm.leads],
                          system=True)
        company_ids = dict(zip([r.key for r in crm.hubspot_companies], hubspot.insert(
            conn, "companies", [_hs_fields(r) for r in crm.hubspot_companies], system=True,
            stamps=[_hs_stamps(r) for r in crm.hubspot_companies])))
        rows = [{**_hs_fields(r), "associatedcompanyid": str(company_ids[r.company])} for r in crm.hubspot_contacts]
        hubspot_ids = hubspot.insert(conn, "contacts", rows, system=True,
                                     stamps=[_hs_stamps(r) for r in crm.hubspot_contacts])
        conn.executemany("INSERT INTO hs_association (contact_id, company_id, is_primary) VALUES (?, ?, 1)",
                         [(i, company_ids[r.company]) for i, r in zip(hubspot_ids, crm.hubspot_contacts)])
    for record, duplicate_id in zip(duplicates, duplicate_ids):
        salesforce.merge("Contact", contact_ids[record.duplicate_of], [duplicate_id])
    converted = sum(r.converted_into is not None for r in crm.leads)
    return SeedCounts(len(crm.accounts), len(crm.contacts), len(crm.leads), converted,
                      len(crm.hubspot_companies), len(crm.hubspot_contacts))


def _sf_fields(record: CrmRecord, **references: str | None) -> dict:
    """Salesforce fields with blanks as nulls and the record's own created/modified stamps."""
    fields = {k: (None if v == "" else v) for k, v in {**record.fields, **references}.items()}
    modified = to_ms(record.modified)
    return {**fields, "CreatedDate": to_ms(record.created), "LastModifiedDate": modified, "SystemModstamp": modified}


def _demo_lead(record: CrmRecord, contact_ids: dict[int, str], account_ids: dict[int, str],
               companies: dict[int, int | None]) -> dict:
    """A Lead, open or converted into its person's Contact (and into the Account of that Contact's company)."""
    lead = {**_sf_fields(record), "Status": LEAD_STATUSES[record.key % 2], "IsConverted": False}
    if record.converted_into is not None:
        lead.update(IsConverted=True, ConvertedDate=record.modified.date().isoformat(),
                    ConvertedContactId=contact_ids[record.converted_into],
                    ConvertedAccountId=account_ids.get(companies[record.converted_into]),
                    Status=CONVERTED_LEAD_STATUS)
    return lead


def _hs_fields(record: CrmRecord) -> dict:
    return {k: v for k, v in record.fields.items() if v not in (None, "")}


def _hs_stamps(record: CrmRecord) -> tuple[int, int]:
    return to_ms(record.created), to_ms(record.modified)
