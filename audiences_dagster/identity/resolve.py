"""Identity resolution: pending source records join unified records through shared keys.

Set-based connected components in the store: every pending record starts with its unified id as
its label (a new record's own id), and labels sharing a key take the smallest label until nothing
changes. Ids only grow, so an existing unified id always beats a new record's and an incremental
run never renumbers a record; the oldest id survives a merge. Only records whose label moves are
rewritten. Everything runs in one transaction: a crash leaves the pending queue in place and the
next run redoes the work.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa

from audiences_dagster.config.models import ENTITY_KEYS, AudiencesConfig
from audiences_dagster.identity.carry import move_events
from audiences_dagster.identity.survivorship import apply_survivorship
from audiences_dagster.sources.mapping import CONVERSION_KEY, MERGE_KEY, RECORD_LINK_KEYS
from audiences_dagster.store import dialect
from audiences_dagster.store.api import Store, utcnow
from audiences_dagster.store.schema import key_text

LOG = logging.getLogger(__name__)
T = TypeVar("T")
MAX_ITERATIONS = 100
# Added to a key's priority when the absorbed record shares it only with another absorbed one.
INDIRECT = 100


@dataclass
class ResolveReport:
    entity: str
    pending: int = 0
    merges: Counter = field(default_factory=Counter)
    blocked: Counter = field(default_factory=Counter)
    created: int = 0
    updated: int = 0
    field_changes: int = 0
    iterations: int = 0
    seconds: float = 0.0

    def as_metadata(self) -> dict:
        return {
            "pending_records": self.pending, "records_created": self.created,
            "records_updated": self.updated, "merges": sum(self.merges.values()),
            "merges_by_reason": dict(self.merges), "blocked_links": sum(self.blocked.values()),
            "blocked_links_by_key": dict(self.blocked), "field_changes": self.field_changes,
            "propagation_rounds": self.iterations, "seconds": round(self.seconds, 3),
        }


def key_priority(entity: str) -> dict[str, int]:
    """Lead conversion and CRM merges first, then the entity's keys in PRODUCT.md §4 order."""
    ranks = {CONVERSION_KEY: 0, MERGE_KEY: 1}
    ranks.update({key: i + len(ranks) for i, key in enumerate(ENTITY_KEYS[entity])})
    return ranks


def unify(store: Store, config: AudiencesConfig, entity: str, run_id: str) -> ResolveReport:
    """Resolve every pending record of one entity into unified_<entity>."""
    started = time.perf_counter()
    report = ResolveReport(entity=entity)
    now = utcnow()
    key_indexes = store.build_key_indexes_aside()  # a first load's, beside the resolution
    unified_empty = not store.any_rows(store.tables.unified(entity))  # read apart: see _CreatedApart
    try:
        with store.engine.begin() as conn:
            dialect.rederivable(conn)  # a crash that loses it leaves the pending queue to redo it
            resolver = _Resolver(conn, store, config, entity, run_id, now, keys_analyzed=key_indexes is not None)
            report.pending = resolver.collect_pending(nothing_unified=unified_empty)
            if report.pending:
                resolver.apart = resolver.hashes and resolver.labels_are_ids and unified_empty
                if not resolver.most_pending:
                    store.ensure_indexes(conn, entity)  # finding the touched keys reads them
                else:  # the tables it fills from empty get their indexes once it has committed
                    store.defer_indexes(conn, [store.tables.merge_log] if resolver.apart else store.deferrable(entity))
                resolver.build_edges()
                report.blocked = resolver.apply_merge_protection()
                report.iterations = resolver.propagate()
                if resolver.apart:
                    report.merges, counts = _CreatedApart(resolver).alongside(resolver.write_merges)
                else:
                    report.merges = resolver.log_merges()
                    resolver.assign()
                    counts = apply_survivorship(conn, store, config, entity, resolver.dirty(), run_id, now)
                    resolver.finish()
                report.created, report.updated = counts["created"], counts["updated"]
                report.field_changes = counts["field_changes"]
            first_load = report.pending and resolver.most_pending
            if not report.pending:  # (with some pending they were ensured above, or are settled below)
                store.ensure_indexes(conn, entity)  # when a first load's resolution was interrupted
    finally:
        keys_vacuumed = _waited(key_indexes)
    if first_load:
        _settle(store, entity, keys_vacuumed)
    report.seconds = time.perf_counter() - started
    return report


def _waited(build: Future | None) -> bool:
    """Wait for an index build running aside; True when it finished. One that failed is logged
    and left to `ensure_indexes`."""
    if build is None:
        return False
    try:
        build.result()
        return True
    except Exception as exc:  # noqa: BLE001 - the indexes are rebuilt below; the resolution stands
        LOG.warning("building identity_keys' indexes beside the resolution failed (%s); building them now", exc)
        return False


