"""A small Salesforce org in the CRM sandbox, the environment a connection reads, and sources over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from audiences_dagster.sandbox import Sandbox, running_sandbox
from audiences_dagster_tests.support import Workspace

SMALL_ORG = {"contacts": 30, "leads": 20, "hubspot_contacts": 0, "companies": 12}
CONNECTION = {
    "kind": "salesforce", "token_url_env": "SF_TOKEN_URL", "auth": "client_credentials",
    "client_id_env": "SF_CLIENT_ID", "client_secret_env": "SF_CLIENT_SECRET", "ca_bundle_env": "SF_CA_BUNDLE",
}
JWT_CONNECTION = {
    "kind": "salesforce", "token_url_env": "SF_TOKEN_URL", "auth": "jwt_bearer", "client_id_env": "SF_CLIENT_ID",
    "username_env": "SF_USERNAME", "private_key_path_env": "SF_JWT_KEY", "ca_bundle_env": "SF_CA_BUNDLE",
}
PEOPLE_FIELDS = {
    "first_name": {"column": "FirstName"}, "last_name": {"column": "LastName"},
    "email": {"column": "Email", "type": "email"}, "linkedin_url": {"column": "LinkedIn__c", "type": "url"},
    "title": {"column": "Title"},
}


@pytest.fixture
def org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """The sandbox seeded with a small org; the connection's environment variables point at it."""
    with running_sandbox(tmp_path / "crm.db", seed=SMALL_ORG) as sandbox:
        credentials = sandbox.credentials
        for name, value in {"SF_TOKEN_URL": sandbox.token_url, "SF_CLIENT_ID": credentials.client_id,
                            "SF_CLIENT_SECRET": credentials.client_secret, "SF_USERNAME": credentials.username,
                            "SF_JWT_KEY": str(credentials.jwt_key_path),
                            "SF_CA_BUNDLE": str(sandbox.cert_path)}.items():
            monkeypatch.setenv(name, value)
        yield sandbox


def contacts(**settings) -> dict:
    return {"kind": "salesforce", "connection": "org", "object": "Contact", "entity": "people",
            "unique_id": "Id", "fields": PEOPLE_FIELDS, **settings}


def leads(**settings) -> dict:
    fields = {**PEOPLE_FIELDS, "company_name": {"column": "Company"}}
    return {"kind": "salesforce", "connection": "org", "object": "Lead", "entity": "people", "unique_id": "Id",
            "fields": fields, "lead_conversion": {"column": "ConvertedContactId", "contact_source": "sf_contacts"},
            **settings}


def accounts(**settings) -> dict:
    return {"kind": "salesforce", "connection": "org", "object": "Account", "entity": "companies",
            "unique_id": "Id", "fields": {"name": {"column": "Name"}, "domain": {"column": "Website", "type": "url"},
                                          "employees": {"column": "NumberOfEmployees", "type": "number"}},
            **settings}


def configure(workspace: Workspace, sources: dict, connection: dict = CONNECTION, **settings):
    return workspace.configure(sources, connections={"org": connection}, **settings)


def live_ids(sandbox: Sandbox, sobject: str) -> list[str]:
    table = {"Contact": "sf_contact", "Lead": "sf_lead", "Account": "sf_account"}[sobject]
    rows = sandbox.db.connection().execute(f'SELECT "Id" FROM {table} WHERE "IsDeleted" = 0 ORDER BY seq')
    return [r[0] for r in rows]
