"""Salesforce Contact, Lead and Account through simple-salesforce.

Full syncs (the first, a forced one, the weekly one) read a Bulk API 2.0 queryAll job page by page (about 50,000
records per call); records missing from a full pass are deleted in source (hard deletes). Incrementals read one
REST queryAll stream ordered by SystemModstamp: changed and soft-deleted records arrive in one order, so one
watermark covers both. The cursor keeps the watermark and the records seen in the last few minutes before it: the
next read starts a little earlier (SOQL datetimes have whole seconds, and a record's SystemModstamp can be older
than its commit) and skips what it already saw.

Only mapped columns are selected, plus Id, SystemModstamp, IsDeleted and MasterRecordId (and ConvertedContactId,
IsConverted for Leads). A record merged away in Salesforce is soft-deleted with MasterRecordId: it is written
with that id (identity keys link it to the survivor) and then marked deleted in source.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pandas as pd

from audiences_dagster.config.models import AudiencesConfig
from audiences_dagster.config.salesforce import MASTER_RECORD_COLUMN, MODIFIED_COLUMN, SalesforceConnection
from audiences_dagster.sources.base import PollResult, RawBatch, ReadPlan, mapping_fingerprint
from audiences_dagster.sources.mapping import required_columns
from audiences_dagster.sources.salesforce_auth import SalesforceOrg
from audiences_dagster.sources.salesforce_bulk import BULK_PAGE_RECORDS, BulkQueryJobs

# How far before the watermark an incremental starts again; what it already saw there is skipped.
OVERLAP = timedelta(minutes=5)
LEAD_CONVERSION_COLUMNS = ("ConvertedContactId", "IsConverted")
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"


class SalesforceSource:
    """A SourceReader for one Salesforce object (kind: salesforce)."""

    def __init__(self, name: str, config: AudiencesConfig):
        self.name = name
        self.source = config.sources[name]
        self.object = self.source.object or ""
        self.batch_size = config.batch_size
        # Bulk results pages of about 50,000 records, one batch each (fewer when batches are smaller).
        self.page_records = min(BULK_PAGE_RECORDS, config.batch_size)
        connection = config.connections[self.source.connection or ""]
        assert isinstance(connection, SalesforceConnection)
        self.org = SalesforceOrg(name, self.source.connection or "", connection)
        self.bulk = BulkQueryJobs(self.org, self.object)
        self.columns = selected_columns(self.source.object or "", required_columns(self.source))

    @property
    def api_usage(self) -> str | None:
        """The org's daily API requests as Salesforce last reported them ("used/limit")."""
        return self.org.api_usage

    @property
    def api_seconds(self) -> float:
        """Time spent waiting on Salesforce (inside HTTP calls) during this reader's life."""
        return self.org.session.http_seconds

    def close(self) -> None:
        self.org.close()

    def check(self) -> list[str]:
        """Authenticate and run the source's query for one record: unknown fields, objects or a bad subset fail
        here, before anything is written."""
        soql = self._soql(self.columns, limit=1)
        self.org.call(lambda sf: sf.query(soql), f"checking the {self.object} query")
        return self.columns

    def plan(self, cursor: dict | None, full: bool = False, pass_open: bool = False) -> tuple[ReadPlan, dict]:
        mapping = mapping_fingerprint(self.source)
        fresh = not cursor or cursor.get("mapping") != mapping
        if pass_open and not fresh and not full and cursor.get("mode") == "full":
            return ReadPlan(full_pass=True, resumed=True, description=(
                f"resuming the full sync of {self.object} (Bulk API job {cursor.get('job')})")), cursor
        if fresh or full or cursor.get("mode") != "incremental":
            start = {"mode": "full", "mapping": mapping, "job": None, "locator": "", "done": False,
                     "watermark": None, "edge": {}}
            return ReadPlan(full_pass=True, resumed=False,
                            description=f"full sync of {self.object} through a Bulk API 2.0 query job"), start
        since = cursor.get("watermark") or "the start"
        return ReadPlan(full_pass=False, resumed=False,
                        description=f"{self.object} records changed or deleted since {since}"), cursor

    def batches(self, cursor: dict) -> Iterator[RawBatch]:
        if cursor["mode"] == "full":
            yield from self._full_batches(cursor)
        else:
            yield from self._incremental_batches(cursor)

    def closing_cursor(self, cursor: dict) -> dict:
        """After a full pass, incrementals continue from the newest SystemModstamp it read."""
        return {"mode": "incremental", "mapping": cursor["mapping"], "watermark": cursor.get("watermark"),
                "edge": cursor.get("edge", {})}

    def poll(self, state: dict) -> PollResult:
        """One queryAll call for the few records at or after the watermark: any the last import did not see
        means something was created, changed or deleted (hard deletes wait for the weekly full sync)."""
        cursor = state.get("cursor")
        if (not cursor or cursor.get("mode") != "incremental" or state.get("pass_open")
                or cursor.get("mapping") != mapping_fingerprint(self.source)):
            return PollResult(True, f"Salesforce {self.object}: no completed full sync yet")
        watermark = cursor.get("watermark")
        if watermark is None:
            soql = self._soql(["Id"], limit=1)
            found = self.org.call(lambda sf: sf.query(soql, include_deleted=True), f"polling {self.object}")
            changed = bool(found["records"])
            return PollResult(changed, f"Salesforce {self.object}: {'records' if changed else 'still no records'}")
        floor = _soql_datetime(watermark)
        known = {(i, s) for i, s in cursor.get("edge", {}).items() if s[:19] >= floor[:19]}
        soql = self._soql(["Id", MODIFIED_COLUMN], since=floor, limit=len(known) + 1, ordered=True)
        for record in self._records(soql, f"polling {self.object}"):
            if (record["Id"], _stamp(record[MODIFIED_COLUMN])) not in known:
                return PollResult(True, f"Salesforce {self.object}: records created, changed or deleted after "
                                        f"{watermark}")
        return PollResult(False, f"Salesforce {self.object}: nothing changed since {watermark}")

    # -- full sync --------------------------------------------------------------------------

    def _full_batches(self, cursor: dict) -> Iterator[RawBatch]:
        """One batch per Bulk results page; each batch's cursor holds the locator of the page after it."""
        if cursor.get("done"):
            return
        job, locator = cursor.get("job"), cursor.get("locator") or ""
        if job and not self.bulk.exists(job):
            job, locator = None, ""  # rows read already keep this pass's mark; reading them again is harmless
        if not job:
            job = self.bulk.start(self._soql(self.columns))
        self.bulk.wait(job)
        watermark = Watermark(cursor.get("watermark"), cursor.get("edge", {}))
        position = 0
        while True:
            page = self.bulk.page(job, locator, self.columns, self.page_records)
            watermark.see(page.frame)
            next_cursor = {**cursor, "job": job, "locator": page.next_locator, "done": not page.next_locator,
                           **watermark.as_cursor()}
            yield self._raw_batch(page.frame, position, next_cursor)
            position += len(page.frame)
            if not page.next_locator:
                return
            locator = page.next_locator

    # -- incremental ------------------------------------------------------------------------

    def _incremental_batches(self, cursor: dict) -> Iterator[RawBatch]:
        """Records at or after the watermark (less the overlap), minus those seen already, in batches."""
        since = cursor.get("watermark")
        start = None if since is None else _soql_datetime(_shift(since, -OVERLAP))
        seen = cursor.get("edge", {})
        watermark = Watermark(since, seen)
        pending: list[dict] = []
        position = 0
        for record in self._records(self._soql(self.columns, since=start, ordered=True),
                                    f"reading changed {self.object} records"):
            row = _row(record, self.columns)
            if seen.get(row["Id"]) == row[MODIFIED_COLUMN]:
                continue
            pending.append(row)
            if len(pending) >= self.batch_size:
                yield self._incremental_batch(pending, position, cursor, watermark)
                position += len(pending)
                pending = []
        if pending:
            yield self._incremental_batch(pending, position, cursor, watermark)

    def _incremental_batch(self, rows: list[dict], position: int, cursor: dict, watermark: "Watermark") -> RawBatch:
        frame = pd.DataFrame.from_records(rows, columns=self.columns).astype("string")
        watermark.see(frame)
        return self._raw_batch(frame, position, {**cursor, **watermark.as_cursor()})

    def _records(self, soql: str, what: str) -> Iterator[dict]:
        """A REST queryAll result, page by page (each page one call under the org's retry rules)."""
        result = self.org.call(lambda sf: sf.query(soql, include_deleted=True), what)
        while True:
            yield from result["records"]
            if result["done"]:
                return
            next_url = result["nextRecordsUrl"]
            result = self.org.call(lambda sf: sf.query_more(next_url, identifier_is_url=True), what)

    # -- shared -----------------------------------------------------------------------------

    def _raw_batch(self, frame: pd.DataFrame, position: int, cursor: dict) -> RawBatch:
        """Deleted records become deleted_ids; those merged away also stay in the frame, so their
        MasterRecordId reaches the identity keys before they are marked."""
        frame = frame.reset_index(drop=True)
        deleted = frame["IsDeleted"].str.lower() == "true"
        merged = frame[MASTER_RECORD_COLUMN].notna() & (frame[MASTER_RECORD_COLUMN] != "")
        keep = ~deleted | merged
        numbers = pd.Series(range(position + 1, position + len(frame) + 1), dtype="int64")
        return RawBatch(frame=frame[keep].reset_index(drop=True), row_numbers=numbers[keep].reset_index(drop=True),
                        cursor=cursor, deleted_ids=frame.loc[deleted, "Id"].astype(str).tolist())

    def _soql(self, columns: list[str], since: str | None = None, limit: int | None = None,
              ordered: bool = False) -> str:
        """SELECT over validated field names; the only literal is a datetime we format ourselves."""
        conditions = []
        if since is not None:
            conditions.append(f"{MODIFIED_COLUMN} >= {since}")
        if self.source.where:
            conditions.append(f"({self.source.where})")
        soql = f"SELECT {', '.join(columns)} FROM {self.object}"
        if conditions:
            soql += " WHERE " + " AND ".join(conditions)
        if ordered:
            soql += f" ORDER BY {MODIFIED_COLUMN}, Id"
        if limit is not None:
            soql += f" LIMIT {int(limit)}"
        return soql


