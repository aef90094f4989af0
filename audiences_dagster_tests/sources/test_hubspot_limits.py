"""HubSpot's limits and failures: 429s wait as the response says, 5xx are retried, a DAILY limit
stops the run with its reason, and a rejected token names the variable to fix (never the token)."""

from __future__ import annotations

import logging
import time

import pytest

from audiences_dagster.sandbox import Sandbox
from audiences_dagster.sources.hubspot_calls import HubSpotAuthError, HubSpotDailyLimitError
from audiences_dagster_tests.sources.hubspot_world import TOKEN_ENV, configure, crm, source_rows
from audiences_dagster_tests.support import Workspace

__all__ = ["crm"]


def test_burst_limit_is_waited_out_and_the_import_completes(workspace: Workspace, crm: Sandbox) -> None:
    crm.hubspot_settings.burst_limit, crm.hubspot_settings.burst_interval_ms = 4, 400
    configure(workspace, crm, batch_size=5)  # 5 records a call: more calls than the burst allows
    started = time.perf_counter()
    workspace.run()
    assert time.perf_counter() - started >= 0.4
    assert len(source_rows(workspace, "people", "hubspot_contacts")) == 30


def test_rate_limited_call_waits_one_interval_from_the_headers(workspace: Workspace, crm: Sandbox,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    configure(workspace, crm)
    crm.hubspot_settings.burst_interval_ms = 300
    crm.inject_fault("hubspot", "rate_limited", count=2)
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING):
        workspace.run()
    assert time.perf_counter() - started >= 0.6
    assert "rate limited (TEN_SECONDLY_ROLLING)" in caplog.text and crm.hubspot_access_token not in caplog.text
    assert len(source_rows(workspace, "people", "hubspot_contacts")) == 30


def test_retry_after_header_is_honoured(workspace: Workspace, crm: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    configure(workspace, crm)
    crm.hubspot_settings.send_retry_after = True
    crm.inject_fault("hubspot", "rate_limited", count=1)
    with caplog.at_level(logging.WARNING):
        workspace.run()
    assert "waiting 1.0 s" in caplog.text
    assert len(source_rows(workspace, "people", "hubspot_contacts")) == 30


def test_daily_limit_stops_the_import_and_keeps_what_was_imported(workspace: Workspace, crm: Sandbox) -> None:
    configure(workspace, crm)
    workspace.run()
    crm.inject_fault("hubspot", "rate_limited", count=1, policy="DAILY")
    with pytest.raises(HubSpotDailyLimitError, match="daily API limit is used up"):
        workspace.run()
    assert len(source_rows(workspace, "people", "hubspot_contacts")) == 30


def test_server_errors_are_retried_until_hubspot_recovers(workspace: Workspace, crm: Sandbox) -> None:
    configure(workspace, crm)
    crm.inject_fault("hubspot", "server_error", count=2)
    workspace.run()
    assert len(source_rows(workspace, "people", "hubspot_contacts")) == 30
    assert len(source_rows(workspace, "companies", "hubspot_companies")) == 12


def test_rejected_token_names_the_variable_and_never_the_token(workspace: Workspace, crm: Sandbox,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    configure(workspace, crm)
    monkeypatch.setenv(TOKEN_ENV, "pat-na1-revoked-secret-value")
    with pytest.raises(HubSpotAuthError) as caught:
        workspace.run()
    message = str(caught.value)
    assert "401 INVALID_AUTHENTICATION" in message and TOKEN_ENV in message
    assert "revoked-secret-value" not in message
    assert source_rows(workspace, "people", "hubspot_contacts") == {}


def test_missing_token_variable_is_named(workspace: Workspace, crm: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(workspace, crm)
    monkeypatch.delenv(TOKEN_ENV)
    with pytest.raises(HubSpotAuthError, match=f"environment variable {TOKEN_ENV} is not set"):
        workspace.run()
