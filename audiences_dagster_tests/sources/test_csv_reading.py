"""pyarrow parses a UTF-8 CSV while its records are one well-formed line each; from the first batch
that holds anything else the csv module reads on. Either way the store ends up as the csv module
alone would leave it: the same rows, the same quarantine, the same line numbers."""

from __future__ import annotations

import pytest

from audiences_dagster.sources import csv_file
from audiences_dagster.sources.csv_file import CsvSource
from audiences_dagster_tests.sources.test_csv_quarantine import MALFORMED, import_lines
from audiences_dagster_tests.support import Workspace


def valid(n: int) -> bytes:
    return f"p{n},p{n}@acme.com,,P{n},2020-01-0{n % 9 + 1},{n},yes,".encode()


TROUBLE = {  # a line (or two) that only the csv module reads as it must
    "malformed line": MALFORMED["malformed_csv_row"],
    "line break inside a value": b'q1,q1@acme.com,,"Two\nLines",2020-01-01,1,no,',
    "carriage return inside a value": b'q2,q2@acme.com,,"Two\rLines",2020-01-01,1,no,',
    "blank line": b"",
    "record of empty values": b",,,,,,,",
    "bytes that are not UTF-8": MALFORMED["undecodable_bytes"],
}


def read(workspace: Workspace, lines: list[bytes], **settings) -> tuple:
    """A first import of the file: its quarantine, its rows, and what the import counted."""
    report = import_lines(workspace, lines, **settings)
    quarantine = sorted((q["row_number"], q["reason"], q["source_id"]) for q in workspace.rows("quarantine"))
    rows = [(r["source_id"], r["first_name"], r["row_hash"]) for r in workspace.rows("source_people", order_by="source_id")]
    return quarantine, rows, (report.rows_read, report.batches, report.counts.inserted)


def forget_the_import(workspace: Workspace) -> None:
    with workspace.store.engine.begin() as conn:
        for table in ("quarantine", "identity_keys", "pending_records", "pending_ranges", "source_people", "sync_state"):
            conn.execute(workspace.store.tables.metadata.tables[table].delete())


@pytest.mark.parametrize("trouble", TROUBLE)
def test_a_file_that_turns_unusual_midway_is_read_as_the_csv_module_reads_it(
        workspace: Workspace, monkeypatch: pytest.MonkeyPatch, trouble: str) -> None:
    monkeypatch.setattr(csv_file, "ARROW_BLOCK_BYTES", 64)  # a line or two per block: the trouble comes late
    lines = [valid(1), valid(2), valid(3), MALFORMED["unparsable_date"], valid(4), valid(7), valid(8),
             TROUBLE[trouble], valid(5), MALFORMED["unparsable_number"], valid(6)]
    parsed_by_pyarrow = []
    arrow_batch = CsvSource._arrow_batch
    monkeypatch.setattr(CsvSource, "_arrow_batch", lambda self, rows, *args: parsed_by_pyarrow.append(rows.num_rows)
                        or arrow_batch(self, rows, *args))
    pyarrow_first = read(workspace, lines, batch_size=2)
    assert parsed_by_pyarrow[:2] == [2, 2]  # the batches before the trouble

    forget_the_import(workspace)
    monkeypatch.setattr(CsvSource, "_arrow_header", lambda self: None)
    csv_module_only = read(workspace, lines, batch_size=2)

    assert pyarrow_first == csv_module_only
    quarantine = pyarrow_first[0]
    assert (5, "unparsable_date", "m1") in quarantine  # line numbers before the trouble...
    assert any(reason == "unparsable_number" and number >= 11 for number, reason, _ in quarantine)  # ...and after it


def test_a_well_formed_file_is_parsed_by_pyarrow_alone_with_its_line_numbers(
        workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args):
        raise AssertionError("the csv module read a well-formed file")

    monkeypatch.setattr(CsvSource, "_python_batches", refuse)
    quarantine, rows, _ = read(workspace, [valid(1), MALFORMED["unparsable_date"], valid(2),
                                           MALFORMED["unparsable_number"]])

    assert quarantine == [(3, "unparsable_date", "m1"), (5, "unparsable_number", "m2")]
    assert [r[0] for r in rows] == ["p1", "p2"]
