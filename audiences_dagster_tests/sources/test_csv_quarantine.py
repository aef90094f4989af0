"""Malformed CSV rows are quarantined with reason and raw row; invalid values alone are dropped."""

from __future__ import annotations

import json

import pytest

from audiences_dagster.sources.importer import ImportReport
from audiences_dagster_tests.support import Workspace, people_source

HEADER = b"id,email,linkedin,first_name,born,score,active,phone"
VALID = [b"p1,ann@acme.com,,Ann,2020-01-31,1.5,yes,", b"p3,cid@acme.com,,Cid,2021-02-01,2,no,"]
MALFORMED = {
    "missing_unique_id": b",bob@acme.com,,Bob,2020-01-01,1,no,",
    "unparsable_date": b"m1,bob@acme.com,,Bob,not a date,1,no,",
    "unparsable_number": b"m2,bob@acme.com,,Bob,2020-01-01,one,no,",
    "unparsable_boolean": b"m3,bob@acme.com,,Bob,2020-01-01,1,maybe,",
    "undecodable_bytes": b"m4,bob@acme.com,,B\xe9b,2020-01-01,1,no,",
    "value_too_long": b"m5,bob@acme.com,,Bob" + b"o" * 40 + b",2020-01-01,1,no,",
    "malformed_csv_row": b"m6,bob@acme.com,,Bob,2020-01-01",
}


def import_lines(workspace: Workspace, lines: list[bytes], **settings) -> ImportReport:
    (workspace.root / "people.csv").write_bytes(b"\n".join([HEADER, *lines]) + b"\n")
    source = people_source("people.csv")
    source["fields"] |= {name: {"column": name, "type": kind} for name, kind in
                         [("born", "date"), ("score", "number"), ("active", "boolean"), ("phone", "phone")]}
    workspace.configure({"crm": source}, max_text_length=32, **settings)
    return workspace.import_all()["crm"]


def test_malformed_rows_are_quarantined_with_their_reason_while_valid_rows_are_imported(
        workspace: Workspace) -> None:
    report = import_lines(workspace, [VALID[0], *MALFORMED.values(), VALID[1]])
    expected = {line: reason for line, reason in enumerate(MALFORMED, start=3)}
    assert {q["row_number"]: q["reason"] for q in workspace.rows("quarantine")} == expected
    assert {q["scope"] for q in workspace.rows("quarantine")} == {"row"}
    assert [r["source_id"] for r in workspace.rows("source_people")] == ["p1", "p3"]
    assert report.quarantined_rows == {reason: 1 for reason in MALFORMED}


def test_quarantined_row_keeps_the_raw_values_by_column(workspace: Workspace) -> None:
    import_lines(workspace, [VALID[0], MALFORMED["unparsable_date"]])
    [entry] = workspace.rows("quarantine")
    assert json.loads(entry["raw"])["born"] == "not a date"
    assert (entry["source_id"], entry["field"]) == ("m1", "born")
    assert "'not a date'" in entry["detail"]


def test_undecodable_bytes_survive_in_the_quarantined_raw_row(workspace: Workspace) -> None:
    import_lines(workspace, [MALFORMED["undecodable_bytes"]])
    [entry] = workspace.rows("quarantine")
    assert json.loads(entry["raw"])["first_name"].encode("utf-8", "surrogateescape") == b"B\xe9b"


def test_duplicate_unique_id_in_one_batch_keeps_the_later_row(workspace: Workspace) -> None:
    report = import_lines(workspace, [VALID[0], b"p1,ann@acme.com,,Annie,2020-01-31,1.5,yes,"])
    assert [r["first_name"] for r in workspace.rows("source_people")] == ["Annie"]
    [entry] = workspace.rows("quarantine")
    assert (entry["reason"], entry["row_number"]) == ("duplicate_unique_id", 2)
    assert report.quarantined_rows == {"duplicate_unique_id": 1}


def test_malformed_later_duplicate_does_not_discard_the_valid_row(workspace: Workspace) -> None:
    import_lines(workspace, [VALID[0], b"p1,ann@acme.com,,Annie,not a date,1.5,yes,"])
    assert [r["first_name"] for r in workspace.rows("source_people")] == ["Ann"]
    assert [q["reason"] for q in workspace.rows("quarantine")] == ["unparsable_date"]


@pytest.mark.parametrize(("line", "field", "reason"), [
    (b"p2,bob-at-acme,https://linkedin.com/in/bob,Bob,2020-01-01,1,no,", "email", "invalid_email"),
    (b"p2,bob@acme.com,,Bob,2020-01-01,1,no,12", "phone", "invalid_phone"),
], ids=["email", "phone"])
def test_invalid_contact_value_is_dropped_but_the_row_kept(
        workspace: Workspace, line: bytes, field: str, reason: str) -> None:
    report = import_lines(workspace, [line])
    [row] = workspace.rows("source_people")
    assert (row["first_name"], row[field]) == ("Bob", None)
    [entry] = workspace.rows("quarantine")
    assert (entry["scope"], entry["reason"], entry["source_id"]) == ("value", reason, "p2")
    assert report.dropped_values == {reason: 1}
    assert report.quarantined_rows == {}
