"""Signal detection: changes read from field_history become signal events on the record.

The first run of a signal looks back its 3, 6 or 12 months; later runs read the history recorded
since the previous run (with a margin for imports that commit late; an event is never stored
twice, as each comes from one history row). Everything is INSERT ... SELECT in the store.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from audiences_dagster.config.models import AudiencesConfig
from audiences_dagster.config.signals import SignalConfig
from audiences_dagster.identity.carry import rewrite_summaries
from audiences_dagster.segments.filters import ContainsAnyOf, window_start
from audiences_dagster.store import dialect
from audiences_dagster.store.api import LATE_COMMIT_MARGIN, Store, utcnow

RECENT_DAYS = 30


class SignalError(ValueError):
    """A signal that is not declared in audiences.yaml was asked for."""


@dataclass
class SignalReport:
    signal: str
    entity: str
    mode: str  # look_back (first run or changed definition) | recurring
    read_since: datetime
    new_events: int = 0
    records: int = 0  # records that fired in this run
    fired_last_30_days: int = 0
    seconds: float = 0.0

    def as_metadata(self) -> dict:
        return {"new_events": self.new_events, "records_fired": self.records,
                "fired_last_30_days": self.fired_last_30_days, "run_mode": self.mode,
                "history_read_since": self.read_since.isoformat(sep=" ", timespec="seconds"),
                "seconds": round(self.seconds, 3)}


def find_signal(config: AudiencesConfig, name: str) -> SignalConfig:
    for signal in config.signals:
        if signal.name == name:
            return signal
    declared = ", ".join(s.name for s in config.signals) or "none"
    raise SignalError(f"signal '{name}' is not declared in audiences.yaml (declared: {declared})")


def definition_hash(signal: SignalConfig) -> str:
    """Changes whenever what fires the signal or how far back it looks changes."""
    text = signal.model_dump_json(exclude={"description", "recurrence"})
    return hashlib.sha256(text.encode()).hexdigest()[:32]  # pragma: no mutate (equivalent: any width of the same digest)


def run_signals(store: Store, config: AudiencesConfig, run_id: str, names: Iterable[str] | None = None,
                now: datetime | None = None) -> dict[str, SignalReport]:
    """Detect the named signals (all by default) in the history recorded since their last run."""
    now = now or utcnow()
    wanted = [find_signal(config, n) for n in names] if names is not None else list(config.signals)
    return {signal.name: _run(store, signal, run_id, now) for signal in wanted}


def _run(store: Store, signal: SignalConfig, run_id: str, now: datetime) -> SignalReport:
    started = time.perf_counter()
    state = _state(store, signal.name)
    fresh = state is None or state["definition_hash"] != definition_hash(signal)
    since = window_start(now, signal.look_back_months, "months") if fresh else state["scanned_until"] - LATE_COMMIT_MARGIN
    report = SignalReport(signal.name, signal.entity, "look_back" if fresh else "recurring", since)
    events, summary = store.tables.signal_events, store.tables.signal_summary
    with store.engine.begin() as conn:
        if fresh:  # a changed definition: what fired before may not fire now
            conn.execute(sa.delete(events).where(events.c.signal == signal.name))
            conn.execute(sa.delete(summary).where(summary.c.signal == signal.name))
        report.new_events = _detect(conn, store, signal, since, now, run_id)
        report.records = _summarize(conn, store, signal, run_id)
        _save_state(conn, store, signal, state, now, run_id)
        report.fired_last_30_days = fired_since(conn, store, signal.name, now - timedelta(days=RECENT_DAYS))
    report.seconds = time.perf_counter() - started
    return report


def _detect(conn: sa.Connection, store: Store, signal: SignalConfig, since: datetime, now: datetime,
            run_id: str) -> int:
    """Insert one event per qualifying history row not already turned into an event."""
    history, events = store.tables.field_history, store.tables.signal_events
    where = [history.c.entity == signal.entity, history.c.field == signal.watched_field,
             history.c.changed_at >= since, history.c.changed_at <= now, fires(signal, history)]
    if signal.segment:
        members = store.tables.segment_members
        where.append(sa.exists().where(members.c.segment == signal.segment,
                                       members.c.record_id == history.c.unified_id))
    found = sa.select(sa.literal(signal.name), sa.literal(signal.entity), history.c.unified_id, history.c.changed_at,
                      sa.literal(now, sa.DateTime), history.c.old_value, history.c.new_value, history.c.id,
                      sa.literal(run_id)).where(*where)
    insert = dialect.insert(conn, events).from_select(
        ["signal", "entity", "record_id", "fired_at", "detected_at", "old_value", "new_value", "history_id", "run_id"],
        found)
    return conn.execute(insert.on_conflict_do_nothing(index_elements=["signal", "history_id"])).rowcount


def fires(signal: SignalConfig, history: sa.Table) -> sa.ColumnElement[bool]:
    """Whether one field_history row is an occurrence of the signal."""
    old, new = history.c.old_value, history.c.new_value
    if signal.kind == "job_change":  # a first company is not a job change, nor is losing one
        return sa.and_(old.is_not(None), new.is_not(None), old != new)
    if signal.kind == "promotion":
        before, after = seniority_rank(signal, old), seniority_rank(signal, new)
        return sa.and_(before.is_not(None), after.is_not(None), after > before)
    if signal.change == "changed":
        return old.is_distinct_from(new)
    return _number_change(signal, sa.cast(old, sa.Float), sa.cast(new, sa.Float))


def seniority_rank(signal: SignalConfig, title: sa.ColumnElement) -> sa.ColumnElement:
    """The rank (0 = lowest) of the highest seniority level whose keyword the title contains."""
    ladder = signal.ladder
    whens = [(ContainsAnyOf(title, level.titles), rank) for rank, level in reversed(list(enumerate(ladder)))]
    return sa.case(*whens, else_=sa.null())


def _number_change(signal: SignalConfig, old: sa.ColumnElement, new: sa.ColumnElement) -> sa.ColumnElement[bool]:
    """Up (or down) by at least the threshold: an amount, or a percent of a positive old value."""
    delta = (new - old) if signal.change == "increased" else (old - new)
    conditions = [old.is_not(None), new.is_not(None), delta > 0]
    if signal.min_amount:
        conditions.append(delta >= signal.min_amount)
    if signal.min_percent:
        conditions += [old > 0, delta * 100 >= old * signal.min_percent]
    return sa.and_(*conditions)


def _summarize(conn: sa.Connection, store: Store, signal: SignalConfig, run_id: str) -> int:
    """Rewrite the summary of the records that fired in this run from their events."""
    events = store.tables.signal_events
    touched = sa.select(events.c.record_id).where(events.c.signal == signal.name, events.c.run_id == run_id).distinct()
    return rewrite_summaries(conn, store, signal.entity, touched, signal.name)


def fired_since(conn: sa.Connection, store: Store, signal: str, moment: datetime) -> int:
    """Events of one signal fired at or after `moment`."""
    events = store.tables.signal_events
    return conn.execute(sa.select(sa.func.count()).where(events.c.signal == signal,
                                                         events.c.fired_at >= moment)).scalar_one()


def _state(store: Store, signal: str) -> dict | None:
    table = store.tables.signal_state
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.signal == signal)).mappings().first()
    return dict(row) if row else None


def _save_state(conn: sa.Connection, store: Store, signal: SignalConfig, state: dict | None, now: datetime,
                run_id: str) -> None:
    table = store.tables.signal_state
    fresh = state is None or state["definition_hash"] != definition_hash(signal)
    values = {"definition_hash": definition_hash(signal), "scanned_until": now, "run_id": run_id,
              "first_run_at": now if fresh else state["first_run_at"]}
    stmt = dialect.insert(conn, table).values(signal=signal.name, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["signal"], set_=values))


def recent_events(store: Store, signal: str, limit: int = 10) -> list[tuple]:
    """The newest events of one signal: record, when it fired, old and new value."""
    events = store.tables.signal_events
    query = (sa.select(events.c.record_id, events.c.fired_at, events.c.old_value, events.c.new_value)
             .where(events.c.signal == signal).order_by(events.c.fired_at.desc(), events.c.id.desc()).limit(limit))
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]