class Watermark:
    """The newest SystemModstamp read so far, and the records read within OVERLAP before it (id -> stamp)."""

    def __init__(self, newest: str | None, edge: dict[str, str]) -> None:
        self.newest = newest
        self.edge = dict(edge)

    def see(self, frame: pd.DataFrame) -> None:
        stamps = frame[MODIFIED_COLUMN].dropna()
        if stamps.empty:
            return
        top = stamps.max()
        if self.newest is None or top > self.newest:
            self.newest = top
        threshold = _shift(self.newest, -OVERLAP)
        recent = frame[frame[MODIFIED_COLUMN] >= threshold]
        self.edge.update(zip(recent["Id"].astype(str), recent[MODIFIED_COLUMN].astype(str)))
        self.edge = {i: s for i, s in self.edge.items() if s >= threshold}

    def as_cursor(self) -> dict:
        return {"watermark": self.newest, "edge": dict(self.edge)}


def selected_columns(object_name: str, required: list[str]) -> list[str]:
    """What the SOQL selects: the system fields the connector relies on, then every mapped column."""
    system = ["Id", MODIFIED_COLUMN, "IsDeleted", MASTER_RECORD_COLUMN]
    if object_name == "Lead":
        system += list(LEAD_CONVERSION_COLUMNS)
    return list(dict.fromkeys(system + required))


def _row(record: dict, columns: list[str]) -> dict:
    """A REST record as strings like the Bulk CSV: booleans true/false, parents flattened (Account.Name)."""
    return {column: _text(_lookup(record, column), column) for column in columns}


def _lookup(record: dict, column: str):
    value = record
    for part in column.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _text(value, column: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if column == MODIFIED_COLUMN:
        return _stamp(value)
    return str(value)


def _stamp(value: str) -> str:
    """Salesforce JSON datetimes (…000+0000) in the Bulk CSV form (…000Z), so stamps compare as text."""
    if value.endswith("+0000"):
        return value[:-5] + "Z"
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
    return moment.strftime(STAMP_FORMAT) + f".{moment.microsecond // 1000:03d}Z"


def _shift(stamp: str, delta: timedelta) -> str:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")) + delta
    return moment.strftime(STAMP_FORMAT) + f".{moment.microsecond // 1000:03d}Z"


def _soql_datetime(stamp: str) -> str:
    """A SOQL datetime literal, whole seconds (rounded down), as SOQL accepts."""
    return stamp[:19] + "Z"
