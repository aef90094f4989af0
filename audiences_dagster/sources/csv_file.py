"""CSV files: a one-time import keyed by a unique-id column; importing again upserts."""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import time
from collections.abc import Generator, Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from audiences_dagster.config.models import AudiencesConfig
from audiences_dagster.sources.base import (
    PollResult, RawBatch, ReadPlan, SourceError, mapping_fingerprint, require_columns,
)

csv.field_size_limit(16 * 1024 * 1024)
RACY_STAT_NS = 2_000_000_000  # a file changed this recently is hashed, whatever its size and time
ARROW_BLOCK_BYTES = 4 << 20  # pyarrow parses the file this much at a time


class CsvSource:
    def __init__(self, name: str, config: AudiencesConfig):
        self.name = name
        self.source = config.sources[name]
        self.path: Path = config.resolve_path(self.source.path or "")  # pragma: no mutate (a CSV source always has a path: the config requires it)
        self.batch_size = config.batch_size

    def close(self) -> None:
        """Nothing held open between batches."""

    def check(self) -> list[str]:
        """Fail before any write when the file is missing or lacks a configured column."""
        if not self.path.is_file():
            raise SourceError(f"sources.{self.name}: file {self.path} does not exist")
        with self._open() as handle:
            header = next(csv.reader(handle, delimiter=self.source.delimiter), None)
        if not header:
            raise SourceError(f"sources.{self.name}: {self.path} is empty (no header row)")
        require_columns(self.name, self.source, header, str(self.path))
        return header

    def plan(self, cursor: dict | None, full: bool = False, pass_open: bool = False) -> tuple[ReadPlan, dict]:
        fingerprint, stat = self._fingerprint(cursor)
        start = {"fingerprint": fingerprint, "file_stat": stat,
                 "mapping": mapping_fingerprint(self.source), "rows_done": 0, "complete": False}
        same = bool(cursor) and all(cursor.get(k) == start[k] for k in ("fingerprint", "mapping"))
        if same and cursor.get("complete") and not full:
            return ReadPlan(full_pass=False, resumed=False,
                            skip_reason="file and mapping unchanged since the last complete import"), cursor
        if same and not full and cursor.get("rows_done"):
            return ReadPlan(full_pass=False, resumed=True,
                            description=f"resuming after row {cursor['rows_done']}"), cursor
        return ReadPlan(full_pass=False, resumed=False, description="reading the whole file"), start

    def batches(self, cursor: dict) -> Iterator[RawBatch]:
        """Stream the file batch by batch; rows already committed by a killed run are skipped.
        A UTF-8 file is parsed by pyarrow's CSV reader (C++, 5x faster than the csv module and
        a frame from its rows) for as long as every record is one well-formed line; from the
        first batch that is not (a malformed or blank line, a line break inside a value, bytes
        that are not UTF-8), the csv module reads the rest, with the line numbers and the
        quarantine that needs."""
        done = int(cursor.get("rows_done") or 0)
        header = self._arrow_header() if not done else None  # a resumed read counts lines the csv module's way
        if header:
            done = yield from self._arrow_batches(header, cursor)
            if done is None:
                return
        yield from self._python_batches(cursor, done)

    def _arrow_header(self) -> list[str] | None:
        """The header (as the csv module reads it, which pyarrow's must match) when pyarrow can
        read the file: UTF-8, a one-character delimiter, two or more distinct one-line names."""
        if codecs.lookup(self.source.encoding).name != "utf-8" or len(self.source.delimiter) != 1:
            return None
        header = self.check()
        if len(header) < 2 or len(set(header)) < len(header) or any("\n" in h or "\r" in h for h in header):
            return None
        return header

    def _arrow_batches(self, header: list[str], cursor: dict) -> Generator[RawBatch, None, int | None]:
        """Batches parsed by pyarrow; returns None once the file is done, else the number of
        records before the first batch it could not take (for the csv module to read on from)."""
        done = 0
        # The options below only decide how far pyarrow gets before the csv module takes over; the
        # rows, quarantine and line numbers are the same either way (test_csv_reading pins that),
        # so their mutants are marked: they can change the speed, not the result.
        malformed: list = []  # pragma: no mutate
        try:
            reader = pa_csv.open_csv(
                self.path,
                read_options=pa_csv.ReadOptions(use_threads=False, block_size=ARROW_BLOCK_BYTES),
                # A blank line is a record of empty values here (the csv module sees no field).
                parse_options=pa_csv.ParseOptions(delimiter=self.source.delimiter,
                                                  newlines_in_values=True,  # pragma: no mutate
                                                  ignore_empty_lines=False,
                                                  invalid_row_handler=lambda row: malformed.append(row) or "skip"),  # pragma: no mutate
                convert_options=pa_csv.ConvertOptions(column_types={name: pa.string() for name in header},
                                                      strings_can_be_null=False, quoted_strings_can_be_null=False))  # pragma: no mutate
        except pa.ArrowInvalid:  # bytes that are not UTF-8 in the first block
            return done
        if reader.schema.names != header:
            return done
        pending: list[pa.RecordBatch] = []
        held = 0
        while True:
            try:
                block = reader.read_next_batch()
            except StopIteration:
                block = None
            except pa.ArrowInvalid:
                return done
            if malformed:  # a record with the wrong number of fields, somewhere past `done`
                return done
            if block is not None:
                pending.append(block)
                held += block.num_rows
                if held < self.batch_size:
                    continue
            rows = pa.Table.from_batches(pending, schema=reader.schema)
            batch = rows.slice(0, self.batch_size)
            complete = block is None and rows.num_rows <= self.batch_size
            if not _one_line_records(batch):
                return done
            yield self._arrow_batch(batch, cursor, done, complete)
            if complete:
                return None
            done += batch.num_rows
            rest = rows.slice(self.batch_size)
            pending, held = rest.to_batches(), rest.num_rows

    def _arrow_batch(self, rows: pa.Table, cursor: dict, done: int, complete: bool) -> RawBatch:
        frame = pd.DataFrame({name: pd.arrays.ArrowStringArray(rows.column(name).combine_chunks())
                              for name in rows.column_names})
        lines = np.arange(done + 2, done + 2 + rows.num_rows, dtype=np.int64)  # the header is line 1
        return RawBatch(frame=frame, row_numbers=pd.Series(lines),
                        cursor={**cursor, "rows_done": done + rows.num_rows, "complete": complete})

    def _python_batches(self, cursor: dict, done: int) -> Iterator[RawBatch]:
        with self._open() as handle:
            reader = csv.reader(handle, delimiter=self.source.delimiter)
            header = next(reader)
            rows, numbers, rejected, seen = [], [], [], 0
            for row in reader:
                seen += 1
                if seen <= done:
                    continue
                if len(row) != len(header):
                    rejected.append(_malformed(row, reader.line_num, len(header)))
                else:
                    rows.append(row)
                    numbers.append(reader.line_num)
                if len(rows) + len(rejected) >= self.batch_size:
                    yield self._batch(header, rows, numbers, rejected, cursor, seen, complete=False)
                    rows, numbers, rejected = [], [], []
            yield self._batch(header, rows, numbers, rejected, cursor, seen, complete=True)

    def closing_cursor(self, cursor: dict) -> dict:
        return cursor

    def poll(self, state: dict) -> PollResult:
        """Changed when the file's content or the mapping differs from the last complete import,
        or a killed import left it half read; the detail names the content fingerprint seen."""
        if not self.path.is_file():
            raise SourceError(f"sources.{self.name}: file {self.path} does not exist")
        cursor = state.get("cursor") or {}
        fingerprint, mapping = self._fingerprint(cursor)[0], mapping_fingerprint(self.source)
        seen = f"file {self.path.name} with content {fingerprint[:16]}"
        if not cursor:
            return PollResult(changed=True, detail=f"{seen}, never imported")
        if cursor.get("fingerprint") != fingerprint:
            return PollResult(changed=True, detail=f"{seen}, changed since the last import")
        if cursor.get("mapping") != mapping:
            return PollResult(changed=True, detail=f"{seen}, mapping {mapping} changed since the last import")
        if not cursor.get("complete"):
            done = cursor.get("rows_done", 0)  # pragma: no mutate (every cursor holds rows_done)
            return PollResult(changed=True, detail=f"{seen}, import stopped after row {done}")
        return PollResult(changed=False, detail=f"{seen}, unchanged since the last complete import")

    def count_records(self) -> int:
        """Data rows in the file (a quoted line break counts once), for `audiences estimate`."""
        if not self.path.is_file():
            raise SourceError(f"sources.{self.name}: file {self.path} does not exist")
        with self._open() as handle:
            return max(sum(1 for _ in csv.reader(handle, delimiter=self.source.delimiter)) - 1, 0)

    def _batch(self, header, rows, numbers, rejected, cursor, seen, complete) -> RawBatch:
        try:
            # Arrow text refuses undecodable bytes (pandas infers Arrow text with or without the dtype)
            frame = pd.DataFrame(rows, columns=header, dtype="string")  # pragma: no mutate
        except UnicodeEncodeError:  # bytes invalid in the file's encoding: set those rows aside
            bad = {i for i, row in enumerate(rows) if not _decodable(row)}
            rejected = rejected + [_undecodable(rows[i], numbers[i], header) for i in sorted(bad)]
            rows = [row for i, row in enumerate(rows) if i not in bad]
            numbers = [n for i, n in enumerate(numbers) if i not in bad]
            frame = pd.DataFrame(rows, columns=header, dtype="string")  # pragma: no mutate (mapping reads every column as text)
        lines = pd.Series(numbers, dtype="int64")  # pragma: no mutate (line numbers are ints whatever the dtype says)
        return RawBatch(frame=frame, row_numbers=lines,
                        cursor={**cursor, "rows_done": seen, "complete": complete}, quarantine=rejected)

    def _open(self):
        encoding = self.source.encoding
        if codecs.lookup(encoding).name == "utf-8":
            encoding = "utf-8-sig"  # Excel starts UTF-8 CSVs with a byte-order mark
        return self.path.open("r", encoding=encoding, errors="surrogateescape", newline="")

    def _stat(self) -> list[int] | None:
        """The file's size, modification and change times and inode, or None while those times
        are too recent to vouch for the content: a rewrite within the same clock tick keeps them
        (git's "racily clean" files), so such a file is hashed again next time. The change time
        catches a copy that carries the old modification time along (cp -p, rsync -t, unzip):
        no tool can set it."""
        stat = self.path.stat()
        if time.time_ns() - max(stat.st_mtime_ns, stat.st_ctime_ns) < RACY_STAT_NS:
            return None
        return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]

    def _fingerprint(self, cursor: dict | None = None) -> tuple[str, list[int] | None]:
        """The file's SHA-256, and its stat taken before reading it (a change during the read
        moves the change time past it, so the next check reads the file again). When the stat is
        the one the cursor recorded, the cursor's hash is the file's: a run or a sensor poll of
        an unchanged export reads nothing (hashing a 1 GB file on each poll took seconds)."""
        stat = self._stat()
        recorded = (cursor or {}).get("file_stat")
        if recorded and cursor.get("fingerprint") and recorded == stat:
            return cursor["fingerprint"], stat
        digest = hashlib.sha256()
        with self.path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest(), stat


