"""Salesforce tokens, expired sessions, server errors, the daily API limit, and secrets kept out of everything."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from audiences_dagster.sandbox import Sandbox
from audiences_dagster.sources.base import SourceError
from audiences_dagster.sources.salesforce_auth import SalesforceAuthError, SalesforceLimitExceeded
from audiences_dagster_tests.sources.salesforce_org import (
    JWT_CONNECTION, configure, contacts, live_ids, org,  # noqa: F401  (org is a fixture)
)
from audiences_dagster_tests.support import Workspace

TOKEN = re.compile(r"00D8d000000SBOX!")  # every access token the sandbox issues starts like this


def _contact_count(workspace: Workspace) -> int:
    table = workspace.store.tables.source("people")
    return workspace.store.count(table, table.c.source == "sf_contacts")


def test_jwt_bearer_flow_imports(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()}, connection=JWT_CONNECTION)
    assert workspace.import_all()["sf_contacts"].rows_read == 30


def test_expired_session_reauthenticates_once_and_goes_on(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()})
    org.inject_fault("salesforce", "unauthorized", count=1)
    assert workspace.import_all()["sf_contacts"].rows_read == 30


def test_session_expiring_between_runs_is_renewed(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()})
    workspace.import_all()
    org.expire_salesforce_sessions()
    org.advance_clock(timedelta(minutes=1))
    org.salesforce.update("Contact", live_ids(org, "Contact")[0], {"Title": "VP Sales"})
    assert workspace.import_all()["sf_contacts"].rows_read == 1


def test_a_second_401_after_reauthenticating_is_a_clear_error(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()})
    org.inject_fault("salesforce", "unauthorized", count=2)
    with pytest.raises(SalesforceAuthError, match="refused a freshly issued token"):
        workspace.import_all()
    assert _contact_count(workspace) == 0


def test_server_errors_are_retried_with_backoff(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()})
    org.inject_fault("salesforce", "server_error", count=2)
    assert workspace.import_all()["sf_contacts"].rows_read == 30


def test_a_failed_bulk_job_stops_the_import_with_its_reason(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()})
    org.inject_fault("salesforce", "bulk_job_failed")
    with pytest.raises(SourceError, match="ended Failed"):
        workspace.import_all()


def test_request_limit_stops_the_import_and_keeps_what_was_committed(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()}, batch_size=10)
    # token check, job create, two status checks, then two result pages; the third page is refused
    org.salesforce_settings.daily_api_requests = org.salesforce_usage.used + 6
    with pytest.raises(SalesforceLimitExceeded, match="rolling 24 hours.*back by .* UTC at the latest"):
        workspace.import_all()
    assert _contact_count(workspace) == 20
    assert workspace.store.sync_state("sf_contacts")["pass_open"]


def test_after_the_limit_window_the_full_sync_resumes_at_its_locator(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()}, batch_size=10)
    org.salesforce_settings.daily_api_requests = org.salesforce_usage.used + 6
    with pytest.raises(SalesforceLimitExceeded):
        workspace.import_all()
    org.salesforce_usage.reset()
    report = workspace.import_all()["sf_contacts"]
    assert report.resumed and report.rows_read == 10
    assert _contact_count(workspace) == 30 and report.deleted_in_source == 0
    assert not workspace.store.sync_state("sf_contacts")["pass_open"]


def test_api_usage_is_in_the_import_metadata(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()})
    metadata = workspace.import_all()["sf_contacts"].as_metadata()
    assert re.fullmatch(r"\d+/100000", metadata["api_usage"])
    assert int(metadata["api_usage"].split("/")[0]) == org.salesforce_usage.used


def test_wrong_client_secret_names_the_variable_never_the_value(workspace: Workspace, org: Sandbox,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    configure(workspace, {"sf_contacts": contacts()})
    monkeypatch.setenv("SF_CLIENT_SECRET", "not-the-secret-3f9a1c")
    with pytest.raises(SalesforceAuthError) as refused:
        workspace.import_all()
    assert "SF_CLIENT_SECRET" in str(refused.value) and "invalid_client" in str(refused.value)
    assert "not-the-secret-3f9a1c" not in str(refused.value)


def test_missing_credential_variable_is_named(workspace: Workspace, org: Sandbox,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    configure(workspace, {"sf_contacts": contacts()})
    monkeypatch.delenv("SF_CLIENT_ID")
    with pytest.raises(SalesforceAuthError, match="environment variable SF_CLIENT_ID is not set"):
        workspace.import_all()


def test_secrets_and_tokens_never_reach_metadata_cursor_or_errors(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()}, batch_size=10)
    secret = org.credentials.client_secret
    metadata = json.dumps(workspace.import_all()["sf_contacts"].as_metadata())
    org.inject_fault("salesforce", "unauthorized", count=2)
    with pytest.raises(SalesforceAuthError) as refused:
        workspace.import_all(full=True)
    state = json.dumps(workspace.store.sync_state("sf_contacts"), default=str)
    for text in (metadata, state, str(refused.value), repr(refused.value)):
        assert secret not in text and not TOKEN.search(text)
