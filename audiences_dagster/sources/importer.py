"""Import one source into the store, batch by batch, each batch committed with its cursor.

A run killed between batches leaves every committed batch and its cursor in place; the next run
resumes after the last one. Nothing is written before the source and the store have been checked.
"""

from __future__ import annotations

import json
import math
import queue
import threading
import time
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import pandas as pd
import sqlalchemy as sa

from audiences_dagster.config.models import AudiencesConfig
from audiences_dagster.sources.base import RawBatch, SourceError, SourceReader
from audiences_dagster.sources.caps import PlanCapGuard
from audiences_dagster.sources.csv_file import CsvSource
from audiences_dagster.sources.hubspot import HubSpotSource
from audiences_dagster.sources.mapping import MappedBatch, map_batch, required_columns
from audiences_dagster.sources.salesforce import SalesforceSource
from audiences_dagster.sources.sql_warehouse import SqlSource
from audiences_dagster.store import dialect
from audiences_dagster.store.api import BatchCounts, DirectBatch, DirectLoad, Store
from audiences_dagster.store.dialect import Load, render_load

T = TypeVar("T")
_DONE = object()
IMPORT_RECORDS_PER_CALL = 50_000
EXPORT_RECORDS_PER_CALL = 10_000
ANALYZE_AFTER_INSERTS = 10_000


@dataclass
class ImportReport:
    source: str
    entity: str
    plan: str
    rows_read: int = 0
    counts: BatchCounts = field(default_factory=BatchCounts)
    quarantined_rows: Counter = field(default_factory=Counter)
    dropped_values: Counter = field(default_factory=Counter)
    deleted_in_source: int = 0
    batches: int = 0
    resumed: bool = False
    skipped: str | None = None
    seconds: float = 0.0
    plan_cap: dict = field(default_factory=dict)  # PlanCapGuard.as_metadata()
    cap_reason: str | None = None  # set when new records were held back at the plan's cap
    api_usage: str | None = None  # a CRM's daily API requests "used/limit" as it last reported them
    readmitted: int = 0  # records taken in from rows an earlier version quarantined as keyless

    @property
    def quarantined(self) -> int:
        return sum(self.quarantined_rows.values())

    @property
    def records_kept(self) -> int:
        """Rows read that are in the store now: every row read is kept, quarantined as malformed,
        or held back at the plan's cap."""
        return self.counts.inserted + self.counts.updated + self.counts.unchanged

    @property
    def quarantined_share(self) -> float:
        return self.quarantined / self.rows_read if self.rows_read else 0.0

    @property
    def api_calls(self) -> int:
        """The API math: records / 50,000 import calls (PRODUCT.md §3)."""
        return math.ceil(self.rows_read / IMPORT_RECORDS_PER_CALL)

    def as_metadata(self) -> dict:
        return {
            "plan": self.plan, "rows_read": self.rows_read, "inserted": self.counts.inserted,
            "updated": self.counts.updated, "unchanged": self.counts.unchanged,
            "records_kept": self.records_kept, "quarantined_rows": self.quarantined,
            "readmitted_records": self.readmitted,
            "deleted_in_source": self.deleted_in_source, "batches": self.batches,
            "api_calls_at_50k": self.api_calls, "resumed": self.resumed,
            "skipped": self.skipped or "", "seconds": round(self.seconds, 3),
            **self.plan_cap, "cap_reason": self.cap_reason or "",
            **({"api_usage": self.api_usage} if self.api_usage else {}),
        }


# One reader class per source kind (the connectors in sources/).
READERS: dict[str, type[SourceReader]] = {"csv": CsvSource, "sql": SqlSource, "hubspot": HubSpotSource,
                                          "salesforce": SalesforceSource}


def reader_for(name: str, config: AudiencesConfig) -> SourceReader:
    return READERS[config.sources[name].kind](name, config)