def _settle(store: Store, entity: str, keys_vacuumed: bool) -> None:
    """After a first load: the lookup indexes built and fresh statistics (on PostgreSQL with a
    vacuum, which marks the pages all-visible for index-only lookups), so the next runs find the
    store settled. On PostgreSQL the source table's indexes come after its vacuum (no dead row
    versions to index, and none for the vacuum to clean out of them), and the other tables are
    settled at the same time on a second connection: the resolution has left a core idle.
    SQLite's statistics describe its indexes, so there they come first, one after the other. A
    crash in between leaves the indexes to the next resolution."""
    tables, engine, lookups = store.tables, store.engine, store.lookups(entity)
    source = [tables.source(entity)]
    others = [tables.unified(entity), tables.merge_log, tables.field_history, tables.pending_records
              ] + ([] if keys_vacuumed else [tables.identity_keys])

    def settle(vacuumed: list[sa.Table], indexes: list[sa.Index]) -> None:
        with engine.begin() as conn:
            store.ensure_indexes(conn, entity, indexes)
        dialect.vacuum_analyze(engine, vacuumed)

    if not dialect.is_postgres(engine):
        settle(source + others, [ix for group in lookups.values() for ix in group])
        return

    def settle_source() -> None:
        dialect.vacuum_analyze(engine, source)
        with engine.begin() as conn:
            store.ensure_indexes(conn, entity, lookups["source"])

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="settle") as pool:
        lanes = [pool.submit(settle_source), pool.submit(settle, others, lookups["keys"] + lookups["resolved"])]
    for lane in lanes:
        lane.result()


class _CreatedApart:
    """A first load's unified records (each record its own label, no unified row yet, on
    PostgreSQL), created on a second connection while the resolution logs its merges and writes
    them to the source rows: both are hundreds of thousands of rows, each a core's work.

    The resolution's roots reach that connection through a pipe (COPY out, COPY in: no scratch
    table needs to be shared, and memory holds one pipe's buffer). It commits just before the
    resolution does, and only once the resolution has done its work: a crash in between leaves
    the unified rows and the pending queue, and the next resolution finds those rows and brings
    them up to date (their values stay; each is marked updated by that run). Neither side
    touches a table the other one writes: this one drops and fills unified_<entity> (locked
    against other writers until it commits, so that every row there is one it created) and
    field_history, the resolution the merge log and the source rows. Neither waits for a lock
    beyond `LOCK_TIMEOUT`: a wait that passes through the other side would go unseen by
    PostgreSQL's deadlock detector."""

    LOCK_TIMEOUT = "60s"

    def __init__(self, resolver: "_Resolver"):
        self.resolver = resolver
        self.done = threading.Event()  # the resolution's side is written (or failed): commit (or not)
        self.commit = False

    def alongside(self, work: Callable[[], T]) -> tuple[T, dict[str, int]]:
        """Create the unified rows aside while `work` runs here: what it returns, and the counts
        of `apply_survivorship` once the created rows are committed."""
        conn = self.resolver.conn
        conn.execute(sa.text(f"SET LOCAL lock_timeout = '{self.LOCK_TIMEOUT}'"))
        read, write = os.pipe()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="create") as pool:
            created = pool.submit(self._create, os.fdopen(read, "rb"))
            try:
                try:
                    with os.fdopen(write, "wb") as sink:  # closed however the sending ends: the COPY in ends there
                        self._send_roots(sink)
                except OSError:  # the pipe broke: the creation stopped first, and says why
                    self.done.set()
                    created.result()
                    raise
                result = work()
                self.commit = True
            finally:
                self.done.set()
                if not self.commit:
                    created.add_done_callback(_log_failure)
        conn.execute(sa.text("SET LOCAL lock_timeout TO DEFAULT"))
        return result, created.result()

    def _send_roots(self, sink: io.BufferedWriter) -> None:
        """Each absorbed record and its root, copied into the pipe."""
        conn, labels = self.resolver.conn, self.resolver.labels
        moved = sa.select(labels.c.label, labels.c.root).where(labels.c.root != labels.c.label)
        query = moved.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        with conn.connection.dbapi_connection.cursor() as cursor:
            cursor.copy_expert(f"COPY ({query}) TO STDOUT", sink)

    def _create(self, pipe: io.BufferedReader) -> dict[str, int]:
        """On the second connection: read the roots, then create the unified rows and their
        history; commit once the resolution's side is done. The pipe is closed however this
        ends, so the resolution never waits on a reader that is gone."""
        r = self.resolver
        store, entity = r.store, r.entity
        with pipe, store.engine.begin() as conn:
            dialect.rederivable(conn)
            conn.execute(sa.text(f"SET LOCAL lock_timeout = '{self.LOCK_TIMEOUT}'"))
            unified = store.tables.unified(entity)
            dialect.lock_table(conn, unified, "EXCLUSIVE")
            store.defer_indexes(conn, [unified, store.tables.field_history])
            if store.any_rows(unified, conn):
                raise RuntimeError(f"unified_{entity} gained rows while this first resolution started "
                                   "(another resolution ran at the same time); run it again")
            roots = dialect.create_temp_table(conn, f"roots_{entity}", [
                sa.Column("record_id", sa.BigInteger()), sa.Column("root", sa.BigInteger())])
            with conn.connection.dbapi_connection.cursor() as cursor:
                cursor.copy_expert(f"COPY {roots.name} (record_id, root) FROM STDIN", pipe, size=1 << 16)
            pipe.close()
            if self.done.is_set() and not self.commit:  # the resolution failed already: stop here
                raise _Abandoned()
            dialect.analyze(conn, roots)
            counts = apply_survivorship(conn, store, r.config, entity, self._dirty(conn, roots), r.run_id, r.now,
                                        roots=roots, empty=True)  # (locked against writers until it commits)
            self.done.wait()
            if not self.commit:
                raise _Abandoned()
        return counts

    def _dirty(self, conn: sa.Connection, roots: sa.Table) -> sa.Table:
        """The unified ids: every pending record that no root absorbed (ids up to the newest
        pending one: with every record pending, those are the pending records), `alone` when no
        other record joined it. No index: survivorship hashes its joins to it (PostgreSQL), and
        the index would cost a third of filling it."""
        src = self.resolver.src
        dirty = dialect.create_temp_table(conn, f"dirty_{self.resolver.entity}", [
            sa.Column("uid", sa.BigInteger()), sa.Column("alone", sa.Boolean())])
        # Joins, not a subquery per record: the planner hashes them, or sorts them when they outgrow memory.
        absorbing = sa.select(roots.c.root).distinct().subquery("absorbing")
        conn.execute(sa.insert(dirty).from_select(
            ["uid", "alone"], sa.select(src.c.id, absorbing.c.root.is_(None))
            .outerjoin(absorbing, absorbing.c.root == src.c.id)
            .where(src.c.id <= self.resolver.newest, ~sa.exists().where(roots.c.record_id == src.c.id))
            .order_by(src.c.id)))
        dialect.analyze(conn, dirty)
        return dirty


