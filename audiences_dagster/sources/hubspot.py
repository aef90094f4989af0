"""HubSpot contacts and companies through hubspot-api-client.

A full pass pages the object list (only the mapped properties), then the archived list, whose ids
become deleted in source; records missing from a full pass are marked deleted by the importer.
Incremental runs search on the last-modified property in ascending windows, each restarted from
the last timestamp seen before the search's 10,000-result cap, de-duplicated at the seams.
`hs_merged_object_ids` travels with each record: mapping turns it into merge keys (one unified
record) and the merged-away ids are reported deleted. Contacts can carry their primary associated
company in the `associations.companies` column, read in batch, never per record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd

from audiences_dagster.config.models import HUBSPOT_OBJECTS, AudiencesConfig
from audiences_dagster.sources.base import PollResult, RawBatch, ReadPlan, mapping_fingerprint, require_columns
from audiences_dagster.sources.hubspot_calls import LIST_PAGE, SEARCH_PAGE, HubSpotAccount
from audiences_dagster.sources.mapping import MERGED_IDS_COLUMN, MERGED_IDS_SEPARATOR, required_columns

# The column a contacts source names as company.account_id_column to link people to companies
# through HubSpot's contact-to-company associations (the primary one, else the first).
ASSOCIATED_COMPANY = "associations.companies"
SEARCH_RESULT_CAP = 10_000   # HubSpot answers 400 when a search pages past this many results
LOOKBACK_MS = 2 * 60 * 1000  # incrementals re-read the last two minutes: the search index lags writes
V3_PRIMARY_COMPANY = "contact_to_company"  # inline (v3) label of the primary association
V4_PRIMARY_COMPANY = 1                      # v4 typeId of the primary contact-to-company association


@dataclass
class _Window:
    """Where a search window starts: records modified at or after `start_ms` (after it, with
    `strictly_after`), skipping `seen` ids already read at exactly `start_ms`."""

    start_ms: int
    strictly_after: bool = False
    seen: set[str] = field(default_factory=set)


class HubSpotSource:
    """The reader for one `kind: hubspot` source (contacts or companies of one connection)."""

    def __init__(self, name: str, config: AudiencesConfig):
        self.name = name
        self.source = config.sources[name]
        self.batch_size = config.batch_size
        self.object_type = self.source.object
        self.modified = HUBSPOT_OBJECTS[self.object_type][1]
        self.account = HubSpotAccount(self.source.connection, config.connections[self.source.connection])
        link = self.source.company
        self.company_column = ASSOCIATED_COMPANY if link and link.account_id_column == ASSOCIATED_COMPANY else None
        self.columns = required_columns(self.source)
        synthetic = {"id", ASSOCIATED_COMPANY}
        self.properties = list(dict.fromkeys([*(c for c in self.columns if c not in synthetic), self.modified]))

    def close(self) -> None:
        self.account.close()

    def check(self) -> list[str]:
        """Read one record: a bad token or URL fails here, and so does a mapped property the
        account does not have (HubSpot leaves unknown properties out of the answer)."""
        body = self.account.list_page(self.object_type, self.properties, None, limit=1)
        results = body.get("results") or []
        returned = list((results[0].get("properties") or {}) if results else self.properties)
        available = ["id", *returned] + ([ASSOCIATED_COMPANY] if self.object_type == "contacts" else [])
        require_columns(self.name, self.source, available, f"HubSpot {self.object_type}")
        return available

    def plan(self, cursor: dict | None, full: bool = False, pass_open: bool = False) -> tuple[ReadPlan, dict]:
        mapping = mapping_fingerprint(self.source)
        fresh = not cursor or cursor.get("mapping") != mapping
        if pass_open and not fresh and cursor.get("mode") == "full" and not full:
            return ReadPlan(full_pass=True, resumed=True,
                            description=f"resuming the full pass of {self.object_type} ({cursor['phase']} records)"), cursor
        if full or fresh or cursor.get("mode") != "incremental":
            return ReadPlan(full_pass=True, resumed=False, description=f"full pass over HubSpot {self.object_type}"), \
                {"mode": "full", "mapping": mapping, "phase": "live", "after": None, "watermark": None,
                 "archived_watermark": None}
        since = cursor.get("since_ms")
        return ReadPlan(full_pass=False, resumed=False,
                        description=f"{self.object_type} modified since {_iso(since)}"), cursor

    def batches(self, cursor: dict) -> Iterator[RawBatch]:
        if cursor["mode"] == "full":
            yield from self._full_pass(cursor)
        else:
            yield from self._incremental(cursor)

    def closing_cursor(self, cursor: dict) -> dict:
        """After a full pass, search from the newest modification and archive it saw."""
        return {"mode": "incremental", "mapping": cursor["mapping"], "since_ms": cursor.get("watermark"),
                "archived_since_ms": cursor.get("archived_watermark")}

    def poll(self, state: dict) -> PollResult:
        """One search with limit 1 for records modified after the cursor; its total is the answer.
        (Archiving does not show in search: archived records are found by the next import.)"""
        cursor = state.get("cursor")
        if state.get("pass_open") and cursor and cursor.get("mode") == "full":
            return PollResult(changed=True, detail=f"the full pass of {self.object_type} stopped part way")
        if not cursor or cursor.get("mapping") != mapping_fingerprint(self.source):
            return PollResult(changed=True, detail=f"HubSpot {self.object_type} not imported with this mapping yet")
        if cursor.get("mode") != "incremental":
            return PollResult(changed=True, detail="a full pass is due before reading incrementally")
        since = cursor.get("since_ms")
        body = self.account.search(self.object_type, [self._modified_filter(_Window(since or 0, since is not None))],
                                   self.modified, [self.modified], limit=1)
        total = int(body.get("total") or 0)
        if total:
            return PollResult(changed=True, detail=f"{total} {self.object_type} modified after {_iso(since)}")
        return PollResult(changed=False, detail=f"no {self.object_type} modified after {_iso(since)}")

    # ------------------------------------------------------------ full pass

    def _full_pass(self, cursor: dict) -> Iterator[RawBatch]:
        """The live list in batches of batch_size, then the archived list as deletions."""
        cursor = dict(cursor)
        position = 0
        if cursor["phase"] == "live":
            records: list[dict] = []
            associations = [ASSOCIATED_COMPANY.split(".")[1]] if self.company_column else None
            after = cursor["after"]
            while True:
                limit = min(LIST_PAGE, self.batch_size - len(records))
                body = self.account.list_page(self.object_type, self.properties, after, associations=associations,
                                              limit=limit)
                records += body.get("results") or []
                after = ((body.get("paging") or {}).get("next") or {}).get("after")
                if after and len(records) < self.batch_size:
                    continue
                cursor["watermark"] = _latest(cursor["watermark"], (self._modified_ms(r) for r in records))
                cursor.update(after=after, phase="live" if after else "archived")
                yield self._batch(records, position, cursor, inline_associations=True)
                position += len(records)
                records = []
                if after is None:
                    break
        yield from self._archived(cursor, since_ms=None)

    def _archived(self, cursor: dict, since_ms: int | None) -> Iterator[RawBatch]:
        """Archived records (HubSpot's recycle bin) archived after since_ms, reported deleted.
        There is no server-side filter on archivedAt, so the list is read whole."""
        cursor = dict(cursor)
        full = cursor["mode"] == "full"
        after = cursor.get("after") if full else None
        key = "archived_watermark" if full else "archived_since_ms"
        floor = since_ms - LOOKBACK_MS if since_ms is not None else None
        ids: list[str] = []
        while True:
            body = self.account.list_page(self.object_type, [self.modified], after, archived=True)
            gone = body.get("results") or []
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            stamps = [_ms(r.get("archivedAt")) for r in gone]
            cursor[key] = _latest(cursor.get(key), stamps)
            ids += [r["id"] for r, at in zip(gone, stamps) if floor is None or at is None or at >= floor]
            if full:
                cursor["after"] = after
            if len(ids) >= self.batch_size or after is None:
                yield RawBatch(frame=self._frame([]), row_numbers=pd.Series([], dtype="int64"),
                               cursor=dict(cursor), deleted_ids=ids)
                ids = []
            if after is None:
                return

    # ------------------------------------------------------------ incremental

    def _incremental(self, cursor: dict) -> Iterator[RawBatch]:
        """Everything modified since the cursor (less the lookback), then new archivals."""
        cursor = dict(cursor)
        since = cursor.get("since_ms")
        window = _Window(max(since - LOOKBACK_MS, 0)) if since is not None else _Window(0)
        records: list[dict] = []
        position = 0
        for record in self._modified_records(window):
            records.append(record)
            if len(records) >= self.batch_size:
                cursor["since_ms"] = _latest(cursor.get("since_ms"), (self._modified_ms(r) for r in records))
                yield self._batch(records, position, cursor, inline_associations=False)
                position += len(records)
                records = []
        if records:
            cursor["since_ms"] = _latest(cursor.get("since_ms"), (self._modified_ms(r) for r in records))
            yield self._batch(records, position, cursor, inline_associations=False)
        yield from self._archived(cursor, since_ms=cursor.get("archived_since_ms"))

    def _modified_records(self, window: _Window) -> Iterator[dict]:
        """Search ascending by the modified property; before paging past the 10,000 cap, start a
        new window at the last timestamp seen. A window that is all one timestamp is read by id."""
        while True:
            offset, newest, at_newest, total = 0, None, set(), 0
            while True:
                limit = min(SEARCH_PAGE, SEARCH_RESULT_CAP - offset)
                body = self.account.search(self.object_type, [self._modified_filter(window)], self.modified,
                                           self.properties, after=offset, limit=limit)
                results = body.get("results") or []
                total = int(body.get("total") or 0)
                for record in results:
                    stamp = self._modified_ms(record)
                    if stamp == window.start_ms and not window.strictly_after and record["id"] in window.seen:
                        continue
                    if stamp != newest:
                        newest, at_newest = stamp, set()
                    at_newest.add(record["id"])
                    yield record
                offset += len(results)
                if not results or offset >= total:
                    return
                if offset >= SEARCH_RESULT_CAP:
                    break
            if newest is None or newest == window.start_ms:
                yield from self._one_timestamp(window.start_ms, window.seen | at_newest)
                window = _Window(window.start_ms, strictly_after=True)
            else:
                window = _Window(newest, seen=at_newest)

    def _one_timestamp(self, stamp: int, seen: set[str]) -> Iterator[dict]:
        """More than 10,000 records modified in the same millisecond: read them in id order."""
        last_id = 0
        while True:
            offset = 0
            filters = {"filters": [{"propertyName": self.modified, "operator": "EQ", "value": str(stamp)},
                                   {"propertyName": "hs_object_id", "operator": "GT", "value": str(last_id)}]}
            while offset < SEARCH_RESULT_CAP:
                body = self.account.search(self.object_type, [filters], "hs_object_id", self.properties,
                                           after=offset, limit=min(SEARCH_PAGE, SEARCH_RESULT_CAP - offset))
                results = body.get("results") or []
                yield from (r for r in results if r["id"] not in seen)
                offset += len(results)
                if not results or offset >= int(body.get("total") or 0):
                    return
                last_id = int(results[-1]["id"])

    def _modified_filter(self, window: _Window) -> dict:
        operator = "GT" if window.strictly_after else "GTE"
        return {"filters": [{"propertyName": self.modified, "operator": operator, "value": str(window.start_ms)}]}

    # ------------------------------------------------------------ records -> batches

    def _batch(self, records: list[dict], position: int, cursor: dict, inline_associations: bool) -> RawBatch:
        """Records as a frame of strings, their companies attached, merged-away ids as deletions."""
        companies = {}
        if self.company_column:
            companies = self._inline_companies(records) if inline_associations else self._companies(records)
        rows = [self._row(r, companies.get(r["id"])) for r in records]
        frame = self._frame(rows)
        merged = MERGED_IDS_COLUMN["hubspot"]
        absorbed = [i.strip() for r in records for i in ((r.get("properties") or {}).get(merged) or "")
                    .split(MERGED_IDS_SEPARATOR) if i.strip()]
        return RawBatch(frame=frame, row_numbers=pd.Series(range(position + 1, position + len(rows) + 1),
                                                           dtype="int64"),
                        cursor=dict(cursor), deleted_ids=absorbed)

    def _row(self, record: dict, company: str | None) -> list:
        props = record.get("properties") or {}
        values = {**props, "id": record["id"]}
        if self.company_column:
            values[ASSOCIATED_COMPANY] = company
        return [values.get(c) for c in self.columns]

    def _frame(self, rows: list[list]) -> pd.DataFrame:
        return pd.DataFrame(rows, columns=self.columns, dtype="string")

    def _inline_companies(self, records: list[dict]) -> dict[str, str]:
        """The primary company from list results' inline (v3) associations, else the first."""
        picked = {}
        for record in records:
            links = (((record.get("associations") or {}).get("companies") or {}).get("results")) or []
            if links:
                primary = [a for a in links if a.get("type") == V3_PRIMARY_COMPANY]
                picked[record["id"]] = str((primary or links)[0]["id"])
        return picked

    def _companies(self, records: list[dict]) -> dict[str, str]:
        """The primary company of each searched contact from v4 batch reads (1,000 per call)."""
        found = self.account.associated("contacts", "companies", [r["id"] for r in records])
        picked = {}
        for contact, targets in found.items():
            primary = [t for t in targets if any(a.get("typeId") == V4_PRIMARY_COMPANY
                                                 for a in t.get("associationTypes") or [])]
            if targets:
                picked[contact] = str((primary or targets)[0]["toObjectId"])
        return picked

    def _modified_ms(self, record: dict) -> int | None:
        return _ms((record.get("properties") or {}).get(self.modified) or record.get("updatedAt"))


def _ms(value) -> int | None:
    """HubSpot datetimes: ISO-8601 in v3 answers, epoch milliseconds in some properties."""
    if value in (None, ""):
        return None
    text = str(value)
    if text.isdigit():
        return int(text)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(round(moment.timestamp() * 1000))


def _latest(current: int | None, stamps) -> int | None:
    return max([s for s in stamps if s is not None] + ([current] if current is not None else []), default=None)


def _iso(ms: int | None) -> str:
    if ms is None:
        return "the beginning"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
