"""Segment refresh: membership recomputed in the store, every change logged as an event.

A refresh compares the records that meet the filter now with `segment_members` and writes the
difference (entered / exited) to `segment_events`, all with INSERT ... SELECT: a full refresh is
one full outer join per segment. After a first full refresh, only candidate records are
re-evaluated: those the import cycle changed or merged away, those a sliding date window passed
over, those with new signal events, and those whose referenced segment membership changed. They
are found once per refresh and copied into a small indexed table every segment is evaluated over.
A changed filter definition, or `full=True`, re-evaluates everything.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from audiences_dagster.config.models import AudiencesConfig
from audiences_dagster.config.segments import SegmentConfig, refresh_order
from audiences_dagster.segments.filters import (
    FilterContext,
    segment_condition,
    signal_candidates,
    window_boundaries,
)
from audiences_dagster.store import dialect
from audiences_dagster.store.api import LATE_COMMIT_MARGIN, Store, utcnow

# Membership changes after which the planner's statistics for segment_members are refreshed: at
# least this many, and at least this share of the memberships kept (a first build, a redefined
# segment); autovacuum keeps up with the everyday trickle.
RESTATS_AFTER = 10_000
RESTATS_SHARE = 0.1


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
    referenced = {ref for s in batch.segments for ref in s.referenced_segments()}
    reports = {}
    with store.engine.begin() as conn:
        verdicts = _Verdicts.create(conn)
        found = _Candidates.find(conn, store, ctx, incremental, batch) if incremental else None
        for segment in batch.segments:
            started = time.perf_counter()
            verdicts.empty(conn)
            before = batch.states[segment.name].members if segment.name in batch.states else 0
            if found is not None and segment in incremental:
                verdicts.over_candidates(conn, segment, ctx.over(found.rows, found.members))
                mode, candidates = "incremental", found.count
            else:
                verdicts.over_all(conn, store, segment, ctx)
                mode, candidates = "full", None
            entered, exited = _write_changes(conn, store, segment, verdicts, ctx.now, run_id)
            if found is not None and entered + exited:
                found.apply(conn, segment.name, verdicts.table)
                if segment.name in referenced:
                    found.add(conn, ctx, sa.select(verdicts.table.c.id))
            report = RefreshReport(segment.name, segment.entity, mode, before + entered - exited, entered, exited,
                                   candidates)
            _save_state(conn, store, segment, report, now, run_id)
            report.seconds = time.perf_counter() - started
            reports[segment.name] = report
        changes = sum(r.entered + r.exited for r in reports.values())
        if changes >= max(RESTATS_AFTER, RESTATS_SHARE * sum(r.members for r in reports.values())):
            # Fresh statistics keep the next incremental refresh on index probes by candidate.
            dialect.analyze(conn, store.tables.segment_members)
    return reports


@dataclass
class _Verdicts:
    """A connection-private table of the records whose membership changes in this refresh:
    id, meets (1 if it meets the filter now) and was (1 if it is a member now)."""

    table: sa.Table

    @classmethod
    def create(cls, conn: sa.Connection) -> _Verdicts:
        return cls(dialect.create_temp_table(conn, "seg_verdicts", [
            sa.Column("id", sa.BigInteger(), nullable=False), sa.Column("meets", sa.Integer(), nullable=False),
            sa.Column("was", sa.Integer(), nullable=False)]))

    def empty(self, conn: sa.Connection) -> None:
        _truncate(conn, self.table)

    def over_candidates(self, conn: sa.Connection, segment: SegmentConfig, ctx: FilterContext) -> None:
        """One pass over the candidate rows: each is judged against the filter and its current
        membership (both read from the candidates' copies), and only those whose verdict differs
        are kept."""
        rows, members = ctx.unified, sa.alias(ctx.segment_members, "current_members")
        meets = sa.case((segment_condition(segment, ctx), 1), else_=0)
        current = rows.outerjoin(members, sa.and_(members.c.segment == segment.name, members.c.record_id == rows.c.id))
        was = sa.case((members.c.record_id.is_not(None), 1), else_=0)
        judged = sa.select(rows.c.id, meets.label("meets"), was.label("was")).select_from(current).subquery()
        conn.execute(sa.insert(self.table).from_select(
            ["id", "meets", "was"], sa.select(judged).where(judged.c.meets != judged.c.was)))

    def over_all(self, conn: sa.Connection, store: Store, segment: SegmentConfig, ctx: FilterContext) -> None:
        """Every record: one full outer join of "meets the filter now" with the segment's members
        keeps the records found on one side only (one scan of the table, one hash join)."""
        unified, members = ctx.unified, store.tables.segment_members
        fresh = sa.select(unified.c.id).where(segment_condition(segment, ctx)).subquery("fresh")
        current = sa.select(members.c.record_id).where(members.c.segment == segment.name).subquery("current")
        meets, was = fresh.c.id.is_not(None), current.c.record_id.is_not(None)
        diff = (sa.select(sa.func.coalesce(fresh.c.id, current.c.record_id), sa.case((meets, 1), else_=0),
                          sa.case((was, 1), else_=0))
                .select_from(fresh.join(current, current.c.record_id == fresh.c.id, full=True))
                .where(sa.or_(~meets, ~was)))
        conn.execute(sa.insert(self.table).from_select(["id", "meets", "was"], diff))


def _truncate(conn: sa.Connection, table: sa.Table) -> None:
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


@dataclass
class _Candidates:
    """What an incremental refresh re-evaluates: a private copy of some unified rows (`rows`) and
    of their memberships in the batch's segments and the ones those reference (`members`), kept
    current as each segment's changes are written. Every segment is then judged over these small
    indexed tables instead of probing unified_<entity> and segment_members record by record (or,
    as PostgreSQL plans `member of` over segment_members, hashing every member of a large
    referenced segment)."""

    rows: sa.Table
    members: sa.Table
    segments: list[str]
    count: int = 0

    @classmethod
    def find(cls, conn: sa.Connection, store: Store, ctx: FilterContext, segments: list[SegmentConfig],
             batch: _Batch) -> _Candidates:
        """The records changed since the oldest previous refresh (an index range on updated_at),
        passed over by a sliding window, merged away or split, in or out of a referenced segment
        since the segment using it was refreshed, or with new or window-crossing signal events."""
        unified, log, events, states = ctx.unified, store.tables.merge_log, store.tables.segment_events, batch.states
        since = min(states[s.name].evaluated_at for s in segments) - LATE_COMMIT_MARGIN
        found = [sa.select(unified.c.id).where(unified.c.updated_at >= since)]
        windows = [c for s in segments for c in window_boundaries(s, ctx, states[s.name].evaluated_at)]
        if windows:
            found.append(sa.select(unified.c.id).where(sa.or_(*windows)))
        for segment in segments:
            found += signal_candidates(segment, ctx, states[segment.name].evaluated_at, since)
        recent_merge = sa.and_(log.c.entity == ctx.entity, sa.or_(log.c.merged_at >= since, log.c.undone_at >= since))
        found += [sa.select(log.c.absorbed_id).where(recent_merge), sa.select(log.c.survivor_id).where(recent_merge)]
        using = [s for s in segments if s.referenced_segments()]
        if using:
            # Segment refreshes are ordered by their asset dependencies, so the event id is a safe
            # watermark (unlike import times, which can commit late).
            after = min(states[s.name].last_event_id for s in using)
            refs = sorted({ref for s in using for ref in s.referenced_segments()})
            found.append(sa.select(events.c.record_id).where(events.c.segment.in_(refs), events.c.id > after))
        rows = dialect.create_temp_table(conn, f"seg_rows_{ctx.entity}", [
            sa.Column(c.name, c.type, primary_key=c.name == "id") for c in unified.c])
        members = dialect.create_temp_table(conn, f"seg_members_{ctx.entity}", [
            sa.Column("segment", sa.String(100), primary_key=True),
            sa.Column("record_id", sa.BigInteger(), primary_key=True)])
        names = sorted({n for s in batch.segments for n in (s.name, *s.referenced_segments())})
        candidates = cls(rows, members, names)
        candidates.add(conn, ctx, sa.union(*found) if len(found) > 1 else found[0])
        dialect.analyze(conn, rows)
        dialect.analyze(conn, members)
        return candidates

    def add(self, conn: sa.Connection, ctx: FilterContext, ids: sa.Select) -> None:
        """Copy the unified rows of these ids and their memberships (ids already here are kept).
        An id no longer in the unified table (merged away) is copied as an archived row, so it is
        judged a non-member and exits."""
        unified, rows, members = ctx.tables.unified(ctx.entity), self.rows, ctx.tables.segment_members
        new = dialect.create_temp_table(conn, "seg_new_ids", [sa.Column("id", sa.BigInteger(), primary_key=True)])
        found = ids.subquery("ids")
        conn.execute(sa.insert(new).from_select(["id"], sa.select(found.c[0]).distinct().where(
            ~sa.exists().where(rows.c.id == found.c[0]))))
        columns = [c.name for c in unified.c]
        added = conn.execute(sa.insert(rows).from_select(
            columns, sa.select(*unified.c).join(new, new.c.id == unified.c.id))).rowcount
        added += conn.execute(sa.insert(rows).from_select(["id", "archived"], sa.select(new.c.id, sa.true()).where(
            ~sa.exists().where(unified.c.id == new.c.id)))).rowcount
        conn.execute(sa.insert(self.members).from_select(  # one probe by record id per new candidate
            ["segment", "record_id"], sa.select(members.c.segment, members.c.record_id)
            .join(new, new.c.id == members.c.record_id).where(members.c.segment.in_(self.segments))))
        self.count += added

    def apply(self, conn: sa.Connection, segment: str, verdicts: sa.Table) -> None:
        """Carry a segment's written changes over to the candidates' memberships."""
        members, rows = self.members, self.rows
        conn.execute(sa.delete(members).where(members.c.segment == segment,
                                              members.c.record_id.in_(sa.select(verdicts.c.id))))
        conn.execute(sa.insert(members).from_select(
            ["segment", "record_id"], sa.select(sa.literal(segment), verdicts.c.id)
            .join(rows, rows.c.id == verdicts.c.id).where(verdicts.c.meets == 1)))


def _write_changes(conn: sa.Connection, store: Store, segment: SegmentConfig, verdicts: _Verdicts,
                   now: datetime, run_id: str) -> tuple[int, int]:
    """Log exits and entries as events and apply them to segment_members; (entered, exited)."""
    members, table = store.tables.segment_members, verdicts.table
    exits, entries = table.c.was == 1, table.c.meets == 1
    exited = _log_events(conn, store, segment, table, exits, "exited", now, run_id)
    if exited:
        conn.execute(sa.delete(members).where(members.c.segment == segment.name,
                                              members.c.record_id.in_(sa.select(table.c.id).where(exits))))
    entered = _log_events(conn, store, segment, table, entries, "entered", now, run_id)
    if entered:
        conn.execute(sa.insert(members).from_select(
            ["segment", "record_id", "entered_at", "run_id"],
            sa.select(sa.literal(segment.name), table.c.id, sa.literal(now, sa.DateTime), sa.literal(run_id))
            .where(entries)))
    return entered, exited


def _log_events(conn: sa.Connection, store: Store, segment: SegmentConfig, verdicts: sa.Table,
                which: sa.ColumnElement[bool], event: str, now: datetime, run_id: str) -> int:
    events = store.tables.segment_events
    return conn.execute(sa.insert(events).from_select(
        ["segment", "entity", "record_id", "event", "at", "run_id"],
        sa.select(sa.literal(segment.name), sa.literal(segment.entity), verdicts.c.id, sa.literal(event),
                  sa.literal(now, sa.DateTime), sa.literal(run_id)).where(which))).rowcount


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