class _Abandoned(Exception):
    """The resolution failed beside the creation: its rows roll back."""


def _log_failure(created: Future) -> None:
    """The creation's own error, when the resolution failed too (only the resolution's is raised)."""
    error = created.exception()
    if error is not None and not isinstance(error, _Abandoned):
        LOG.warning("creating the unified records beside the failed resolution failed too: %s", error)


def _disjoint(spans) -> list[tuple[int, int]]:
    """Id ranges merged where they overlap (the ranges of imports running at the same time can
    interleave) or meet, so that each record falls in one of them, read in one pass."""
    merged: list[list[int]] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return [(first, last) for first, last in merged]


class _Resolver:
    """The steps of one resolution, sharing the connection and scratch tables."""

    def __init__(self, conn: sa.Connection, store: Store, config: AudiencesConfig, entity: str,
                 run_id: str, now: datetime, keys_analyzed: bool = False):
        self.conn, self.store, self.config, self.entity = conn, store, config, entity
        self.keys_analyzed = keys_analyzed  # just now, before the resolution began
        self.run_id, self.now = run_id, now
        self.src = store.tables.source(entity)
        self.keys = store.tables.identity_keys
        self.apart = False  # unified rows created on a second connection (see _CreatedApart)

    def _temp(self, name: str, *columns: sa.Column, rewritten: bool = False) -> sa.Table:
        return dialect.create_temp_table(self.conn, f"{name}_{self.entity}", list(columns), rewritten=rewritten)

    def _label(self, table: sa.Table) -> sa.ColumnElement:
        return sa.func.coalesce(table.c.unified_id, table.c.id)

    def collect_pending(self, nothing_unified: bool = False) -> int:
        """The pending records with their labels: those in the queued id ranges (read by primary
        key), then those queued one by one that no range holds. A PostgreSQL store's first load
        (no unified record yet: `nothing_unified`, and ranges that hold every record) is only
        counted: when each record is still its own label, its unified rows are created apart
        (see `_CreatedApart`), and nothing needs the list of its records and labels."""
        queue, ranges, src = self.store.tables.pending_records, self.store.tables.pending_ranges, self.src
        spans = self.conn.execute(sa.select(ranges.c.id, ranges.c.first_id, ranges.c.last_id)
                                  .where(ranges.c.entity == self.entity)).all()
        self.range_ids = [span.id for span in spans]
        self.any_queued = self.conn.execute(sa.select(sa.exists().where(queue.c.entity == self.entity))).scalar()
        disjoint = _disjoint((s.first_id, s.last_id) for s in spans)
        self.pend = None
        if nothing_unified and dialect.is_postgres(self.conn) and len(disjoint) == 1 and disjoint[0][0] == 1:
            self.newest = self.store.newest_record_id(self.conn, self.entity)
            if self.newest == disjoint[0][1] and self._each_its_own_label():
                self.most_pending = self.hashes = self.all_pending = self.labels_are_ids = True
                self.pending_rows = self.newest
                return self.newest
        self.pend = self._temp("pend", sa.Column("record_id", sa.BigInteger(), primary_key=True),
                               sa.Column("label", sa.BigInteger()))
        rows = 0
        if spans:
            table = self._temp("spans", sa.Column("first_id", sa.BigInteger()), sa.Column("last_id", sa.BigInteger()))
            self.conn.execute(sa.insert(table), [{"first_id": first, "last_id": last} for first, last in disjoint])
            dialect.analyze(self.conn, table)
            rows = self.conn.execute(sa.insert(self.pend).from_select(
                ["record_id", "label"], sa.select(src.c.id, self._label(src))
                .join(table, src.c.id.between(table.c.first_id, table.c.last_id)).order_by(src.c.id)
            )).rowcount
        queued = (sa.select(src.c.id, self._label(src))
                  .join(queue, sa.and_(queue.c.entity == self.entity, queue.c.record_id == src.c.id)))
        if rows:
            queued = queued.where(~sa.exists().where(self.pend.c.record_id == src.c.id))
        rows += self.conn.execute(sa.insert(self.pend).from_select(["record_id", "label"], queued)).rowcount
        dialect.analyze(self.conn, self.pend)
        self.newest = newest = self.store.newest_record_id(self.conn, self.entity)  # ids grow from 1: at least the record count
        self.most_pending = rows * 2 >= newest  # at least half of the source records: a first load, say
        # Then PostgreSQL joins the scratch tables by hashing them whole, and they need no index;
        # SQLite (no hash joins) and the few rows of an incremental run join by index.
        self.hashes = self.most_pending and dialect.is_postgres(self.conn)
        self.all_pending = rows == newest  # every source record: pend has every label
        self.pending_rows = rows
        # A first load's records are each their own label: their keys are the (key, label) pairs.
        self.labels_are_ids = self.all_pending and not self.conn.execute(
            sa.select(sa.exists().where(self.pend.c.label != self.pend.c.record_id))).scalar()
        return rows

    def _each_its_own_label(self) -> bool:
        """Whether the one range 1..newest holds a record for each id, each still its own label
        (one pass over the source table, counting)."""
        src = self.src
        held, moved = self.conn.execute(sa.select(
            sa.func.count(), sa.func.count().filter(src.c.unified_id != src.c.id)).where(src.c.id <= self.newest)).one()
        return held == self.newest and not moved

    def _pending(self, record_id: sa.ColumnElement) -> sa.ColumnElement:
        """Whether a record is a pending one: listed in pend, or, when a first load needed no
        list, any record up to the newest."""
        return record_id <= self.newest if self.pend is None else record_id.in_(sa.select(self.pend.c.record_id))

    def build_edges(self) -> None:
        """Every (key, label) pair for keys a pending record holds and that two or more labels
        share (other holders come along); each such linking key gets a small integer id. The
        keys are found from the pending records, or, when most records are pending, in one pass;
        when each record is its own label, the keys are those pairs already."""
        if self.labels_are_ids:
            keys = self.keys
            if not self.keys_analyzed:  # what the joins on it are planned by: up to date, not as last imported
                dialect.analyze(self.conn, keys)
            held = (sa.select(keys.c.key_type, keys.c.key_value, keys.c.record_id.label("label"),
                              sa.literal(1).label("pending"))
                    .where(keys.c.entity == self.entity, keys.c.blocked.is_(None)).subquery("held"))
        else:
            held = self._temp("held", sa.Column("key_type", key_text(32)), sa.Column("key_value", key_text(2048)),
                              sa.Column("label", sa.BigInteger()), sa.Column("pending", sa.Integer()))
            if self.most_pending:
                self._hold_every_key(held)
            else:
                self._hold_touched_keys(held)
            dialect.analyze(self.conn, held)
        self.held = held
        linking = self._temp("linking", sa.Column("key_id", sa.Integer(), primary_key=True, autoincrement=True),
                             sa.Column("key_type", key_text(32)), sa.Column("key_value", key_text(2048)))
        self.conn.execute(sa.insert(linking).from_select(
            ["key_type", "key_value"],
            sa.select(held.c.key_type, held.c.key_value)
            .group_by(held.c.key_type, held.c.key_value)
            .having(sa.func.count() > 1, sa.func.max(held.c.pending) == 1)))  # held's rows are distinct
        if not self.hashes:
            sa.Index(None, linking.c.key_type, linking.c.key_value, unique=True).create(self.conn)
        dialect.analyze(self.conn, linking)
        self.edges = self._temp("edges", sa.Column("key_id", sa.Integer()), sa.Column("key_type", key_text(32)),
                                sa.Column("key_value", key_text(2048)), sa.Column("label", sa.BigInteger()))
        self.conn.execute(sa.insert(self.edges).from_select(
            ["key_id", "key_type", "key_value", "label"],
            sa.select(linking.c.key_id, held.c.key_type, held.c.key_value, held.c.label)
            .join(linking, sa.and_(linking.c.key_type == held.c.key_type, linking.c.key_value == held.c.key_value))))
        if not self.hashes:
            sa.Index(None, self.edges.c.key_id, self.edges.c.label).create(self.conn)
            sa.Index(None, self.edges.c.label).create(self.conn)
        dialect.analyze(self.conn, self.edges)

    def _hold_touched_keys(self, held: sa.Table) -> None:
        """(key, label) of every holder of the keys the pending records hold. Holders first, then
        their labels: with the holders counted, the planner probes the source table by id instead
        of scanning it (which it prefers for one combined join)."""
        keys, src = self.keys, self.src
        touched = self._temp("touched", sa.Column("key_type", key_text(32)), sa.Column("key_value", key_text(2048)))
        self.conn.execute(sa.insert(touched).from_select(
            ["key_type", "key_value"],
            sa.select(keys.c.key_type, keys.c.key_value).distinct()
            .join(self.pend, self.pend.c.record_id == keys.c.record_id)
            .where(keys.c.entity == self.entity, keys.c.blocked.is_(None))))
        sa.Index(None, touched.c.key_type, touched.c.key_value, unique=True).create(self.conn)
        dialect.analyze(self.conn, touched)
        holders = self._temp("holders", sa.Column("key_type", key_text(32)),
                             sa.Column("key_value", key_text(2048)), sa.Column("record_id", sa.BigInteger()))
        self.conn.execute(sa.insert(holders).from_select(
            ["key_type", "key_value", "record_id"],
            sa.select(keys.c.key_type, keys.c.key_value, keys.c.record_id)
            .join(touched, sa.and_(touched.c.key_type == keys.c.key_type, touched.c.key_value == keys.c.key_value))
            .where(keys.c.entity == self.entity, keys.c.blocked.is_(None))))
        dialect.analyze(self.conn, holders)
        self.conn.execute(sa.insert(held).from_select(
            ["key_type", "key_value", "label", "pending"],
            sa.select(holders.c.key_type, holders.c.key_value, self._label(src), sa.literal(1)).distinct()
            .join(src, src.c.id == holders.c.record_id)))

    def _hold_every_key(self, held: sa.Table) -> None:
        """(key, label) of every key, marked when a pending record holds it: when most records
        are pending (a first load), one pass over all keys beats finding the touched ones."""
        keys, src, pend = self.keys, self.src, self.pend
        if self.all_pending:  # labels from the narrow pend table, not the wide source rows
            label, pending = pend.c.label, sa.literal(1)
            holders = keys.join(pend, pend.c.record_id == keys.c.record_id)
        else:
            label, pending = self._label(src), sa.func.max(sa.case((pend.c.record_id.is_not(None), 1), else_=0))
            holders = (keys.join(src, src.c.id == keys.c.record_id)
                       .outerjoin(pend, pend.c.record_id == keys.c.record_id))
        self.conn.execute(sa.insert(held).from_select(
            ["key_type", "key_value", "label", "pending"],
            sa.select(keys.c.key_type, keys.c.key_value, label.label("label"), pending).select_from(holders)
            .where(keys.c.entity == self.entity, keys.c.blocked.is_(None))
            .group_by(keys.c.key_type, keys.c.key_value, label)))

    def apply_merge_protection(self) -> Counter:
        """A linking key is blocked when the record it would build holds more distinct values of
        some key type than the configured limit (one bad shared value cannot collapse many)."""
        limits = self.config.identity.merge_protection
        relevant = {k: v for k, v in limits.items() if k in ENTITY_KEYS[self.entity]}
        if not relevant:
            return Counter()
        edges = self.edges
        holdings = self._holdings(list(relevant), self.hashes)
        checked = self._suspects(holdings, relevant) if self.hashes else edges
        limit = sa.case(relevant, value=holdings.c.key_type)
        over = (
            sa.select(checked.c.key_id, checked.c.key_type, checked.c.key_value, holdings.c.key_type.label("counted"),
                      sa.func.count(sa.distinct(holdings.c.key_value)).label("n"), limit.label("limit"))
            .join(holdings, holdings.c.label == checked.c.label)
            .where(checked.c.key_type.not_in(RECORD_LINK_KEYS))
            .group_by(checked.c.key_id, checked.c.key_type, checked.c.key_value, holdings.c.key_type)
            .having(sa.func.count(sa.distinct(holdings.c.key_value)) > limit)
        )
        rows = self.conn.execute(over).all()
        blocked = Counter()
        seen = set()
        entries = []
        for key_id, key_type, key_value, counted, n, cap in rows:
            if key_id in seen:
                continue
            seen.add(key_id)
            blocked[key_type] += 1
            entries.append({
                "entity": self.entity, "key_type": key_type, "key_value": key_value,
                "reason": "merge_protection", "run_id": self.run_id, "detected_at": self.now,
                "detail": f"linking on this {key_type} would give one record {n} distinct {counted} values (limit {cap})",
            })
        if entries:
            self.conn.execute(sa.insert(self.store.tables.blocked_links), entries)
            bad = self._temp("bad_keys", sa.Column("key_id", sa.Integer(), primary_key=True))
            self.conn.execute(sa.insert(bad), [{"key_id": key_id} for key_id in seen])
            self.conn.execute(sa.delete(edges).where(edges.c.key_id.in_(sa.select(bad.c.key_id))))
        return blocked

    def _holdings(self, key_types: list[str], from_held: bool) -> sa.Subquery:
        """(label, key type, key value) of every key of the given types held by a record of a
        label that has a linking key. When every key was held (a first load), `held` has them all
        (`from_held`); else the labels' records are listed and their keys read by index."""
        if from_held:
            held = self.held
            return (sa.select(held.c.label, held.c.key_type, held.c.key_value)
                    .where(held.c.key_type.in_(key_types)).subquery("holdings"))
        edges, keys, src = self.edges, self.keys, self.src
        members = self._temp("members", sa.Column("label", sa.BigInteger()), sa.Column("record_id", sa.BigInteger()))
        labels = sa.select(edges.c.label).distinct().subquery()
        self.conn.execute(sa.insert(members).from_select(
            ["label", "record_id"], sa.select(labels.c.label, src.c.id).join(src, src.c.unified_id == labels.c.label)))
        sa.Index(None, members.c.label).create(self.conn)
        dialect.analyze(self.conn, members)
        return (sa.select(members.c.label, keys.c.key_type, keys.c.key_value)
                .join(keys, sa.and_(keys.c.record_id == members.c.record_id, keys.c.entity == self.entity))
                .where(keys.c.blocked.is_(None), keys.c.key_type.in_(key_types)).subquery("holdings"))

    def _suspects(self, holdings: sa.Subquery, limits: dict[str, int]) -> sa.Subquery:
        """The edges of linking keys that could break a limit: those whose labels together hold
        more values of a key type than its limit, counting each label's values on their own
        (their union can only be smaller), which needs no distinct values. Most keys of a first
        load are cleared by this count."""
        edges = self.edges
        suspect = self._temp("suspect_keys", sa.Column("key_id", sa.Integer()))
        self.conn.execute(sa.insert(suspect).from_select(
            ["key_id"], sa.select(edges.c.key_id).distinct()
            .join(holdings, holdings.c.label == edges.c.label)
            .group_by(edges.c.key_id, holdings.c.key_type)
            .having(sa.func.count() > sa.case(limits, value=holdings.c.key_type))))
        dialect.analyze(self.conn, suspect)
        return (sa.select(edges.c.key_id, edges.c.key_type, edges.c.key_value, edges.c.label)
                .join(suspect, suspect.c.key_id == edges.c.key_id)
                .subquery("checked"))

    def propagate(self) -> int:
        """Min-label propagation over shared keys until no label moves (connected components),
        on integer key ids. The first round takes every key's smallest label and every label's
        smallest key root; roots only shrink, so each later round starts from the labels that
        just moved: their keys' roots, then those keys' labels (a frontier, not the whole graph)."""
        links = self._temp("links", sa.Column("key_id", sa.Integer()), sa.Column("label", sa.BigInteger()))
        self.conn.execute(sa.insert(links).from_select(["key_id", "label"], sa.select(self.edges.c.key_id, self.edges.c.label)))
        dialect.analyze(self.conn, links)
        self.labels = self._temp("labels", sa.Column("label", sa.BigInteger(), primary_key=True),
                                 sa.Column("root", sa.BigInteger()), rewritten=True)
        key_root = self._temp("key_root", sa.Column("key_id", sa.Integer(), primary_key=True), sa.Column("root", sa.BigInteger()),
                              rewritten=True)
        # Each scratch table is filled in key order: its index grows at the end, not all over.
        self.conn.execute(sa.insert(key_root).from_select(  # every label is its own root yet
            ["key_id", "root"], sa.select(links.c.key_id, sa.func.min(links.c.label))
            .group_by(links.c.key_id).order_by(links.c.key_id)))
        first_round = (sa.select(links.c.label, sa.func.min(key_root.c.root).label("root"))
                       .join(key_root, key_root.c.key_id == links.c.key_id).group_by(links.c.label))
        frontier = self._temp("moved", sa.Column("label", sa.BigInteger(), primary_key=True),
                              sa.Column("root", sa.BigInteger()))
        if self.pend is None:  # created apart: only the labels with a linking key matter, so each
            # label is written once, with its first round's root, and the labels that moved follow
            self.label_count = self.conn.execute(sa.insert(self.labels).from_select(
                ["label", "root"], first_round.order_by(links.c.label))).rowcount
            dialect.analyze(self.conn, self.labels)
            labels = self.labels
            moved = self.conn.execute(sa.insert(frontier).from_select(
                ["label", "root"], sa.select(labels.c.label, labels.c.root).where(labels.c.root < labels.c.label)
                .order_by(labels.c.label))).rowcount
        else:
            if self.labels_are_ids:  # pend's labels are its record ids: distinct, and in pend's order
                every = sa.select(self.pend.c.label).subquery()
            else:  # with every record pending, links' labels are pend's
                every = (sa.select(self.pend.c.label).distinct() if self.all_pending
                         else sa.union(sa.select(links.c.label), sa.select(self.pend.c.label))).subquery()
            self.label_count = self.conn.execute(sa.insert(self.labels).from_select(
                ["label", "root"], sa.select(every.c.label, every.c.label).order_by(every.c.label))).rowcount
            dialect.analyze(self.conn, self.labels)
            moved = self._move(frontier, first_round, first=True)
        lowered = self._temp("lowered_keys", sa.Column("key_id", sa.Integer(), primary_key=True),
                             sa.Column("root", sa.BigInteger()))
        rounds = 1
        while moved and rounds < MAX_ITERATIONS:
            rounds += 1
            # Materialized each round: SQLite would re-run an aggregating subquery per updated row.
            reach = (sa.select(links.c.key_id, sa.func.min(frontier.c.root).label("root"))
                     .join(frontier, frontier.c.label == links.c.label).group_by(links.c.key_id).subquery())
            self.conn.execute(sa.delete(lowered))
            self.conn.execute(sa.insert(lowered).from_select(
                ["key_id", "root"], sa.select(reach.c.key_id, reach.c.root)
                .join(key_root, key_root.c.key_id == reach.c.key_id).where(reach.c.root < key_root.c.root)
                .order_by(reach.c.key_id)))
            self.conn.execute(sa.update(key_root).where(key_root.c.key_id == lowered.c.key_id)
                              .values(root=lowered.c.root))
            moved = self._move(frontier, sa.select(links.c.label, sa.func.min(lowered.c.root).label("root"))
                               .join(lowered, lowered.c.key_id == links.c.key_id).group_by(links.c.label))
        return rounds

    def _move(self, moved: sa.Table, proposed: sa.Select, first: bool = False) -> int:
        """Lower the labels' roots where a proposed (label, root) beats them; the labels lowered
        replace the contents of `moved` (the next round's frontier). Returns how many moved. In
        the `first` round every label is still its own root: the roots need not be read."""
        labels, offer = self.labels, proposed.subquery("offer")
        self.conn.execute(sa.delete(moved))
        lowered = sa.select(offer.c.label, offer.c.root)
        lowered = (lowered.where(offer.c.root < offer.c.label) if first else
                   lowered.join(labels, labels.c.label == offer.c.label).where(offer.c.root < labels.c.root))
        count = self.conn.execute(sa.insert(moved).from_select(
            ["label", "root"], lowered.order_by(offer.c.label))).rowcount
        if count:
            self.conn.execute(sa.update(labels).where(labels.c.label == moved.c.label).values(root=moved.c.root))
        return count

    def log_merges(self) -> Counter:
        """One merge_log row per absorbed label, with the strongest key it shares with the
        survivor (else, in a chain, the strongest key it was linked by), and merge_members listing
        the source records that came across (what a split gives back)."""
        edges, labels, unified = self.edges, self.labels, self.store.tables.unified(self.entity)
        merge_log, merge_members = self.store.tables.merge_log, self.store.tables.merge_members
        priority = key_priority(self.entity)
        names = {rank: key for key, rank in priority.items()}
        survivor_edge = sa.alias(edges, "survivor_edge")
        # Each key of each absorbed label, ranked; keys the survivor also holds rank first.
        candidates = self._temp("candidates", sa.Column("label", sa.BigInteger()), sa.Column("root", sa.BigInteger()),
                                sa.Column("key_value", key_text(2048)), sa.Column("rank", sa.Integer()))
        rank = sa.case(priority, value=edges.c.key_type, else_=99) + sa.case(
            (survivor_edge.c.label.is_(None), INDIRECT), else_=0)
        self.conn.execute(sa.insert(candidates).from_select(
            ["label", "root", "key_value", "rank"],
            sa.select(edges.c.label, labels.c.root, edges.c.key_value, rank)
            .join(labels, sa.and_(labels.c.label == edges.c.label, labels.c.root != labels.c.label))
            .outerjoin(survivor_edge, sa.and_(survivor_edge.c.key_id == edges.c.key_id,
                                              survivor_edge.c.label == labels.c.root))))
        sa.Index(None, candidates.c.label, candidates.c.rank).create(self.conn)
        dialect.analyze(self.conn, candidates)
        # Per absorbed label its best-ranked key (the smallest value among equals): one sorted pass.
        first = sa.func.row_number().over(partition_by=candidates.c.label,
                                          order_by=(candidates.c.rank, candidates.c.key_value))
        ranked = sa.select(*candidates.c, first.label("n")).subquery()
        chosen = sa.select(*(ranked.c[c.name] for c in candidates.c)).where(ranked.c.n == 1).subquery("chosen")
        if self.apart:  # no absorbed record has a unified row, and that table is another's
            created_at, frm = sa.null(), chosen
        else:
            created_at, frm = unified.c.created_at, chosen.outerjoin(unified, unified.c.id == chosen.c.label)
        logged = self.conn.execute(sa.insert(merge_log).from_select(
            ["entity", "survivor_id", "absorbed_id", "reason", "key_value", "run_id", "merged_at", "absorbed_created_at"],
            sa.select(sa.literal(self.entity), chosen.c.root, chosen.c.label,
                      sa.case(names, value=chosen.c.rank % INDIRECT, else_="key"), chosen.c.key_value,
                      sa.literal(self.run_id), sa.literal(self.now), created_at).select_from(frm))).rowcount
        if not logged:  # no label moved: nothing to look up in the whole log
            return Counter()
        this_run = sa.and_(merge_log.c.run_id == self.run_id, merge_log.c.entity == self.entity,
                           merge_log.c.merged_at == self.now)
        if self.labels_are_ids:  # each absorbed label is the one record of that id
            came_across = sa.select(merge_log.c.id, merge_log.c.absorbed_id)
        else:
            came_across = (sa.select(merge_log.c.id, self.src.c.id)
                           .join(self.src, self.src.c.unified_id == merge_log.c.absorbed_id))
        self.conn.execute(sa.insert(merge_members).from_select(["merge_id", "record_id"], came_across.where(this_run)))
        counts = self.conn.execute(
            sa.select(merge_log.c.reason, sa.func.count()).where(this_run).group_by(merge_log.c.reason)).all()
        return Counter(dict(counts))

    def write_merges(self) -> Counter:
        """The merges logged and written to the source rows, and what they wake: the steps after
        survivorship's ranking, for when it runs elsewhere (see _CreatedApart)."""
        merges = self.log_merges()
        self.assign()
        self.finish()
        return merges

    def assign(self) -> None:
        """Point the records of every label that moved at its root and take the pending records
        off the queue; records that keep their id are not touched. Absorbed unified rows go away
        (the merge log keeps them, and a split brings them back); their signal events move to
        the survivor."""
        src, labels = self.src, self.labels
        unified = self.store.tables.unified(self.entity)
        moved = labels.c.root != labels.c.label
        self.conn.execute(sa.update(src).where(src.c.unified_id == labels.c.label, moved).values(unified_id=labels.c.root))
        if not self.apart:  # (there, none has a unified row, nor an event)
            self.conn.execute(sa.delete(unified).where(unified.c.id.in_(sa.select(labels.c.label).where(moved))))
            events = self.store.tables.signal_events
            move_events(self.conn, self.store, self.entity, sa.select(events.c.id, labels.c.root)
                        .join(labels, labels.c.label == events.c.record_id)
                        .where(events.c.entity == self.entity, moved))
        if self.entity == "companies":
            people = self.store.tables.unified("people")
            self.conn.execute(sa.update(people).where(people.c.company_id == labels.c.label, moved)
                              .values(company_id=labels.c.root))
        queue, ranges = self.store.tables.pending_records, self.store.tables.pending_ranges
        if self.any_queued:
            self.conn.execute(sa.delete(queue).where(
                queue.c.entity == self.entity, self._pending(queue.c.record_id)))
        if self.range_ids:  # the ranges read, not any queued since
            self.conn.execute(sa.delete(ranges).where(ranges.c.id.in_(self.range_ids)))

    def dirty(self) -> sa.Table:
        """The ids whose unified rows are recomputed: every root. When each label was one source
        record (a first load's), a root no other label joined has one record: it is marked
        `alone`, and survivorship reads its values without ranking them."""
        if self.pend is None:  # (then the labels are only those with a linking key: see propagate)
            raise RuntimeError("a first load counted, not listed, is created apart (_CreatedApart), not by dirty()")
        labels, uid = self.labels, sa.Column("uid", sa.BigInteger(), primary_key=True)
        if not (self.all_pending and self.label_count == self.pending_rows):
            table = self._temp("dirty", uid)
            self.conn.execute(sa.insert(table).from_select(
                ["uid"], sa.select(labels.c.root).distinct().order_by(labels.c.root)))
        else:
            table = self._temp("dirty", uid, sa.Column("alone", sa.Boolean()))
            self.conn.execute(sa.insert(table).from_select(
                ["uid", "alone"], sa.select(labels.c.root, sa.func.count() == 1).group_by(labels.c.root)
                .order_by(labels.c.root)))
        dialect.analyze(self.conn, table)
        return table

    def finish(self) -> None:
        if self.entity == "companies":
            self._wake_people_of_changed_companies()

    def _wake_people_of_changed_companies(self) -> None:
        """People whose company record was just created or merged re-pick their company."""
        people, keys, src = self.store.tables.source("people"), self.keys, self.src
        domains = (sa.select(keys.c.key_value)
                   .where(keys.c.entity == "companies", keys.c.key_type == "domain", self._pending(keys.c.record_id)))
        accounts = sa.select(src.c.source, src.c.source_id).where(self._pending(src.c.id)).subquery()
        self.store.mark_pending(self.conn, "people", sa.select(people.c.id).where(sa.or_(
            people.c.company_domain.in_(domains),
            sa.exists().where(accounts.c.source == people.c.company_account_source,
                              accounts.c.source_id == people.c.company_account_id),
        )))
