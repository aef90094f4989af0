"""The Data Hub: record, field and signal counts; per field its fill rate, sources and type; and
the signals fired in the last 30 days. Every figure is one aggregate query in the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from audiences_dagster.config.models import AudiencesConfig
from audiences_dagster.config.segments import TYPE_FAMILY
from audiences_dagster.store.api import Store, utcnow
from audiences_dagster.store.reports import markdown_table
from audiences_dagster.store.schema import ENTITIES

RECENT_DAYS = 30


@dataclass
class RecordCounts:
    entity: str
    live: int
    archived: int
    deleted_in_source: int


@dataclass
class FieldStats:
    entity: str
    field: str
    type: str
    filled: int
    fill_rate: float  # share of live records with a value
    sources: list[str]


@dataclass
class SignalStats:
    signal: str
    entity: str
    kind: str
    events: int
    records: int
    fired_recently: int  # events fired in the last 30 days
    recent_records: int
    last_fired_at: datetime | None


@dataclass
class DataHub:
    generated_at: datetime
    records: list[RecordCounts] = field(default_factory=list)
    fields: list[FieldStats] = field(default_factory=list)
    signals: list[SignalStats] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        return {"records": sum(r.live for r in self.records), "fields": len(self.fields),
                "signals": len(self.signals), "signal_events": sum(s.events for s in self.signals),
                "signals_fired_last_30_days": sum(s.fired_recently for s in self.signals)}

    def records_markdown(self) -> str:
        return markdown_table(["entity", "records", "archived", "deleted in source"],
                              [(r.entity, r.live, r.archived, r.deleted_in_source) for r in self.records])

    def fields_markdown(self) -> str:
        return markdown_table(["entity", "field", "type", "filled", "fill rate", "sources"],
                              [(f.entity, f.field, f.type, f.filled, f"{f.fill_rate:.1%}", ", ".join(f.sources))
                               for f in self.fields])

    def signals_markdown(self) -> str:
        if not self.signals:
            return "no signals declared"
        return markdown_table(
            ["signal", "entity", "kind", f"fired last {RECENT_DAYS} days", "records", "events in all", "last fired"],
            [(s.signal, s.entity, s.kind, s.fired_recently, s.recent_records, s.events,
              s.last_fired_at.isoformat(sep=" ", timespec="seconds") if s.last_fired_at else "never")
             for s in self.signals])

    def render(self) -> str:
        """The whole hub as text (markdown tables), as the CLI prints it."""
        totals = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in self.totals.items())
        return "\n\n".join([f"Data Hub, {self.generated_at:%Y-%m-%d %H:%M:%S} UTC: {totals}",
                            "Records\n" + self.records_markdown(), "Fields\n" + self.fields_markdown(),
                            f"Signals (fired in the last {RECENT_DAYS} days)\n" + self.signals_markdown()])


def build_data_hub(store: Store, config: AudiencesConfig, now: datetime | None = None) -> DataHub:
    """Read every figure of the hub from the store as of `now`."""
    hub = DataHub(now or utcnow())
    for entity in ENTITIES:
        if config.sources_for(entity):
            counts, filled = _entity_counts(store, config, entity)
            hub.records.append(counts)
            hub.fields += [_field_stats(config, entity, name, kind, filled[name], counts.live)
                           for name, kind in config.fields(entity).items()]
    hub.signals = _signal_stats(store, config, hub.generated_at - timedelta(days=RECENT_DAYS))
    return hub


def _entity_counts(store: Store, config: AudiencesConfig, entity: str) -> tuple[RecordCounts, dict[str, int]]:
    """Live / archived / deleted-in-source counts and per-field filled counts, in one scan."""
    unified = store.tables.unified(entity)
    live = ~unified.c.archived
    fields = config.fields(entity)
    columns = [_count_if(live).label("live"), _count_if(unified.c.archived).label("archived"),
               _count_if(sa.and_(live, unified.c.deleted_in_source)).label("deleted")]
    columns += [_count_if(sa.and_(live, _has_value(unified.c[name], kind))).label(f"f_{name}")
                for name, kind in fields.items()]
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(*columns).select_from(unified)).mappings().one()
    counts = RecordCounts(entity, int(row["live"] or 0), int(row["archived"] or 0), int(row["deleted"] or 0))
    return counts, {name: int(row[f"f_{name}"] or 0) for name in fields}


def _count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.sum(sa.case((condition, 1), else_=0))  # pragma: no mutate (equivalent: every reader turns a NULL sum into 0)


def _has_value(column: sa.ColumnElement, kind: str) -> sa.ColumnElement[bool]:
    if TYPE_FAMILY[kind] == "text":
        return sa.and_(column.is_not(None), column != "")  # pragma: no mutate (equivalent: NULL != '' is not true either)
    return column.is_not(None)


def _field_stats(config: AudiencesConfig, entity: str, name: str, kind: str, filled: int, live: int) -> FieldStats:
    sources = [s for s, source in config.sources_for(entity).items() if name in source.fields]
    return FieldStats(entity, name, kind, filled, filled / live if live else 0.0, sources)


def _signal_stats(store: Store, config: AudiencesConfig, recent: datetime) -> list[SignalStats]:
    """Per declared signal: events in all and in the last 30 days, and the records they fired on."""
    events = store.tables.signal_events
    is_recent = events.c.fired_at >= recent
    query = (sa.select(events.c.signal, sa.func.count().label("events"),
                       sa.func.count(sa.distinct(events.c.record_id)).label("records"),
                       _count_if(is_recent).label("recent"),
                       sa.func.count(sa.distinct(sa.case((is_recent, events.c.record_id)))).label("recent_records"),
                       sa.func.max(events.c.fired_at).label("last"))
             .group_by(events.c.signal))
    with store.engine.connect() as conn:
        found = {r["signal"]: r for r in conn.execute(query).mappings()}
    stats = []
    for signal in config.signals:
        row = found.get(signal.name)
        stats.append(SignalStats(signal.name, signal.entity, signal.kind, int(row["events"]) if row else 0,
                                 int(row["records"]) if row else 0, int(row["recent"] or 0) if row else 0,
                                 int(row["recent_records"]) if row else 0, row["last"] if row else None))
    return stats
