"""A source that reports deletions (a CRM's IsDeleted rows, HubSpot's archived records) gets them
marked deleted in source on an ordinary incremental run: kept, flagged, and re-resolved."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from audiences_dagster.sources import importer
from audiences_dagster.sources.base import RawBatch
from audiences_dagster.sources.csv_file import CsvSource
from audiences_dagster_tests.support import Workspace, people_source

PEOPLE = [{"id": f"p{i}", "email": f"p{i}@acme.com", "linkedin": "", "first_name": f"Name{i}"} for i in range(3)]


class ReportsDeletions(CsvSource):
    """The CSV reader, with a deletion report riding on its last batch."""

    deleted: list[str] = []

    def batches(self, cursor: dict) -> Iterator[RawBatch]:
        batches = list(super().batches(cursor))
        batches[-1].deleted_ids = list(self.deleted)
        yield from batches


def test_reported_deletions_are_marked_and_kept(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace.write_csv("people.csv", PEOPLE)
    workspace.configure({"crm": people_source("people.csv")})
    workspace.run()
    monkeypatch.setitem(importer.READERS, "csv", ReportsDeletions)
    monkeypatch.setattr(ReportsDeletions, "deleted", ["p1", "p1", "never-imported"])
    workspace.write_csv("people.csv", PEOPLE[:2] + [{**PEOPLE[2], "first_name": "Changed"}])
    report = workspace.run()
    assert report["imports"]["crm"].deleted_in_source == 1
    rows = {r["source_id"]: r for r in workspace.rows("source_people")}
    assert [sid for sid, r in rows.items() if r["deleted_in_source"]] == ["p1"]
    deleted = {u["id"]: u["deleted_in_source"] for u in workspace.unified()}
    assert deleted[rows["p1"]["unified_id"]] and not deleted[rows["p0"]["unified_id"]]
