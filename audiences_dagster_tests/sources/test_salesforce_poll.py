"""The refresh sensor's cheap question to Salesforce: has anything changed since the last import?"""

from __future__ import annotations

from datetime import timedelta

from audiences_dagster.sandbox import Sandbox
from audiences_dagster.sources.importer import reader_for
from audiences_dagster.sources.base import PollResult
from audiences_dagster_tests.sources.salesforce_org import (
    configure, contacts, live_ids, org,  # noqa: F401  (org is a fixture)
)
from audiences_dagster_tests.support import Workspace


def _poll(workspace: Workspace) -> PollResult:
    reader = reader_for("sf_contacts", workspace.config)
    try:
        return reader.poll(workspace.store.sync_state("sf_contacts"))
    finally:
        reader.close()


def _synced(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()})
    workspace.import_all()
    org.advance_clock(timedelta(minutes=1))


def test_poll_before_any_sync_asks_for_one(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts()})
    result = _poll(workspace)
    assert result.changed and "no completed full sync" in result.detail


def test_poll_without_changes_says_nothing_changed(workspace: Workspace, org: Sandbox) -> None:
    _synced(workspace, org)
    used = org.salesforce_usage.used
    result = _poll(workspace)
    assert not result.changed and "nothing changed" in result.detail
    assert org.salesforce_usage.used == used + 1  # one API call


def test_poll_sees_a_changed_contact(workspace: Workspace, org: Sandbox) -> None:
    _synced(workspace, org)
    org.salesforce.update("Contact", live_ids(org, "Contact")[4], {"Title": "Director of Sales"})
    assert _poll(workspace).changed


def test_poll_sees_a_deleted_contact(workspace: Workspace, org: Sandbox) -> None:
    _synced(workspace, org)
    org.salesforce.delete("Contact", live_ids(org, "Contact")[4])
    assert _poll(workspace).changed


def test_poll_after_importing_the_change_is_quiet_again(workspace: Workspace, org: Sandbox) -> None:
    _synced(workspace, org)
    org.salesforce.update("Contact", live_ids(org, "Contact")[4], {"Title": "Director of Sales"})
    workspace.import_all()
    assert not _poll(workspace).changed


def test_poll_ignores_changes_outside_the_subset(workspace: Workspace, org: Sandbox) -> None:
    configure(workspace, {"sf_contacts": contacts(where="LeadSource = 'Web'")})
    workspace.import_all()
    org.advance_clock(timedelta(minutes=1))
    other = org.db.connection().execute(
        "SELECT \"Id\" FROM sf_contact WHERE \"LeadSource\" != 'Web' AND \"IsDeleted\" = 0 LIMIT 1").fetchone()[0]
    org.salesforce.update("Contact", other, {"Title": "Office Manager"})
    assert not _poll(workspace).changed
