"""A CSV source on its own: what its poll tells the refresh sensor, how many records it counts for
an estimate, and how the csv module's reader cuts batches, numbers lines and resumes. No store."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from audiences_dagster.config.models import AudiencesConfig
from audiences_dagster.sources.base import ReadPlan, SourceError
from audiences_dagster.sources import csv_file
from audiences_dagster.sources.csv_file import CsvSource
from audiences_dagster_tests.support import clock_away_from_utc

HEADER = "id,email,first_name"
NAME = {"first_name": {"column": "first_name"}}


def source(tmp_path: Path, text: str | None, encoding: str = "utf-8", batch_size: int = 50_000,
           **settings) -> CsvSource:
    """A people CSV source over people.csv holding `text` (no file when None)."""
    if text is not None:
        (tmp_path / "people.csv").write_bytes(text.encode(encoding))
    fields = {"email": {"column": "email", "type": "email"}, **settings.pop("fields", NAME)}
    config = AudiencesConfig.model_validate({
        "store": {"url": "sqlite://"}, "batch_size": batch_size,
        "sources": {"crm": {"kind": "csv", "entity": "people", "path": str(tmp_path / "people.csv"),
                            "unique_id": "id", "encoding": encoding, "fields": fields, **settings}}})
    return CsvSource("crm", config)


def read_all(csv: CsvSource, cursor: dict | None = None) -> list:
    _, start = csv.plan(cursor)
    return list(csv.batches(start))


def content(tmp_path: Path) -> str:
    return hashlib.sha256((tmp_path / "people.csv").read_bytes()).hexdigest()[:16]


def test_poll_of_a_file_never_imported_names_it_and_its_content(tmp_path: Path) -> None:
    csv = source(tmp_path, f"{HEADER}\np1,ann@acme.com,Ann\n")

    found = csv.poll({})

    assert (found.changed, found.detail) == (True, f"file people.csv with content {content(tmp_path)}, never imported")


def test_poll_after_a_complete_import_finds_nothing_changed(tmp_path: Path) -> None:
    csv = source(tmp_path, f"{HEADER}\np1,ann@acme.com,Ann\n")
    last = read_all(csv)[-1].cursor

    found = csv.poll({"cursor": last})

    assert (found.changed, found.detail) == (
        False, f"file people.csv with content {content(tmp_path)}, unchanged since the last complete import")


def test_poll_finds_a_changed_file(tmp_path: Path) -> None:
    csv = source(tmp_path, f"{HEADER}\np1,ann@acme.com,Ann\n")
    last = read_all(csv)[-1].cursor
    (tmp_path / "people.csv").write_text(f"{HEADER}\np1,ann@acme.com,Annie\n")

    found = csv.poll({"cursor": last})

    assert (found.changed, found.detail) == (
        True, f"file people.csv with content {content(tmp_path)}, changed since the last import")


def test_poll_finds_a_changed_mapping_of_the_same_file(tmp_path: Path) -> None:
    text = f"{HEADER},title\np1,ann@acme.com,Ann,VP\n"
    last = read_all(source(tmp_path, text))[-1].cursor
    remapped = source(tmp_path, text, fields={**NAME, "title": {"column": "title"}})

    found = remapped.poll({"cursor": last})

    assert found.changed
    assert found.detail.startswith(f"file people.csv with content {content(tmp_path)}, mapping ")
    assert found.detail.endswith(" changed since the last import")
    assert last["mapping"] not in found.detail


def test_poll_finds_an_import_that_stopped_half_way(tmp_path: Path) -> None:
    csv = source(tmp_path, f"{HEADER}\np1,ann@acme.com,Ann\np2,bob@acme.com,Bob\np3,cy@acme.com,Cy\n", batch_size=2)
    first = read_all(csv)[0].cursor

    found = csv.poll({"cursor": first})

    assert (found.changed, found.detail) == (
        True, f"file people.csv with content {content(tmp_path)}, import stopped after row 2")


def test_poll_of_a_missing_file_says_so(tmp_path: Path) -> None:
    csv = source(tmp_path, None)

    with pytest.raises(SourceError, match=r"^sources\.crm: file .*people\.csv does not exist$"):
        csv.poll({})


def test_records_are_counted_once_whatever_line_breaks_their_values_hold(tmp_path: Path) -> None:
    csv = source(tmp_path, f'{HEADER}\np1,ann@acme.com,"Ann\nLee"\np2,bob@acme.com,Bob\n')
    assert csv.count_records() == 2


def test_a_file_of_only_its_header_counts_no_records_and_a_missing_file_is_named(tmp_path: Path) -> None:
    assert source(tmp_path, f"{HEADER}\n").count_records() == 0
    with pytest.raises(SourceError, match=r"^sources\.crm: file .*people\.csv does not exist$"):
        source(tmp_path / "elsewhere", None).count_records()


LATIN = f"{HEADER}\np1,ann@acme.com,Ann\np2,bob@acme.com\np3,cy@acme.com,Cy\np4,dee@acme.com,Dée\np5,eve@acme.com,Eve\n"


def test_the_csv_module_cuts_batches_counting_malformed_lines_and_numbers_them(tmp_path: Path) -> None:
    csv = source(tmp_path, LATIN, encoding="latin-1", batch_size=2)  # not UTF-8: the csv module reads it

    batches = read_all(csv)

    assert [list(b.frame["id"]) for b in batches] == [["p1"], ["p3", "p4"], ["p5"]]
    assert [list(b.row_numbers) for b in batches] == [[2], [4, 5], [6]]
    assert [(b.cursor["rows_done"], b.cursor["complete"]) for b in batches] == [(2, False), (4, False), (5, True)]
    assert [(q["row_number"], q["reason"], q["detail"]) for q in batches[0].quarantine] == [
        (3, "malformed_csv_row", "line 3 has 2 fields, the header has 3")]
    assert batches[1].frame["first_name"].tolist() == ["Cy", "Dée"]


def test_the_csv_module_resumes_after_the_rows_a_killed_run_committed(tmp_path: Path) -> None:
    csv = source(tmp_path, LATIN, encoding="latin-1", batch_size=2)
    committed = read_all(csv)[0].cursor

    plan, cursor = csv.plan(committed)
    resumed = list(csv.batches(cursor))

    assert plan.description == "resuming after row 2"
    assert [list(b.frame["id"]) for b in resumed] == [["p3", "p4"], ["p5"]]


def test_the_csv_module_reads_the_configured_delimiter(tmp_path: Path) -> None:
    csv = source(tmp_path, "id;email;first_name\np1;ann@acme.com;Ann, Jr\n", encoding="latin-1", delimiter=";")

    [batch] = read_all(csv)

    assert batch.frame.to_dict(orient="records") == [{"id": "p1", "email": "ann@acme.com", "first_name": "Ann, Jr"}]
    assert batch.quarantine == []


def test_a_malformed_and_an_undecodable_line_are_quarantined_whole_in_utc(tmp_path: Path) -> None:
    text = f"{HEADER}\np1,ann@acme.com,Ann\np2,bob@acme.com\n".encode() + b"p3,cy@acme.com,C\xffy\n"
    (tmp_path / "people.csv").write_bytes(text)
    csv = source(tmp_path, None)
    with clock_away_from_utc():
        [batch] = read_all(csv)

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    assert all(abs(q.pop("quarantined_at") - now) < timedelta(minutes=1) for q in batch.quarantine)
    assert batch.quarantine == [
        {"row_number": 3, "source_id": None, "field": None, "scope": "row", "reason": "malformed_csv_row",
         "detail": "line 3 has 2 fields, the header has 3", "raw": json.dumps(["p2", "bob@acme.com"])},
        {"row_number": 4, "source_id": None, "field": "first_name", "scope": "row", "reason": "undecodable_bytes",
         "detail": "line 4: column(s) 'first_name' hold bytes that are not valid text in the file's encoding",
         "raw": json.dumps({"id": "p3", "email": "cy@acme.com", "first_name": "C\udcffy"})},
    ]
    assert list(batch.frame["id"]) == ["p1"] and list(batch.row_numbers) == [2]


def test_pyarrow_batches_number_their_lines_after_the_header(tmp_path: Path) -> None:
    csv = source(tmp_path, f"{HEADER}\np1,ann@acme.com,Ann\np2,bob@acme.com,Bob\np3,cy@acme.com,Cy\n", batch_size=2)

    batches = read_all(csv)

    assert [list(b.row_numbers) for b in batches] == [[2, 3], [4]]
    assert [(b.cursor["rows_done"], b.cursor["complete"]) for b in batches] == [(2, False), (3, True)]


def test_poll_of_a_file_whose_stat_is_unchanged_reads_none_of_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_file, "RACY_STAT_NS", 0)  # the file counts as settled at once
    csv = source(tmp_path, f"{HEADER}\np1,ann@acme.com,Ann\n")
    last = read_all(csv)[-1].cursor
    assert last["file_stat"] is not None

    def refuse(*args, **kwargs):
        raise AssertionError("the file was read")
    monkeypatch.setattr(Path, "open", refuse)

    assert not csv.poll({"cursor": last}).changed


def test_records_are_counted_with_the_configured_delimiter(tmp_path: Path) -> None:
    csv = source(tmp_path, 'id;email;first_name\np1;ann@acme.com;"Ann\nLee"\n', delimiter=";")
    assert csv.count_records() == 1


def readers_of(csv: CsvSource, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which reader parsed each batch of a first read: pyarrow or the csv module."""
    used: list[str] = []
    arrow, python = CsvSource._arrow_batch, CsvSource._batch
    monkeypatch.setattr(CsvSource, "_arrow_batch", lambda self, *a, **k: used.append("pyarrow") or arrow(self, *a, **k))
    monkeypatch.setattr(CsvSource, "_batch", lambda self, *a, **k: used.append("csv module") or python(self, *a, **k))
    read_all(csv)
    return used


