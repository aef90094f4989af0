"""People imports under a shrunk plan cap (the real caps are the config's; tests patch the growth one)."""

from __future__ import annotations

import pytest

from audiences_dagster.config.models import PLAN_RECORD_CAP, Plan
from audiences_dagster.sources.importer import ImportReport
from audiences_dagster_tests.support import Workspace, people_source


def person(i: int, name: str | None = None) -> dict:
    return {"id": f"p{i}", "email": f"person{i}@acme.com", "linkedin": "", "first_name": name or f"P{i}"}


@pytest.fixture
def cap_of(monkeypatch: pytest.MonkeyPatch):
    """Shrink the growth plan's cap for one test."""
    def set_cap(records: int) -> None:
        monkeypatch.setitem(PLAN_RECORD_CAP, Plan.growth, records)
    return set_cap


def import_people(workspace: Workspace, rows: list[dict], batch_size: int = 50_000) -> ImportReport:
    workspace.write_csv("people.csv", rows)
    if workspace.config is None:
        workspace.configure({"crm": people_source("people.csv")}, batch_size=batch_size)
    return workspace.import_all()["crm"]
