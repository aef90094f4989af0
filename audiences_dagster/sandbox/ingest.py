"""One Bulk 2.0 ingest job's CSV, applied row by row with Salesforce's rules: empty cells leave a field alone,
#N/A nulls it, upserts match on the external id, and a row's failure never stops the others."""

from __future__ import annotations

import csv
import io
import sqlite3
from dataclasses import dataclass

from audiences_dagster.sandbox.errors import SalesforceApiError
from audiences_dagster.sandbox.records import SalesforceRecords
from audiences_dagster.sandbox.schema import SObject

DELIMITERS = {"COMMA": ",", "TAB": "\t", "SEMICOLON": ";", "PIPE": "|", "CARET": "^", "BACKQUOTE": "`"}


class IngestJobFailed(Exception):
    """The whole job fails (state Failed, errorMessage), e.g. a header naming a field the object lacks."""


@dataclass
class IngestBatch:
    obj: SObject
    operation: str
    external_id: str | None
    header: list[str]
    rows: list[list[str]]

    @classmethod
    def parse(cls, obj: SObject, info: dict, parts: list[bytes]) -> IngestBatch:
        """Header and rows from every uploaded part; the header must name fields of the object."""
        header: list[str] | None = None
        rows: list[list[str]] = []
        for part in parts:
            reader = csv.reader(io.StringIO(part.decode("utf-8-sig")), delimiter=DELIMITERS[info["columnDelimiter"]])
            part_rows = [r for r in reader if r]
            if not part_rows:
                continue
            if header is not None and part_rows[0] != header:
                raise IngestJobFailed("InvalidBatch : Every upload of a job must have the same header row")
            header = part_rows[0]
            rows.extend(part_rows[1:])
        if header is None:
            raise IngestJobFailed("InvalidBatch : No data was uploaded to this job")
        for name in header:
            if obj.field(name) is None:
                raise IngestJobFailed(f"InvalidBatch : Field name not found : {name}")
        needed = {"upsert": info.get("externalIdFieldName"), "update": "Id", "delete": "Id", "hardDelete": "Id"}
        key = needed.get(info["operation"])
        if key and key.lower() not in (h.lower() for h in header):
            raise IngestJobFailed(f"InvalidBatch : Field name not found : {key}")
        return cls(obj, info["operation"], info.get("externalIdFieldName"), header, rows)

    def apply(self, conn: sqlite3.Connection, records: SalesforceRecords) -> tuple[list[list[str]], list[list[str]]]:
        """Success rows [sf__Id, sf__Created, ...] and failure rows [sf__Id, sf__Error, ...], input columns kept."""
        successes, failures = [], []
        duplicates = self._duplicate_external_ids()
        for row in self.rows:
            values = dict(zip(self.header, row + [""] * (len(self.header) - len(row))))
            conn.execute("SAVEPOINT ingest_row")
            try:
                self._refuse_duplicate(values, duplicates)
                record_id, created = self._apply_row(conn, records, values)
            except SalesforceApiError as exc:
                conn.execute("ROLLBACK TO ingest_row")
                conn.execute("RELEASE ingest_row")
                fields = f"{','.join(exc.fields)} " if exc.fields else ""
                failures.append(["", f"{exc.error_code}:{exc.message}:{fields}--", *row])
                continue
            conn.execute("RELEASE ingest_row")
            successes.append([record_id, "true" if created else "false", *row])
        return successes, failures

    def _refuse_duplicate(self, values: dict[str, str], duplicates: set[str]) -> None:
        value = values.get(self._column(self.external_id)) if self.external_id else None
        if value in duplicates:
            raise SalesforceApiError(400, "DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {value}",
                                     [self.external_id])

    def _apply_row(self, conn: sqlite3.Connection, records: SalesforceRecords, values: dict[str, str]) -> \
            tuple[str, bool]:
        changes = {k: v for k, v in values.items() if v != "" and k.lower() != "id"}
        record_id = values.get(self._column("Id"), "")
        if self.operation == "insert":
            return records.insert(conn, self.obj, [changes])[0], True
        if self.operation == "upsert":
            key_value = values[self._column(self.external_id)]
            if not key_value:
                raise SalesforceApiError(400, "MISSING_ARGUMENT", f"{self.external_id} not specified",
                                         [self.external_id])
            found = [key_value] if self.external_id == "Id" else records.find_by(conn, self.obj, self.external_id,
                                                                                 key_value)
            if len(found) > 1:
                raise SalesforceApiError(400, "DUPLICATE_EXTERNAL_ID",
                                         f"{self.external_id}: more than one record found for external id field: "
                                         f"{found}", [self.external_id])
            if not found:
                return records.insert(conn, self.obj, [changes])[0], True
            record_id = found[0]
        if not record_id:
            raise SalesforceApiError(400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        self._require_existing(conn, records, record_id)
        if self.operation in ("update", "upsert"):
            records.apply_update(conn, self.obj, record_id, changes)
        elif self.operation == "delete":
            records.soft_delete(conn, self.obj, record_id)
        else:
            conn.execute(f'DELETE FROM {self.obj.table} WHERE "Id" = ?', (record_id,))
        return record_id, False

    def _require_existing(self, conn: sqlite3.Connection, records: SalesforceRecords, record_id: str) -> None:
        try:
            records._row(conn, self.obj, record_id)
        except SalesforceApiError:
            raise SalesforceApiError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id") from None

    def _column(self, name: str | None) -> str:
        """The header's spelling of a field (CSV headers are case-insensitive API names)."""
        for column in self.header:
            if name and column.lower() == name.lower():
                return column
        return name or ""

    def _duplicate_external_ids(self) -> set[str]:
        """An external id repeated within the file fails every row carrying it."""
        if not self.external_id:
            return set()
        position = [h.lower() for h in self.header].index(self.external_id.lower())
        seen: dict[str, int] = {}
        for row in self.rows:
            value = row[position] if position < len(row) else ""
            if value:
                seen[value] = seen.get(value, 0) + 1
        return {value for value, count in seen.items() if count > 1}

