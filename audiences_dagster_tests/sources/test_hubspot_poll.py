"""The refresh sensor's cheap question to HubSpot: anything modified since the saved cursor?"""

from __future__ import annotations

from datetime import timedelta

from audiences_dagster.sandbox import Sandbox
from audiences_dagster.sources.base import PollResult
from audiences_dagster.sources.importer import reader_for
from audiences_dagster_tests.sources.hubspot_world import configure, contact_ids, crm
from audiences_dagster_tests.support import Workspace

__all__ = ["crm"]


def _poll(workspace: Workspace, name: str = "hubspot_contacts") -> PollResult:
    reader = reader_for(name, workspace.config)
    try:
        return reader.poll(workspace.store.sync_state(name))
    finally:
        reader.close()


def test_poll_before_any_import_reports_a_change(workspace: Workspace, crm: Sandbox) -> None:
    configure(workspace, crm)
    assert _poll(workspace).changed


def test_poll_after_an_import_with_nothing_modified_reports_no_change(workspace: Workspace, crm: Sandbox) -> None:
    configure(workspace, crm)
    workspace.run()
    result = _poll(workspace)
    assert not result.changed and result.detail.startswith("no contacts modified after")


def test_poll_reports_records_modified_since_the_cursor(workspace: Workspace, crm: Sandbox) -> None:
    configure(workspace, crm)
    workspace.run()
    crm.advance_clock(timedelta(minutes=20))
    crm.hubspot.update("contacts", contact_ids(crm)[2], {"jobtitle": "VP Sales"})
    result = _poll(workspace)
    assert result.changed and result.detail.startswith("1 contacts modified after")
    assert not _poll(workspace, "hubspot_companies").changed


def test_poll_uses_one_call(workspace: Workspace, crm: Sandbox) -> None:
    configure(workspace, crm)
    workspace.run()
    reader = reader_for("hubspot_contacts", workspace.config)
    reader.poll(workspace.store.sync_state("hubspot_contacts"))
    assert reader.account.calls == 1