def import_source(store: Store, config: AudiencesConfig, name: str, run_id: str,
                  full: bool = False) -> ImportReport:
    """Read a source into source_<entity>; `full` forces a full pass (deletes become visible)."""
    started = time.perf_counter()
    reader = reader_for(name, config)
    try:
        return _import(store, config, name, reader, run_id, full, started)
    finally:
        reader.close()


def _import(store: Store, config: AudiencesConfig, name: str, reader: SourceReader, run_id: str,
            full: bool, started: float) -> ImportReport:
    source = config.sources[name]
    reader.check()
    state = store.sync_state(name)
    plan, cursor = reader.plan(state["cursor"], full=full, pass_open=state["pass_open"])
    report = ImportReport(source=name, entity=source.entity, plan=plan.description, resumed=plan.resumed)
    report.readmitted = _readmit(store, config, name, run_id)
    if plan.skip_reason:
        report.skipped = plan.skip_reason
        report.seconds = time.perf_counter() - started
        return report

    pass_number = state["pass_number"]
    if plan.full_pass and not plan.resumed:
        pass_number += 1
        with store.engine.begin() as conn:
            store.save_sync_state(conn, name, cursor, pass_number=pass_number, pass_open=True)
    seen_pass = pass_number if plan.full_pass else None
    cap = PlanCapGuard.start(store, config, name)  # (after any re-admitted records: they count)
    store.begin_first_load(source.entity)
    direct = store.direct_load(name, source.entity, {"object": source.object, "tier": source.effective_tier.value,
                                                     "run_id": run_id, "seen_pass": seen_pass}
                               ) if state["cursor"] is None else None  # never imported

    for raw, mapped, rendered in read_ahead(_mapped(reader, cursor, name, config, store.engine.dialect.name, direct)):
        entries = raw.quarantine + mapped.quarantine
        with store.engine.begin() as conn:
            dialect.rederivable(conn)  # the batch and its cursor: read again if a crash loses them
            rows, keys = cap.admit(conn, mapped.rows, mapped.keys)
            counts = store.write_batch(
                conn, source=name, entity=source.entity, object_name=source.object,
                tier=source.effective_tier.value, rows=rows, keys=keys,
                run_id=run_id, seen_pass=seen_pass,
                rendered=rendered if rows is mapped.rows else None)  # else cut at the cap
            cap.written(counts.inserted)
            store.quarantine(conn, name, run_id, entries)
            if raw.deleted_ids:
                report.deleted_in_source += store.mark_deleted(conn, name, source.entity, raw.deleted_ids)
            if not cap.reached:  # past the cap the cursor stays before the held-back records
                store.save_sync_state(conn, name, raw.cursor, pass_number=pass_number, pass_open=plan.full_pass)
        cursor = raw.cursor
        rows_read = len(raw.frame) + len(raw.quarantine)
        report.rows_read += rows_read
        report.counts.add(counts)
        if rows_read:  # a CSV ends with an empty batch that only marks the file complete
            report.batches += 1
        for entry in entries:
            (report.quarantined_rows if entry["scope"] == "row" else report.dropped_values)[entry["reason"]] += 1

    if plan.full_pass:
        with store.engine.begin() as conn:
            # Every source row was read, held back or not: rows missing from the pass are gone.
            report.deleted_in_source += store.mark_unseen_deleted(conn, name, source.entity, pass_number)
            if not cap.reached:  # else the pass stays open and resumes at the held-back records
                closing = reader.closing_cursor(cursor)
                store.save_sync_state(conn, name, closing, pass_number=pass_number, pass_open=False,
                                      full_sync_done=True)
    report.plan_cap, report.cap_reason = cap.as_metadata(), cap.reason()
    report.api_usage = getattr(reader, "api_usage", None)  # CRM readers report it (Sforce-Limit-Info)
    if report.counts.inserted >= ANALYZE_AFTER_INSERTS:
        store.refresh_statistics(source.entity)
    report.seconds = time.perf_counter() - started
    return report


