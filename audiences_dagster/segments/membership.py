"""Segment refresh: membership recomputed in the store, every change logged as an event.

A refresh compares the records that meet the filter now with `segment_members` and writes the
difference (entered / exited) to `segment_events`, all with INSERT ... SELECT and anti-joins.
After a first full refresh, only candidate records are re-evaluated: those the import cycle
changed or merged away, those a sliding date window passed over, and those whose referenced
segment membership changed. A changed filter definition, or `full=True`, re-evaluates everything.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from audiences_dagster.config.models import AudiencesConfig
from audiences_dagster.config.segments import SegmentConfig, refresh_order
from audiences_dagster.segments.filters import FilterContext, segment_condition, window_boundaries
from audiences_dagster.store import dialect
from audiences_dagster.store.api import Store, utcnow

# A record's updated_at is the time its import transaction started; one that committed after the
# previous refresh began can carry an earlier time. Candidates look back this far to catch it.
LATE_COMMIT_MARGIN = timedelta(minutes=30)
# Membership changes after which the planner's statistics for segment_members are refreshed.
RESTATS_AFTER = 10_000


class SegmentError(ValueError):
    """A segment that is not declared in audiences.yaml was asked for."""


@dataclass
class RefreshReport:
    segment: str
    entity: str
    mode: str  # full | incremental
    members: int = 0
    entered: int = 0
    exited: int = 0
    candidates: int | None = None
    seconds: float = 0.0

    def as_metadata(self) -> dict:
        out = {"members": self.members, "entered": self.entered, "exited": self.exited,
               "refresh_mode": self.mode, "seconds": round(self.seconds, 3)}
        if self.candidates is not None:
            out["candidates_reevaluated"] = self.candidates
        return out


@dataclass
class _State:
    definition_hash: str
    evaluated_at: datetime
    members: int
    last_event_id: int


@dataclass
class _Batch:
    """The segments of one entity refreshed together, sharing one scan for candidates."""

    entity: str
    segments: list[SegmentConfig]
    states: dict[str, _State] = field(default_factory=dict)


def find_segment(config: AudiencesConfig, name: str) -> SegmentConfig:
    for segment in config.segments:
        if segment.name == name:
            return segment
    declared = ", ".join(s.name for s in config.segments) or "none"
    raise SegmentError(f"segment '{name}' is not declared in audiences.yaml (declared: {declared})")


def definition_hash(segment: SegmentConfig) -> str:
    """Changes whenever what the segment means changes (entity or filter)."""
    text = segment.entity + "|" + segment.filter.model_dump_json(exclude_none=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def filter_context(store: Store, config: AudiencesConfig, entity: str, now: datetime) -> FilterContext:
    return FilterContext(store.tables, entity, config.fields(entity), now)


def refresh_segments(store: Store, config: AudiencesConfig, run_id: str, names: Iterable[str] | None = None,
                     now: datetime | None = None, full: bool = False) -> dict[str, RefreshReport]:
    """Refresh the named segments (all by default), referenced segments first."""
    now = now or utcnow()
    wanted = set(names) if names is not None else {s.name for s in config.segments}
    for name in wanted:
        find_segment(config, name)
    ordered = [s for s in refresh_order(config.segments) if s.name in wanted]
    reports: dict[str, RefreshReport] = {}
    for entity in ("companies", "people"):
        batch = _Batch(entity, [s for s in ordered if s.entity == entity])
        if batch.segments:
            reports.update(_refresh_batch(store, config, batch, run_id, now, full))
    return {s.name: reports[s.name] for s in ordered}


def _refresh_batch(store: Store, config: AudiencesConfig, batch: _Batch, run_id: str,
                   now: datetime, full: bool) -> dict[str, RefreshReport]:
    batch.states = _states(store, [s.name for s in batch.segments])
    incremental = [] if full else [s for s in batch.segments if _can_increment(s, batch.states)]
    ctx = filter_context(store, config, batch.entity, now)
    reports = {}
    with store.engine.begin() as conn:
        scratch = _Scratch.create(conn)
        shared = _shared_candidates(conn, store, ctx, incremental, batch.states) if incremental else None
        for segment in batch.segments:
            started = time.perf_counter()
            scratch.empty(conn)
            if shared is not None and segment in incremental:
                state = batch.states[segment.name]
                candidates = _segment_candidates(conn, store, segment, shared, scratch, state.last_event_id)
                report = _apply(conn, store, ctx, segment, run_id, scratch, candidates, state.members)
            else:
                report = _apply(conn, store, ctx, segment, run_id, scratch, None, 0)
            _save_state(conn, store, segment, report, now, run_id)
            report.seconds = time.perf_counter() - started
            reports[segment.name] = report
        if sum(r.entered + r.exited for r in reports.values()) >= RESTATS_AFTER:
            # Fresh statistics keep the next incremental refresh on index probes by candidate.
            dialect.analyze(conn, store.tables.segment_members)
    return reports


@dataclass
class _Scratch:
    """Connection-private work tables, created once per batch and emptied for each segment."""

    fresh: sa.Table  # records meeting the filter (unindexed: a full pass loads it faster)
    exited: sa.Table
    entered: sa.Table
    candidates: sa.Table  # shared candidates plus referenced segments' changes

    @classmethod
    def create(cls, conn: sa.Connection) -> _Scratch:
        fresh = dialect.create_temp_table(conn, "seg_fresh", [sa.Column("id", sa.BigInteger(), nullable=False)])
        return cls(fresh, _id_table(conn, "seg_exited"), _id_table(conn, "seg_entered"),
                   _id_table(conn, "seg_candidates_refs"))

    def empty(self, conn: sa.Connection) -> None:
        for table in (self.fresh, self.exited, self.entered, self.candidates):
            conn.execute(sa.text(f"TRUNCATE TABLE {table.name}") if dialect.is_postgres(conn) else sa.delete(table))


def _can_increment(segment: SegmentConfig, states: dict[str, _State]) -> bool:
    state = states.get(segment.name)
    return state is not None and state.definition_hash == definition_hash(segment)


def _states(store: Store, names: list[str]) -> dict[str, _State]:
    table = store.tables.segment_state
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(table).where(table.c.segment.in_(names))).mappings().all()
    return {r["segment"]: _State(r["definition_hash"], r["evaluated_at"], r["members"], r["last_event_id"])
            for r in rows}


def _shared_candidates(conn: sa.Connection, store: Store, ctx: FilterContext,
                       segments: list[SegmentConfig], states: dict[str, _State]) -> sa.Table:
    """Ids any incremental segment of this entity must re-evaluate, found in one scan: changed
    since the oldest previous refresh, passed over by a sliding window, or merged away."""
    unified, log = ctx.unified, store.tables.merge_log
    since = min(states[s.name].evaluated_at for s in segments) - LATE_COMMIT_MARGIN
    changed = [unified.c.updated_at >= since]
    for segment in segments:
        changed += window_boundaries(segment, ctx, states[segment.name].evaluated_at)
    table = _id_table(conn, f"seg_candidates_{ctx.entity}")
    recent_merge = sa.and_(log.c.entity == ctx.entity, sa.or_(log.c.merged_at >= since, log.c.undone_at >= since))
    conn.execute(sa.insert(table).from_select(["id"], sa.union(
        sa.select(unified.c.id).where(sa.or_(*changed)),
        sa.select(log.c.absorbed_id).where(recent_merge),
        sa.select(log.c.survivor_id).where(recent_merge),
    )))
    dialect.analyze(conn, table)
    return table


def _segment_candidates(conn: sa.Connection, store: Store, segment: SegmentConfig, shared: sa.Table,
                        scratch: _Scratch, after_event: int) -> sa.Table:
    """The shared candidates, plus records that entered or left a segment this one refers to since
    this one was last refreshed. Segment refreshes are ordered by their asset dependencies, so the
    event id is a safe watermark (unlike import times, which can commit late)."""
    refs = segment.referenced_segments()
    if not refs:
        return shared
    events = store.tables.segment_events
    table = scratch.candidates
    conn.execute(sa.insert(table).from_select(["id"], sa.union(
        sa.select(shared.c.id),
        sa.select(events.c.record_id).where(events.c.segment.in_(refs), events.c.id > after_event),
    )))
    dialect.analyze(conn, table)
    return table


def _id_table(conn: sa.Connection, name: str) -> sa.Table:
    return dialect.create_temp_table(conn, name, [sa.Column("id", sa.BigInteger(), primary_key=True)])


def _apply(conn: sa.Connection, store: Store, ctx: FilterContext, segment: SegmentConfig, run_id: str,
           scratch: _Scratch, candidates: sa.Table | None, members_before: int) -> RefreshReport:
    """Write the membership difference for all records (candidates=None) or for candidates only."""
    unified, members = ctx.unified, store.tables.segment_members
    this = members.c.segment == segment.name
    fresh, exited, entered = scratch.fresh, scratch.exited, scratch.entered
    query = sa.select(unified.c.id).where(segment_condition(segment, ctx))
    if candidates is not None:
        query = query.join(candidates, candidates.c.id == unified.c.id)
    matching = conn.execute(sa.insert(fresh).from_select(["id"], query)).rowcount
    dialect.analyze(conn, fresh)

    current = sa.select(members.c.record_id).where(this)
    if candidates is not None:
        current = current.join(candidates, candidates.c.id == members.c.record_id)
    conn.execute(sa.insert(exited).from_select(
        ["id"], current.where(~sa.exists().where(fresh.c.id == members.c.record_id))))
    conn.execute(sa.insert(entered).from_select(
        ["id"], sa.select(fresh.c.id).where(~sa.exists().where(this, members.c.record_id == fresh.c.id))))

    n_exited = _log_events(conn, store, segment, exited, "exited", ctx.now, run_id)
    conn.execute(sa.delete(members).where(this, members.c.record_id.in_(sa.select(exited.c.id))))
    n_entered = _log_events(conn, store, segment, entered, "entered", ctx.now, run_id)
    conn.execute(sa.insert(members).from_select(
        ["segment", "record_id", "entered_at", "run_id"],
        sa.select(sa.literal(segment.name), entered.c.id, sa.literal(ctx.now, sa.DateTime), sa.literal(run_id))))
    total = matching if candidates is None else members_before + n_entered - n_exited
    mode = "full" if candidates is None else "incremental"
    checked = None if candidates is None else conn.execute(sa.select(sa.func.count()).select_from(candidates)).scalar_one()
    return RefreshReport(segment.name, segment.entity, mode, total, n_entered, n_exited, checked)


def _log_events(conn: sa.Connection, store: Store, segment: SegmentConfig, ids: sa.Table, event: str,
                now: datetime, run_id: str) -> int:
    events = store.tables.segment_events
    return conn.execute(sa.insert(events).from_select(
        ["segment", "entity", "record_id", "event", "at", "run_id"],
        sa.select(sa.literal(segment.name), sa.literal(segment.entity), ids.c.id, sa.literal(event),
                  sa.literal(now, sa.DateTime), sa.literal(run_id)))).rowcount


def _save_state(conn: sa.Connection, store: Store, segment: SegmentConfig, report: RefreshReport,
                now: datetime, run_id: str) -> None:
    table = store.tables.segment_state
    events = store.tables.segment_events
    newest = conn.execute(sa.select(sa.func.coalesce(sa.func.max(events.c.id), 0))).scalar_one()
    values = {"entity": segment.entity, "definition_hash": definition_hash(segment), "evaluated_at": now,
              "refreshed_at": utcnow(), "members": report.members, "last_event_id": newest, "run_id": run_id}
    stmt = dialect.insert(conn, table).values(segment=segment.name, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["segment"], set_=values))


def member_count(store: Store, segment: str) -> int:
    """Members as kept in the store (what the asset reports)."""
    members = store.tables.segment_members
    return store.count(members, members.c.segment == segment)


def condition_count(store: Store, config: AudiencesConfig, segment: SegmentConfig,
                    now: datetime | None = None) -> int:
    """A direct count of the records meeting the filter right now, bypassing segment_members
    for this segment (referenced segments are read from the store)."""
    ctx = filter_context(store, config, segment.entity, now or utcnow())
    return store.count(ctx.unified, segment_condition(segment, ctx))
