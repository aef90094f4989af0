"""Undoing a merge (a split) and reading a record's history back."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from audiences_dagster.config.models import AudiencesConfig
from audiences_dagster.identity.carry import move_events
from audiences_dagster.identity.survivorship import apply_survivorship
from audiences_dagster.store import dialect
from audiences_dagster.store.api import Store, utcnow

RESTORED = "__restored__"


class MergeError(ValueError):
    """A merge cannot be undone as asked (unknown, already undone, ...)."""


@dataclass
class SplitReport:
    merge_id: int
    entity: str
    survivor_id: int
    restored_id: int
    records_moved: int
    keys_blocked: int


def split_merge(store: Store, config: AudiencesConfig, merge_id: int, run_id: str) -> SplitReport:
    """Give the absorbed source records their own unified record back, recompute both records,
    and block the linking keys so the next import does not merge them again."""
    log, members, keys = store.tables.merge_log, store.tables.merge_members, store.tables.identity_keys
    now = utcnow()
    with store.engine.begin() as conn:
        merge = conn.execute(sa.select(log).where(log.c.id == merge_id)).mappings().first()
        if merge is None:
            raise MergeError(f"merge {merge_id} does not exist (see `audiences merges`)")
        if merge["undone_at"] is not None:
            raise MergeError(f"merge {merge_id} was already undone at {merge['undone_at']:%Y-%m-%d %H:%M:%S}")
        entity, restored = merge["entity"], merge["absorbed_id"]
        src, unified = store.tables.source(entity), store.tables.unified(entity)
        moved_ids = sa.select(members.c.record_id).where(members.c.merge_id == merge_id)
        current = conn.execute(sa.select(src.c.unified_id).where(src.c.id.in_(moved_ids)).distinct()).scalars().all()
        if not current:
            raise MergeError(f"merge {merge_id}: its source records no longer exist")
        other = sa.alias(keys, "other")  # pragma: no mutate (an alias's name changes no result)
        other_src = sa.alias(src, "other_src")  # pragma: no mutate (as above)
        # A key value never belongs to two entities (emails, domains and the two LinkedIn URL
        # shapes differ, and a source feeds one entity), so the entity test only narrows the lookup.
        shared = sa.exists().where(
            other.c.entity == entity,  # pragma: no mutate
            other.c.key_type == keys.c.key_type, other.c.key_value == keys.c.key_value,
            other_src.c.id == other.c.record_id, other_src.c.unified_id.in_(current),
            other.c.record_id.not_in(moved_ids))
        blocked = conn.execute(sa.update(keys).where(
            keys.c.entity == entity,  # pragma: no mutate (as above: another entity's key shares no value)
            keys.c.record_id.in_(moved_ids), keys.c.blocked.is_(None), shared,
        ).values(blocked=f"split:{merge_id}")).rowcount
        moved = conn.execute(sa.update(src).where(src.c.id.in_(moved_ids)).values(unified_id=restored)).rowcount
        _events_back(conn, store, entity, current, restored, moved_ids)
        dirty = dialect.create_temp_table(conn, f"dirty_split_{entity}",
                                          [sa.Column("uid", sa.BigInteger(), primary_key=True)])  # pragma: no mutate (the ids are distinct: a key only speeds the join)
        conn.execute(sa.insert(dirty), [{"uid": uid} for uid in {restored, *current}])
        apply_survivorship(conn, store, config, entity, dirty, run_id, now, created_event=RESTORED)
        conn.execute(sa.update(unified).where(unified.c.id == restored).values(
            created_at=merge["absorbed_created_at"] or merge["merged_at"]))
        if entity == "companies":
            _wake_people_of(conn, store, current)
        conn.execute(sa.update(log).where(log.c.id == merge_id).values(undone_at=now, undone_by=run_id))
    return SplitReport(merge_id=merge_id, entity=entity, survivor_id=current[0], restored_id=restored,
                       records_moved=moved, keys_blocked=blocked)


def _events_back(conn: sa.Connection, store: Store, entity: str, current: list[int], restored: int,
                 moved_ids: sa.Select) -> None:
    """The survivor's events that came from the restored side go back with it: those of a change
    whose value came from one of the source records split off, or, where the change names no
    source record, that was recorded on the restored record or on one it had absorbed."""
    events, history = store.tables.signal_events, store.tables.field_history
    theirs = sa.or_(history.c.source_record_id.in_(moved_ids), sa.and_(
        history.c.source_record_id.is_(None), history.c.unified_id.in_(absorbed_ids(store, entity, restored))))
    move_events(conn, store, entity, sa.select(events.c.id, sa.literal(restored, sa.BigInteger))  # pragma: no mutate (an int literal is typed so without saying)
                .join(history, history.c.id == events.c.history_id)
                .where(events.c.entity == entity, theirs,
                       events.c.record_id.in_(current)))  # pragma: no mutate (narrowing: events follow their source records, so the restored side's are on `current`)


def _wake_people_of(conn: sa.Connection, store: Store, company_ids: list[int]) -> None:
    """People pointing at a split company re-pick their company on the next people run."""
    people, unified_people = store.tables.source("people"), store.tables.unified("people")
    store.mark_pending(conn, "people", sa.select(people.c.id).where(people.c.unified_id.in_(
        sa.select(unified_people.c.id).where(unified_people.c.company_id.in_(company_ids)))))


def current_id(store: Store, entity: str, uid: int) -> int | None:
    """Where a unified id lives now: itself, or the record that absorbed it (merges followed)."""
    log, unified = store.tables.merge_log, store.tables.unified(entity)
    seen = set()
    with store.engine.connect() as conn:
        while uid not in seen:
            seen.add(uid)  # pragma: no mutate (a guard: live merges never form a cycle)
            if conn.execute(sa.select(unified.c.id).where(unified.c.id == uid)).first():  # pragma: no mutate (only whether a row exists is read)
                return uid
            # An id absorbed, split off and absorbed again has one live merge: the latest is that one.
            survivor = conn.execute(sa.select(log.c.survivor_id).where(
                log.c.entity == entity, log.c.absorbed_id == uid,
                log.c.undone_at.is_(None)  # pragma: no mutate (equivalent: an id split off again is a live record, found above)
            ).order_by(log.c.merged_at.desc())).scalar()  # pragma: no mutate (equivalent, as said above)
            if survivor is None:
                return None
            uid = survivor
    return None


def absorbed_ids(store: Store, entity: str, uid: int) -> set[int]:
    """Every id merged (transitively) into this record and not split off again."""
    log = store.tables.merge_log
    found, frontier = {uid}, {uid}
    with store.engine.connect() as conn:
        while frontier:
            rows = conn.execute(sa.select(log.c.absorbed_id).where(
                log.c.entity == entity, log.c.survivor_id.in_(frontier), log.c.undone_at.is_(None))).scalars().all()
            frontier = set(rows) - found
            found |= frontier
    return found


def record_history(store: Store, entity: str, uid: int) -> list[dict]:
    """Field changes, creation, merges and splits of one record (and of what it absorbed),
    oldest first."""
    history, log = store.tables.field_history, store.tables.merge_log
    ids = absorbed_ids(store, entity, uid)
    events: list[dict] = []
    with store.engine.connect() as conn:
        for row in conn.execute(sa.select(history).where(
                history.c.entity == entity, history.c.unified_id.in_(ids))).mappings():
            events.append({"at": row["changed_at"], "record": row["unified_id"], "event": _event(row["field"]),
                           "field": None if row["field"].startswith("__") else row["field"],
                           "old": row["old_value"], "new": row["new_value"], "source": row["source"],
                           "run": row["run_id"]})
        for row in conn.execute(sa.select(log).where(log.c.entity == entity, sa.or_(
                log.c.survivor_id.in_(ids), log.c.absorbed_id.in_(ids)))).mappings():
            detail = f"{row['absorbed_id']} merged into {row['survivor_id']} by {row['reason']} {row['key_value'] or ''}"  # pragma: no mutate (resolution always records the key; the fallback guards a hand-edited log)
            events.append({"at": row["merged_at"], "record": row["survivor_id"], "event": f"merge #{row['id']}",
                           "field": None, "old": None, "new": detail.strip(), "source": None, "run": row["run_id"]})
            if row["undone_at"]:
                events.append({"at": row["undone_at"], "record": row["absorbed_id"], "event": f"split #{row['id']}",
                               "field": None, "old": None, "new": f"{row['absorbed_id']} split from {row['survivor_id']}",
                               "source": None, "run": row["undone_by"]})
    return sorted(events, key=lambda e: (e["at"], e["event"]))


def _event(field: str) -> str:
    return {"__created__": "created", RESTORED: "restored by split"}.get(field, "field change")