def _readmit(store: Store, config: AudiencesConfig, name: str, run_id: str) -> int:
    """Take in the rows an earlier version quarantined for having no cross-source key (kept in
    `readmissions` by migration 0011), mapped with today's configuration, a batch per
    transaction. Only each source id's newest such row is taken, and not when the source table
    holds a version imported after it. Returns how many records it wrote."""
    source = config.sources[name]
    waiting, src = store.tables.readmissions, store.tables.source(source.entity)
    newer = sa.alias(waiting, "newer")
    superseded = sa.or_(
        sa.exists().where(newer.c.source == waiting.c.source, newer.c.source_id == waiting.c.source_id,
                          newer.c.id > waiting.c.id),
        sa.exists().where(src.c.source == waiting.c.source, src.c.source_id == waiting.c.source_id,
                          src.c.imported_at >= waiting.c.quarantined_at))
    if not store.count(waiting, waiting.c.source == name):  # (an empty table, once taken in)
        return 0
    cap, written = PlanCapGuard.start(store, config, name), 0
    while True:
        with store.engine.begin() as conn:
            dialect.rederivable(conn)
            batch = conn.execute(
                sa.select(waiting.c.id, waiting.c.row_number, waiting.c.raw, superseded.label("superseded"))
                .where(waiting.c.source == name).order_by(waiting.c.id).limit(config.batch_size)).all()
            if not batch:
                return written
            taken = [row for row in batch if not row.superseded]
            if taken:
                raw = pd.DataFrame.from_records([json.loads(row.raw) for row in taken])
                raw = raw.reindex(columns=list(dict.fromkeys([*raw.columns, *required_columns(source)])))
                mapped = map_batch(raw, pd.Series([row.row_number for row in taken]), name, config)
                rows, keys = cap.admit(conn, mapped.rows, mapped.keys)
                counts = store.write_batch(conn, source=name, entity=source.entity, object_name=source.object,
                                           tier=source.effective_tier.value, rows=rows, keys=keys,
                                           run_id=run_id, seen_pass=None)
                cap.written(counts.inserted)
                store.quarantine(conn, name, run_id, mapped.quarantine)
                written += counts.inserted + counts.updated
                if cap.reached:  # the rest wait for room under the cap
                    return written
            conn.execute(sa.delete(waiting).where(waiting.c.id.in_([row.id for row in batch])))


def _mapped(reader: SourceReader, cursor: dict, name: str, config: AudiencesConfig, backend: str,
            direct: DirectLoad | None = None,
            ) -> Generator[tuple[RawBatch, MappedBatch, tuple[Load, Load] | DirectBatch], None, None]:
    """Each batch read, mapped, and its rows and keys rendered for the store's bulk load: for a
    direct load while it lasts, else for staging."""
    batches = reader.batches(cursor)
    try:
        for raw in batches:
            mapped = map_batch(raw.frame, raw.row_numbers, name, config)
            rendered = direct.render(mapped.rows, mapped.keys) if direct else None
            yield raw, mapped, rendered or (render_load(backend, mapped.rows), render_load(backend, mapped.keys))
    finally:
        batches.close()  # gives the source's connection back even when mapping fails


def read_ahead(items: Generator[T, None, None]) -> Iterator[T]:
    """Produce the next item in a thread while the caller works on this one: reading, mapping and
    rendering a batch (Python) overlaps writing the previous one (the database). At most two
    batches are in memory; a failure on either side stops both and is raised here."""
    slot: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _offer(slot, (item, None), stop):
                    return
            _offer(slot, (_DONE, None), stop)
        except BaseException as exc:  # handed to the consumer, which raises it
            _offer(slot, (_DONE, exc), stop)
        finally:
            items.close()

    worker = threading.Thread(target=produce, name="import-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item, error = slot.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        worker.join()


def _offer(slot: queue.Queue, entry: tuple, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            slot.put(entry, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


__all__ = ["ImportReport", "SourceError", "import_source", "reader_for"]
