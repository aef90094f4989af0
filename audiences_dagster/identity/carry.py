"""What a record carries through merges and splits: its signal events (and so their per-record
summaries) belong to the unified record it lives in now. A merge moves the absorbed record's
events to the survivor; a split moves those that came from the restored record's history back."""

from __future__ import annotations

import sqlalchemy as sa

from audiences_dagster.store import dialect
from audiences_dagster.store.api import Store


def move_events(conn: sa.Connection, store: Store, entity: str, moving: sa.Select) -> int:
    """Point the events `moving` selects as (event id, new record id) at their new record and
    rewrite the summaries of every record they left or joined. Returns how many moved."""
    events = store.tables.signal_events
    if not conn.execute(sa.select(sa.exists().where(events.c.entity == entity))).scalar():
        return 0  # (a first load, or no signal declared: nothing to look up)
    moves = dialect.create_temp_table(conn, f"moved_events_{entity}", [
        sa.Column("event_id", sa.BigInteger(), primary_key=True), sa.Column("old_id", sa.BigInteger()),
        sa.Column("new_id", sa.BigInteger())])
    chosen = moving.subquery("moving")
    conn.execute(sa.insert(moves).from_select(
        ["event_id", "old_id", "new_id"],
        sa.select(chosen.c[0], events.c.record_id, chosen.c[1])
        .join(events, events.c.id == chosen.c[0]).where(events.c.record_id != chosen.c[1])))
    moved = conn.execute(sa.update(events).where(events.c.id == moves.c.event_id)
                         .values(record_id=moves.c.new_id)).rowcount
    if moved:
        touched = sa.union(sa.select(moves.c.old_id), sa.select(moves.c.new_id)).subquery("touched")
        rewrite_summaries(conn, store, entity, sa.select(touched.c[0]))
    return moved


def rewrite_summaries(conn: sa.Connection, store: Store, entity: str, records: sa.Select,
                      signal: str | None = None) -> int:
    """Rewrite the signal summaries of `records` (one signal's, or every signal's) from their
    events: how often, first and last time, and the last change (the newest event's)."""
    events, summary = store.tables.signal_events, store.tables.signal_summary
    ours = [summary.c.entity == entity, summary.c.record_id.in_(records)]
    if signal is not None:
        ours.append(summary.c.signal == signal)
    conn.execute(sa.delete(summary).where(*ours))
    wanted = [events.c.entity == entity, events.c.record_id.in_(records)]
    if signal is not None:
        wanted.append(events.c.signal == signal)
    per_record = (events.c.signal, events.c.record_id)
    newest = sa.func.row_number().over(partition_by=per_record, order_by=events.c.id.desc())
    ranked = sa.select(
        events.c.signal, events.c.record_id, events.c.old_value, events.c.new_value, newest.label("n"),
        sa.func.count().over(partition_by=per_record).label("times"),
        sa.func.min(events.c.fired_at).over(partition_by=per_record).label("first"),
        sa.func.max(events.c.fired_at).over(partition_by=per_record).label("last"),
    ).where(*wanted).subquery("ranked")
    return conn.execute(sa.insert(summary).from_select(
        ["signal", "entity", "record_id", "times_fired", "first_fired_at", "last_fired_at", "last_old_value",
         "last_new_value"],
        sa.select(ranked.c.signal, sa.literal(entity), ranked.c.record_id, ranked.c.times, ranked.c.first,
                  ranked.c.last, ranked.c.old_value, ranked.c.new_value).where(ranked.c.n == 1))).rowcount
