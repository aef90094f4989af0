"""A fresh, small sandbox per test, and the real clients pointed at it over 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hubspot import HubSpot
from simple_salesforce import Salesforce

from audiences_dagster.sandbox import Sandbox, running_sandbox

SMALL_WORLD = {"contacts": 30, "leads": 20, "hubspot_contacts": 30, "companies": 12}


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path / "crm.db", seed=SMALL_WORLD) as running:
        running.hubspot_settings.burst_limit = 10_000  # tests make many quick calls; limits are tested explicitly
        running.hubspot_settings.search_per_second = 1_000
        yield running


def trusting_session(sandbox: Sandbox) -> requests.Session:
    """Trust the sandbox's self-signed certificate; trust_env off so REQUESTS_CA_BUNDLE cannot override verify."""
    session = requests.Session()
    session.verify = str(sandbox.cert_path)
    session.trust_env = False
    return session


@pytest.fixture
def http(sandbox: Sandbox) -> requests.Session:
    return trusting_session(sandbox)


@pytest.fixture
def sf(sandbox: Sandbox, http: requests.Session) -> Salesforce:
    return Salesforce(instance_url=sandbox.salesforce_url, session_id=sandbox.salesforce_access_token(),
                      session=http, version="59.0")


@pytest.fixture
def hubspot(sandbox: Sandbox) -> HubSpot:
    return HubSpot(access_token=sandbox.hubspot_access_token, host=sandbox.hubspot_url)


def sf_headers(sf: Salesforce) -> dict[str, str]:
    return {"Authorization": f"Bearer {sf.session_id}"}