@pytest.mark.parametrize(("text", "settings", "reader"), [
    ("id;email;first_name\np1;ann@acme.com;Ann\n", {"delimiter": ";"}, "pyarrow"),
    ("id,email\np1,ann@acme.com\n", {"fields": {}}, "pyarrow"),
    (f"{HEADER}\np1,ann@acme.com,Ann\n", {"encoding": "latin-1"}, "csv module"),
    ("id,email,first_name,first_name\np1,ann@acme.com,Ann,Ann\n", {}, "csv module"),
    ('id,email,"first\nname"\np1,ann@acme.com,Ann\n', {"fields": {"first_name": {"column": "first\nname"}}},
     "csv module"),
    ('id,email,"first\rname"\np1,ann@acme.com,Ann\n', {"fields": {"first_name": {"column": "first\rname"}}},
     "csv module"),
], ids=["semicolons", "two-columns", "latin-1", "repeated-name", "line-break-in-a-name", "carriage-return-in-a-name"])
def test_pyarrow_reads_what_it_can_and_the_csv_module_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, settings: dict, reader: str) -> None:
    csv = source(tmp_path, text, **{"fields": NAME, **settings})

    assert set(readers_of(csv, monkeypatch)) == {reader}


def test_the_starting_cursor_of_a_read_is_not_a_complete_import(tmp_path: Path) -> None:
    csv = source(tmp_path, f"{HEADER}\np1,ann@acme.com,Ann\n")
    _, start = csv.plan(None)

    found = csv.poll({"cursor": start})

    assert found.changed and found.detail.endswith("import stopped after row 0")


