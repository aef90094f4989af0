"""CSV import: upsert by unique id, skip when unchanged, fail early on a missing column, count batches."""

from __future__ import annotations

import hashlib
import os
import time

import pandas as pd
import pytest

from audiences_dagster.sources import csv_file
from audiences_dagster.sources.base import SourceError
from audiences_dagster.sources.importer import ImportReport
from audiences_dagster.sources.mapping import _row_hash
from audiences_dagster_tests.sources.interruptions import interrupt_second_batch
from audiences_dagster_tests.support import Workspace, people_source


def people(count: int, renamed: dict[str, str] | None = None) -> list[dict]:
    names = {f"p{i}": f"Name{i}" for i in range(count)} | (renamed or {})
    return [{"id": pid, "email": f"{pid}@acme.com", "linkedin": "", "first_name": name} for pid, name in names.items()]


def test_reimport_of_an_edited_file_updates_records_in_place(workspace: Workspace) -> None:
    workspace.write_csv("people.csv", people(3))
    workspace.configure({"crm": people_source("people.csv")})
    workspace.import_all()
    ids = {r["source_id"]: r["id"] for r in workspace.rows("source_people")}
    workspace.write_csv("people.csv", people(3, renamed={"p1": "Renamed"}))
    workspace.import_all()
    rows = workspace.rows("source_people")
    assert {r["source_id"]: r["id"] for r in rows} == ids
    assert [r["first_name"] for r in rows] == ["Name0", "Renamed", "Name2"]


def test_text_with_quotes_line_breaks_and_backslashes_is_stored_as_written(workspace: Workspace) -> None:
    names = {"p0": 'Ann "The Closer", Jr.', "p1": "two\nlines", "p2": "\\N", "p3": "back\\slash"}
    workspace.write_csv("people.csv", people(4, renamed=names))
    workspace.configure({"crm": people_source("people.csv")})

    workspace.import_all()

    assert {r["source_id"]: r["first_name"] for r in workspace.rows("source_people")} == names


def test_reimport_counts_inserted_updated_and_unchanged_rows(workspace: Workspace) -> None:
    workspace.write_csv("people.csv", people(3))
    workspace.configure({"crm": people_source("people.csv")})
    first = workspace.import_all()["crm"]
    workspace.write_csv("people.csv", people(5, renamed={"p1": "Renamed"}))
    second = workspace.import_all()["crm"]
    assert (first.counts.inserted, first.counts.updated, first.counts.unchanged) == (3, 0, 0)
    assert (second.counts.inserted, second.counts.updated, second.counts.unchanged) == (2, 1, 2)


def test_unchanged_file_and_mapping_are_skipped(workspace: Workspace) -> None:
    workspace.write_csv("people.csv", people(3))
    workspace.configure({"crm": people_source("people.csv")})
    workspace.import_all()
    report = workspace.import_all()["crm"]
    assert report.skipped == "file and mapping unchanged since the last complete import"
    assert report.rows_read == 0


def settle(path, monkeypatch, seconds_ago: int = 3600) -> int:
    """Date the file's last modification back, as an export written earlier looks, and wait out
    the window in which a just-changed file is always hashed (shortened to 0.2 s here: setting
    the time is a change too); returns that modification time."""
    monkeypatch.setattr(csv_file, "RACY_STAT_NS", 200_000_000)
    then = time.time_ns() - seconds_ago * 1_000_000_000
    os.utime(path, ns=(then, then))
    time.sleep(0.25)
    return then


def test_a_settled_unchanged_file_is_not_read_again(workspace: Workspace, monkeypatch) -> None:
    settle(workspace.write_csv("people.csv", people(3)), monkeypatch)
    workspace.configure({"crm": people_source("people.csv")})
    workspace.import_all()
    hashed, sha256 = [], hashlib.sha256

    def counting(*data):  # a file is hashed chunk by chunk into an empty digest
        hashed.extend([] if data else [1])
        return sha256(*data)

    monkeypatch.setattr(csv_file.hashlib, "sha256", counting)

    report = workspace.import_all()["crm"]

    assert report.skipped == "file and mapping unchanged since the last complete import"
    assert hashed == []