def _one_line_records(rows: pa.Table) -> bool:
    """No value holds a line break and no record is all empty (what pyarrow makes of a blank
    line): then each record is the one line after the previous, and line numbers follow."""
    if not rows.num_rows:
        return True  # pragma: no mutate (equivalent: an empty batch read by the csv module is empty too)
    blank = None
    for column in rows.columns:
        if pc.any(pc.match_substring_regex(column, "[\r\n]")).as_py():
            return False
        empty = pc.equal(column, "")
        blank = empty if blank is None else pc.and_(blank, empty)
    return not pc.any(blank).as_py()


def _decodable(row: list[str]) -> bool:
    try:
        "".join(row).encode("utf-8")  # pragma: no mutate (any joiner and either spelling of the codec)
        return True
    except UnicodeEncodeError:
        return False


def _undecodable(row: list[str], line: int, header: list[str]) -> dict:
    columns = [name for name, value in zip(header, row) if not _decodable([value])]
    return {
        "row_number": line, "source_id": None, "field": columns[0] if columns else None, "scope": "row",
        "reason": "undecodable_bytes",
        "detail": f"line {line}: column(s) {', '.join(map(repr, columns))} hold bytes that are not valid text "
                  f"in the file's encoding",
        "raw": json.dumps(dict(zip(header, row))), "quarantined_at": datetime.now(timezone.utc).replace(tzinfo=None),
    }


def _malformed(row: list[str], line: int, expected: int) -> dict:
    return {
        "row_number": line, "source_id": None, "field": None, "scope": "row",
        "reason": "malformed_csv_row",
        "detail": f"line {line} has {len(row)} fields, the header has {expected}",
        "raw": json.dumps(row), "quarantined_at": datetime.now(timezone.utc).replace(tzinfo=None),
    }