def test_each_plan_says_how_the_file_is_read_and_never_claims_a_full_pass(tmp_path: Path) -> None:
    """A CSV is a one-time upsert: no read of it can tell a deleted row, so no plan is a full pass."""
    csv = source(tmp_path, f"{HEADER}\np1,ann@acme.com,Ann\np2,bob@acme.com,Bob\np3,cy@acme.com,Cy\n", batch_size=2)
    fresh, start = csv.plan(None)
    first, *_, last = list(csv.batches(start))

    assert fresh == ReadPlan(full_pass=False, resumed=False, description="reading the whole file")
    assert csv.plan(first.cursor)[0] == ReadPlan(full_pass=False, resumed=True, description="resuming after row 2")
    assert csv.plan(last.cursor) == (ReadPlan(full_pass=False, resumed=False,
                                             skip_reason="file and mapping unchanged since the last complete import"),
                                     last.cursor)
    assert csv.plan(last.cursor, full=True)[0] == fresh


def test_the_check_before_any_write_names_a_missing_file_an_empty_one_and_a_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    with pytest.raises(SourceError, match=rf"^sources\.crm: file {path} does not exist$"):
        source(tmp_path, None).check()
    with pytest.raises(SourceError, match=rf"^sources\.crm: {path} is empty \(no header row\)$"):
        source(tmp_path, "").check()
    with pytest.raises(SourceError) as missing:
        source(tmp_path, "id,email\np1,ann@acme.com\n").check()
    assert str(missing.value) == f"sources.crm: {path} has no column(s) 'first_name'; it has 'id', 'email'"
    assert source(tmp_path, f"{HEADER}\n").check() == ["id", "email", "first_name"]


def test_a_last_batch_that_fills_the_batch_size_completes_the_read(tmp_path: Path) -> None:
    rows = "".join(f"p{i},p{i}@acme.com,P{i}\n" for i in range(4))
    csv = source(tmp_path, f"{HEADER}\n{rows}", batch_size=2)  # one pyarrow block, cut in two batches

    assert [(b.cursor["rows_done"], b.cursor["complete"]) for b in read_all(csv)] == [(2, False), (4, True)]


def test_a_utf8_file_opening_with_a_byte_order_mark_keeps_its_first_column(tmp_path: Path) -> None:
    csv = source(tmp_path, f"\ufeff{HEADER}\np1,ann@acme.com,Ann\n")

    assert csv.check() == ["id", "email", "first_name"]
    assert list(read_all(csv)[0].frame["id"]) == ["p1"]


def test_a_file_written_a_moment_ago_is_hashed_again_next_time(tmp_path: Path) -> None:
    """Its times cannot vouch for its content yet (a rewrite in the same clock tick keeps them)."""
    csv = source(tmp_path, f"{HEADER}\np1,ann@acme.com,Ann\n")

    _, start = csv.plan(None)

    assert start["file_stat"] is None
