"""The API math for the configured sources (PRODUCT.md §3), printed by `audiences estimate`:
import calls (records / 50,000), export batches (records / 10,000) and the polls the plan's
refresh cadence makes, against each CRM connection's daily request limit.

Records are counted by the source's reader when it can (`count_records()`: the file's rows, a
COUNT(*) over the warehouse query, a CRM's own count); otherwise from the store's copy of the
source as of its last import, and the estimate says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import sqlalchemy as sa

from audiences_dagster.config.models import AudiencesConfig
from audiences_dagster.sources.importer import EXPORT_RECORDS_PER_CALL, IMPORT_RECORDS_PER_CALL, READERS
from audiences_dagster.sources.refresh import CRM_KINDS, cadence
from audiences_dagster.store.api import Store

SECONDS_PER_DAY = 24 * 60 * 60


@runtime_checkable
class RecordCounter(Protocol):
    """A reader that can count its source's records cheaply (one query or API call)."""

    def count_records(self) -> int:
        """How many records the source holds now."""


@dataclass(frozen=True)
class SourceEstimate:
    source: str
    kind: str
    records: int
    counted_from: str
    polls_per_day: int
    connection: str | None = None  # the CRM connection whose daily limit the calls count against

    @property
    def import_calls(self) -> int:
        return math.ceil(self.records / IMPORT_RECORDS_PER_CALL)

    @property
    def export_batches(self) -> int:
        return math.ceil(self.records / EXPORT_RECORDS_PER_CALL)

    @property
    def calls_per_day(self) -> int:
        """A day with one full import plus the plan's polls: the worst case for the daily limit."""
        return self.import_calls + self.polls_per_day


@dataclass(frozen=True)
class ConnectionEstimate:
    name: str
    kind: str
    daily_limit: int | None
    sources: list[SourceEstimate] = field(default_factory=list)

    @property
    def calls_per_day(self) -> int:
        return sum(s.calls_per_day for s in self.sources)

    @property
    def share_of_limit(self) -> float | None:
        return self.calls_per_day / self.daily_limit if self.daily_limit else None


@dataclass(frozen=True)
class Estimate:
    plan: str
    refresh_seconds: int
    sources: list[SourceEstimate]
    connections: list[ConnectionEstimate]

    @property
    def records(self) -> int:
        return sum(s.records for s in self.sources)


def estimate(config: AudiencesConfig, store: Store) -> Estimate:
    """Count every source and work out its calls; CRM sources are grouped by connection."""
    polls = math.ceil(SECONDS_PER_DAY / config.refresh_seconds)
    sources = [_estimate_source(config, store, name, polls) for name in config.sources]
    return Estimate(config.plan.value, config.refresh_seconds, sources, _by_connection(config, sources))


def _estimate_source(config: AudiencesConfig, store: Store, name: str, polls: int) -> SourceEstimate:
    source = config.sources[name]
    records, counted_from = _count(config, store, name)
    crm = source.kind in CRM_KINDS
    return SourceEstimate(name, source.kind, records, counted_from, polls,
                          getattr(source, "connection", None) if crm else None)


def _count(config: AudiencesConfig, store: Store, name: str) -> tuple[int, str]:
    """The reader's own count when it has one, else the store's copy as of the last import."""
    kind = config.sources[name].kind
    reader_class = READERS.get(kind)
    if reader_class is not None and issubclass(reader_class, RecordCounter):
        reader = reader_class(name, config)
        try:
            return reader.count_records(), COUNTED_BY_READER.get(kind, f"counted by the {kind} connector")
        finally:
            reader.close()
    return _stored_records(store, config, name), "the store, as of the last import (the connector offers no count)"


COUNTED_BY_READER = {"csv": "rows in the file", "sql": "COUNT(*) over the query"}


def _stored_records(store: Store, config: AudiencesConfig, name: str) -> int:
    src = store.tables.source(config.sources[name].entity)
    return store.count(src, src.c.source == name, sa.not_(src.c.deleted_in_source))


def _by_connection(config: AudiencesConfig, sources: list[SourceEstimate]) -> list[ConnectionEstimate]:
    """CRM sources reading through one account share its daily request limit."""
    declared = getattr(config, "connections", {}) or {}
    grouped: dict[str, list[SourceEstimate]] = {}
    for estimate_ in sources:
        if estimate_.kind in CRM_KINDS:
            grouped.setdefault(estimate_.connection or estimate_.source, []).append(estimate_)
    out = []
    for name, members in grouped.items():
        connection = declared.get(name)
        limit = getattr(connection, "daily_request_limit", None)
        out.append(ConnectionEstimate(name, getattr(connection, "kind", members[0].kind), limit, members))
    return out


def render(result: Estimate) -> str:
    """The estimate as the CLI prints it."""
    every = cadence(result.refresh_seconds)
    lines = [f"API math for {len(result.sources)} source(s), {result.records:,} records "
             f"({result.plan} plan: changes polled every {every})",
             "",
             f"  {'source':<22} {'kind':<10} {'records':>11} {'import calls':>13} {'export batches':>15} "
             f"{'polls/day':>10}  counted from",
             f"  {'':<22} {'':<10} {'':>11} {'(/50,000)':>13} {'(/10,000)':>15}"]
    for s in result.sources:
        lines.append(f"  {s.source:<22} {s.kind:<10} {s.records:>11,} {s.import_calls:>13,} {s.export_batches:>15,} "
                     f"{s.polls_per_day:>10,}  {s.counted_from}")
    total_imports = sum(s.import_calls for s in result.sources)
    total_exports = sum(s.export_batches for s in result.sources)
    lines.append(f"  {'total':<22} {'':<10} {result.records:>11,} {total_imports:>13,} {total_exports:>15,}")
    lines += ["", "Against the CRMs' daily request limits (one full import + the day's polls)"]
    for c in result.connections:
        limit = f"{c.daily_limit:,}" if c.daily_limit else "no daily limit configured"
        share = f" ({c.share_of_limit:.2%})" if c.share_of_limit is not None else ""
        lines.append(f"  {c.name} ({c.kind}): {c.calls_per_day:,} calls/day of {limit}{share}")
    if not result.connections:
        lines.append("  no CRM sources: files and warehouses have no API limit")
    return "\n".join(lines)
