"""A small HubSpot sandbox and an audiences.yaml reading it: contacts linked to companies by
association, the access token in an environment variable as a user would set it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from audiences_dagster.sandbox import Sandbox, running_sandbox
from audiences_dagster_tests.support import Workspace

SMALL_WORLD = {"contacts": 1, "leads": 0, "hubspot_contacts": 30, "companies": 12}
TOKEN_ENV = "AUDIENCES_TEST_HUBSPOT_TOKEN"


@pytest.fixture
def crm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """The sandbox with its limits raised (rate-limit tests lower them again) and the token set."""
    with running_sandbox(tmp_path / "crm.db", seed=SMALL_WORLD) as sandbox:
        sandbox.hubspot_settings.burst_limit = 100_000
        sandbox.hubspot_settings.search_per_second = 100_000
        monkeypatch.setenv(TOKEN_ENV, sandbox.hubspot_access_token)
        yield sandbox


def hubspot_sources(company_link: bool = True) -> dict:
    contacts = {
        "kind": "hubspot", "connection": "hubspot", "object": "contacts", "entity": "people", "unique_id": "id",
        "fields": {"email": {"column": "email", "type": "email"}, "first_name": {"column": "firstname"},
                   "last_name": {"column": "lastname"}, "title": {"column": "jobtitle"},
                   "linkedin_url": {"column": "hs_linkedin_url", "type": "url"}},
    }
    if company_link:
        contacts["company"] = {"account_id_column": "associations.companies", "account_source": "hubspot_companies"}
    companies = {
        "kind": "hubspot", "connection": "hubspot", "object": "companies", "entity": "companies", "unique_id": "id",
        "fields": {"name": {"column": "name"}, "domain": {"column": "domain"},
                   "linkedin_url": {"column": "linkedin_company_page", "type": "url"}},
    }
    return {"hubspot_companies": companies, "hubspot_contacts": contacts}


def configure(workspace: Workspace, sandbox: Sandbox, company_link: bool = True, **settings):
    """audiences.yaml with one HubSpot connection to the sandbox and its two sources."""
    connections = {"hubspot": {"kind": "hubspot", "base_url": sandbox.hubspot_url, "access_token_env": TOKEN_ENV}}
    return workspace.configure(hubspot_sources(company_link), connections=connections, **settings)


def contact_ids(sandbox: Sandbox) -> list[str]:
    """Live HubSpot contact ids in the sandbox, oldest first."""
    with sandbox.db.read() as conn:
        rows = conn.execute("SELECT id FROM hs_object WHERE object_type = 'contacts' AND archived = 0 ORDER BY id")
        return [str(r["id"]) for r in rows]


def source_rows(workspace: Workspace, entity: str, source: str) -> dict[str, dict]:
    src = workspace.store.tables.source(entity)
    return {r["source_id"]: r for r in workspace.rows(src.name, src.c.source == source)}