def test_a_copy_that_keeps_the_old_modification_time_is_read_again(workspace: Workspace, monkeypatch) -> None:
    path = workspace.write_csv("people.csv", people(3))
    settled = settle(path, monkeypatch)
    workspace.configure({"crm": people_source("people.csv")})
    workspace.import_all()

    workspace.write_csv("people.csv", people(3, renamed={"p1": "Name9"}))  # same size, as cp -p leaves it
    os.utime(path, ns=(settled, settled))
    time.sleep(0.25)  # past the window in which a just-changed file is always hashed
    report = workspace.import_all()["crm"]

    assert (report.counts.updated, report.counts.unchanged) == (1, 2)


def test_a_file_rewritten_while_its_time_was_recent_is_read_again(workspace: Workspace) -> None:
    path = workspace.write_csv("people.csv", people(3))
    written = os.stat(path).st_mtime_ns
    workspace.configure({"crm": people_source("people.csv")})
    workspace.import_all()

    workspace.write_csv("people.csv", people(3, renamed={"p1": "Name9"}))  # same size, within the same clock tick
    os.utime(path, ns=(written, written))
    report = workspace.import_all()["crm"]

    assert (report.counts.updated, report.counts.unchanged) == (1, 2)


def test_missing_column_fails_before_any_write_naming_file_and_column(workspace: Workspace) -> None:
    path = workspace.write_csv("people.csv", [{k: v for k, v in r.items() if k != "first_name"} for r in people(3)])
    workspace.configure({"crm": people_source("people.csv")})
    with pytest.raises(SourceError, match=f"sources.crm: {path} has no column\\(s\\) 'first_name'"):
        workspace.import_all()
    assert workspace.rows("source_people") == []
    assert workspace.rows("sync_state", order_by="source") == []


def test_csv_saved_with_a_byte_order_mark_imports(workspace: Workspace) -> None:
    (workspace.root / "people.csv").write_bytes(b"\xef\xbb\xbfid,email,linkedin,first_name\r\np1,ann@acme.com,,Ann\r\n")
    workspace.configure({"crm": people_source("people.csv")})
    assert workspace.import_all()["crm"].counts.inserted == 1


def test_interrupted_csv_import_resumes_after_the_last_committed_batch(
        workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace.write_csv("people.csv", people(5))
    workspace.configure({"crm": people_source("people.csv")}, batch_size=2)
    interrupt_second_batch(workspace, monkeypatch)
    assert len(workspace.rows("source_people")) == 2
    report = workspace.import_all()["crm"]
    assert (report.resumed, report.plan, report.rows_read) == (True, "resuming after row 2", 3)
    assert [r["source_id"] for r in workspace.rows("source_people")] == [f"p{i}" for i in range(5)]


@pytest.mark.parametrize(("rows", "batches"), [(5, 3), (6, 3)])
def test_batch_size_splits_the_file_into_batches(workspace: Workspace, rows: int, batches: int) -> None:
    workspace.write_csv("people.csv", people(rows))
    workspace.configure({"crm": people_source("people.csv")}, batch_size=2)
    report = workspace.import_all()["crm"]
    assert (report.batches, report.rows_read, report.counts.inserted) == (batches, rows, rows)


def test_small_import_reports_one_api_call(workspace: Workspace) -> None:
    workspace.write_csv("people.csv", people(3))
    workspace.configure({"crm": people_source("people.csv")})
    assert workspace.import_all()["crm"].as_metadata()["api_calls_at_50k"] == 1


@pytest.mark.parametrize(("rows", "calls"), [(0, 0), (1, 1), (50_000, 1), (50_001, 2), (1_234_567, 25)])
def test_api_calls_are_records_over_fifty_thousand_rounded_up(rows: int, calls: int) -> None:
    report = ImportReport(source="crm", entity="people", plan="", rows_read=rows)
    assert report.api_calls == calls
    assert report.as_metadata()["api_calls_at_50k"] == calls


def test_row_fingerprints_stay_those_stores_already_hold() -> None:
    """A changed fingerprint would make the next import rewrite (and re-resolve) every row."""
    frame = pd.DataFrame({"source_id": pd.Series(["a1", "b2"], dtype="string"),
                          "email": pd.Series(["ana@acme.com", None], dtype="string"), "seats": [3.0, None],
                          "seen": pd.to_datetime(["2025-01-02 03:04:05", "2025-01-02 00:00:00"])})

    assert _row_hash(frame, list(frame.columns)).tolist() == ["1225d9eb6661f519", "5d3eb72676e25d8a"]
