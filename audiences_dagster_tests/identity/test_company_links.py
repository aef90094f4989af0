"""People link to their company by CRM account id, company domain, or (if enabled) email domain."""

from __future__ import annotations

from audiences_dagster_tests.identity.records import unified_record
from audiences_dagster_tests.support import Workspace, people_source

ACCOUNT_COLUMNS = ["Id", "name", "website"]
ACCOUNTS = [{"Id": "001A", "name": "Acme", "website": "https://www.acme.com"},
            {"Id": "001B", "name": "Globex", "website": "globex.co.uk"},
            {"Id": "001G", "name": "Google", "website": "gmail.com"}]
BY_ACCOUNT = {"account_id_column": "AccountId", "account_source": "accounts"}


def _person(email: str, **columns: str) -> dict:
    return {"id": "p1", "email": email, "linkedin": "", "first_name": "", **columns}


def _import(ws: Workspace, person: dict, company: dict | None = None, accounts: list[dict] = ACCOUNTS,
            **settings) -> None:
    ws.write_csv("accounts.csv", accounts, ACCOUNT_COLUMNS)
    ws.write_csv("people.csv", [person])
    companies = {"kind": "csv", "entity": "companies", "path": "accounts.csv", "unique_id": "Id",
                 "tier": "salesforce", "fields": {"name": {"column": "name"}, "domain": {"column": "website"}}}
    people = people_source("people.csv", **({"company": company} if company else {}))
    ws.configure({"accounts": companies, "people": people}, **settings)
    ws.run()


def _company_of_person(ws: Workspace) -> int | None:
    return unified_record(ws, "people", "p1")["company_id"]


def _company(ws: Workspace, account_id: str) -> int | None:
    return ws.unified_id_of("accounts", account_id, "companies")


def test_person_links_to_company_by_crm_account_id(workspace: Workspace) -> None:
    _import(workspace, _person("jane@acme.com", AccountId="001B"), company=BY_ACCOUNT)
    assert _company_of_person(workspace) == _company(workspace, "001B")


def test_person_links_to_company_by_company_domain_column(workspace: Workspace) -> None:
    _import(workspace, _person("jane@gmail.com", company_website="http://shop.globex.co.uk/"),
            company={"domain_column": "company_website"})
    assert _company_of_person(workspace) == _company(workspace, "001B")


def test_person_links_to_company_by_email_domain_when_enabled(workspace: Workspace) -> None:
    _import(workspace, _person("jane@eu.acme.com"), identity={"link_people_by_email_domain": True})
    assert _company_of_person(workspace) == _company(workspace, "001A")


def test_free_mail_domain_never_links_a_company(workspace: Workspace) -> None:
    _import(workspace, _person("jane@gmail.com"), identity={"link_people_by_email_domain": True})
    assert _company_of_person(workspace) is None


def test_person_imported_before_their_company_links_once_it_arrives(workspace: Workspace) -> None:
    _import(workspace, _person("jane@gmail.com", AccountId="001A"), company=BY_ACCOUNT, accounts=[])
    assert _company_of_person(workspace) is None
    workspace.write_csv("accounts.csv", ACCOUNTS, ACCOUNT_COLUMNS)
    workspace.run()
    assert _company_of_person(workspace) == _company(workspace, "001A")
