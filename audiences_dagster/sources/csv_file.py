"""CSV files: a one-time import keyed by a unique-id column; importing again upserts."""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from audiences_dagster.config.models import AudiencesConfig
from audiences_dagster.sources.base import (
    PollResult, RawBatch, ReadPlan, SourceError, mapping_fingerprint, require_columns,
)

csv.field_size_limit(16 * 1024 * 1024)
RACY_STAT_NS = 2_000_000_000  # a file changed this recently is hashed, whatever its size and time


class CsvSource:
    def __init__(self, name: str, config: AudiencesConfig):
        self.name = name
        self.source = config.sources[name]
        self.path: Path = config.resolve_path(self.source.path or "")
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
        """Stream the file batch by batch; rows already committed by a killed run are skipped."""
        done = int(cursor.get("rows_done") or 0)
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
            return PollResult(changed=True, detail=f"{seen}, import stopped after row {cursor.get('rows_done', 0)}")
        return PollResult(changed=False, detail=f"{seen}, unchanged since the last complete import")

    def count_records(self) -> int:
        """Data rows in the file (a quoted line break counts once), for `audiences estimate`."""
        if not self.path.is_file():
            raise SourceError(f"sources.{self.name}: file {self.path} does not exist")
        with self._open() as handle:
            return max(sum(1 for _ in csv.reader(handle, delimiter=self.source.delimiter)) - 1, 0)

    def _batch(self, header, rows, numbers, rejected, cursor, seen, complete) -> RawBatch:
        try:
            frame = pd.DataFrame(rows, columns=header, dtype="string")
        except UnicodeEncodeError:  # bytes invalid in the file's encoding: set those rows aside
            bad = {i for i, row in enumerate(rows) if not _decodable(row)}
            rejected = rejected + [_undecodable(rows[i], numbers[i], header) for i in sorted(bad)]
            rows = [row for i, row in enumerate(rows) if i not in bad]
            numbers = [n for i, n in enumerate(numbers) if i not in bad]
            frame = pd.DataFrame(rows, columns=header, dtype="string")
        return RawBatch(frame=frame, row_numbers=pd.Series(numbers, dtype="int64"),
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


def _decodable(row: list[str]) -> bool:
    try:
        "".join(row).encode("utf-8")
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
