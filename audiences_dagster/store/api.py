"""The store: connection, migrations, and the set-based writes every import goes through."""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.operations import Operations

from audiences_dagster.config.models import AudiencesConfig
from audiences_dagster.store import dialect
from audiences_dagster.store.schema import ENTITIES, Tables, build_metadata, key_text, sql_type

MIGRATIONS = Path(__file__).parent / "migrations"
TYPE_FAMILY = {"text": "text", "email": "text", "url": "text", "phone": "text",
               "number": "number", "date": "date", "boolean": "boolean"}


class StoreError(RuntimeError):
    """The store cannot be used as configured; the message says what to fix."""


# A row's imported_at / changed_at is the start time of its import transaction, so one that
# committed after a reader's previous run began can carry an earlier time: readers of "what changed
# since" look back this far to catch it.
LATE_COMMIT_MARGIN = timedelta(minutes=30)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class BatchCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: "BatchCounts") -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged


@dataclass(frozen=True)
class DirectBatch:
    """A batch of new records numbered ahead and rendered for COPY straight into the source
    table and identity_keys (see `DirectLoad`)."""

    load: "DirectLoad"
    rows: dialect.Load
    keys: dialect.Load
    first_id: int
    last_id: int


@dataclass
class DirectLoad:
    """The first import of a source into a PostgreSQL store: its records are new, so each batch
    takes its ids from the source table's sequence as it is rendered (in the import's read-ahead
    thread) and is copied straight into the source table and identity_keys: no staging table, no
    count of existing rows, no INSERT ... SELECT, and the keys need no join to learn their
    records' ids. A batch that finds one of its rows already there (a file that repeats an id in
    another batch, another import of the same source at the same time) is rolled back to before
    it and written the usual way, staged and upserted, as is every batch after it."""

    store: "Store"
    entity: str
    constants: dict  # the columns with one value for the whole import
    active: bool = True
    next_id: sa.ColumnElement | None = None  # the sequence, looked up at the first batch

    def render(self, rows: pd.DataFrame, keys: pd.DataFrame) -> DirectBatch | None:
        if not self.active or rows.empty:
            return None
        with self.store.engine.connect() as conn:
            if self.next_id is None:
                self.next_id = dialect.new_ids(conn, self.store.tables.source(self.entity))
            ids = np.asarray(conn.execute(sa.select(sa.func.array_agg(self.next_id))
                                          .select_from(sa.func.generate_series(1, len(rows)))).scalar_one(),
                             dtype=np.int64)
        numbered = rows.copy()
        numbered.insert(0, "id", ids)
        numbered.insert(1, "unified_id", ids)  # each new record its own unified record
        for name, value in {**self.constants, "imported_at": utcnow().strftime(dialect.DATETIME_TEXT)}.items():
            numbered[name] = value
        # Each key's record: its source id's place among the batch's (unique) source ids, found by pyarrow.
        places = pc.index_in(pa.array(keys["source_id"].array), value_set=pa.array(rows["source_id"].array))
        held = pd.DataFrame({"entity": self.entity, "key_type": keys["key_type"], "key_value": keys["key_value"],
                             "record_id": ids[places.to_numpy(zero_copy_only=False)]})
        return DirectBatch(self, dialect.render_load("postgresql", numbered), dialect.render_load("postgresql", held),
                           int(ids.min()), int(ids.max()))


class Store:
    """One configured store (SQLite or PostgreSQL) and its tables."""

    def __init__(self, url: str, fields: dict[str, dict[str, str]]):
        self.url = url
        self.fields = fields
        self.engine = _engine(url)
        self.tables = Tables(build_metadata(fields))

    @classmethod
    def from_config(cls, config: AudiencesConfig) -> "Store":
        try:
            url = config.store_url()
        except EnvironmentError as exc:
            raise StoreError(f"store.url_env: {exc}") from None
        return cls(url, {e: config.fields(e) for e in ENTITIES})

    @property
    def safe_url(self) -> str:
        return sa.make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()

    # -- schema ---------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Bring the schema to head (Alembic) and add columns for newly configured fields."""
        try:
            with self.engine.begin() as conn:
                cfg = AlembicConfig()
                cfg.set_main_option("script_location", str(MIGRATIONS))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                return self._add_field_columns(conn)
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot reach the store at {self.safe_url}: {exc.orig}") from None

    def _add_field_columns(self, conn: sa.Connection) -> list[str]:
        inspector = sa.inspect(conn)
        ops = Operations(MigrationContext.configure(conn))
        added = []
        for entity in ENTITIES:
            for table_name in (f"source_{entity}", f"unified_{entity}"):
                existing = {c["name"]: c["type"] for c in inspector.get_columns(table_name)}
                for name, field_type in self.fields.get(entity, {}).items():
                    wanted = [(name, sql_type(field_type))]
                    if table_name.startswith("unified"):
                        wanted.append((f"{name}__from", sa.BigInteger()))
                    for column, column_type in wanted:
                        if column in existing:
                            _check_type(table_name, column, existing[column], field_type if column == name else None)
                            continue
                        ops.add_column(table_name, sa.Column(column, column_type))
                        added.append(f"{table_name}.{column}")
        return added

    # -- first loads ----------------------------------------------------------------------
    # Rows inserted one batch at a time land all over a lookup index (a key's value, a record's
    # unified id), and maintaining it that way costs more than loading the rows. Until there are
    # unified records, nothing reads these indexes: a first load drops them, and resolution
    # builds them once, sorted, when it is done (or before it needs them).

    def _source_lookups(self, entity: str) -> list[sa.Index]:
        """The source table's secondary indexes, on PostgreSQL only: SQLite has no hash joins,
        so resolving a first load joins by them."""
        return list(self.tables.source(entity).indexes) if dialect.is_postgres(self.engine) else []

    def _key_lookups(self) -> list[sa.Index]:
        """identity_keys' index by key value; on PostgreSQL also the one by record id (the rows a
        first load imports again find their old keys by a hash join; SQLite, with no hash joins,
        keeps it)."""
        indexes = self.tables.identity_keys.indexes
        return list(indexes) if dialect.is_postgres(self.engine) else [ix for ix in indexes if "key_value" in ix.columns]

    def begin_first_load(self, entity: str) -> None:
        """Before an import: with no unified <entity> yet, drop its source table's lookup indexes;
        with no unified records at all, also identity_keys' (shared by both entities)."""
        with self.engine.begin() as conn:
            empty = {e: not conn.execute(sa.select(sa.exists().where(self.tables.unified(e).c.id.is_not(None)))).scalar()
                     for e in ENTITIES}
            dropping = self._source_lookups(entity) if empty[entity] else []
            if all(empty.values()):
                dropping += self._key_lookups()
            for index in dropping:
                index.drop(conn, checkfirst=True)

    def deferrable(self, entity: str) -> list[sa.Table]:
        """The tables a first resolution fills from empty (see `defer_indexes`)."""
        return [self.tables.unified(entity), self.tables.merge_log, self.tables.field_history]

    def lookups(self, entity: str) -> dict[str, list[sa.Index]]:
        """The indexes a first load or a first resolution can leave to be built afterwards, by
        what holds them: the source table, identity_keys, and the tables resolution fills."""
        return {"source": self._source_lookups(entity), "keys": self._key_lookups(),
                "resolved": [ix for table in self.deferrable(entity) for ix in table.indexes]}

    def ensure_indexes(self, conn: sa.Connection, entity: str, indexes: list[sa.Index] | None = None) -> None:
        """Build the lookup indexes (all of `lookups`, or the ones given) that a first load or a
        first resolution left to build; nothing happens when they exist. Two runs may get here
        together: on PostgreSQL the table is locked against other builders (and writers) first,
        and the index checked again."""
        inspector = sa.inspect(conn)
        if indexes is None:
            indexes = [ix for group in self.lookups(entity).values() for ix in group]
        for index in indexes:
            if any(ix["name"] == index.name for ix in inspector.get_indexes(index.table.name)):
                continue
            dialect.lock_table(conn, index.table, "SHARE ROW EXCLUSIVE")
            index.create(conn, checkfirst=True)
            inspector.clear_cache()

    def build_key_indexes_aside(self) -> Future | None:
        """When a first load left identity_keys without its lookup indexes (PostgreSQL): analyze
        it now, so that the resolution about to start plans its joins on fresh statistics, and
        build the indexes (then vacuum the table) on a connection of their own while that
        resolution runs. It joins the keys by hashing and needs no index, and a build only
        blocks writers, which it has none of; the machine's other core does the sorting. Returns
        the running build, or None when there is nothing to build. A build that fails leaves the
        indexes to `ensure_indexes`."""
        if not dialect.is_postgres(self.engine):
            return None
        with self.engine.connect() as conn:
            present = {ix["name"] for ix in sa.inspect(conn).get_indexes(self.tables.identity_keys.name)}
        missing = [ix for ix in self._key_lookups() if ix.name not in present]
        if not missing:
            return None
        dialect.vacuum_analyze(self.engine, [self.tables.identity_keys], vacuum=False)

        def build() -> None:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for index in missing:  # IF NOT EXISTS: a resolution's ensure_indexes may have built it meanwhile
                    conn.execute(sa.schema.CreateIndex(index, if_not_exists=True))
            dialect.vacuum_analyze(self.engine, [self.tables.identity_keys])

        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="key-indexes")
        running = pool.submit(build)
        pool.shutdown(wait=False)  # takes no more work; the build runs on
        return running

    def defer_indexes(self, conn: sa.Connection, tables: list[sa.Table]) -> list[sa.Index]:
        """Within a resolution's transaction: drop the secondary indexes of the given tables that
        hold no row yet, and return them (a first resolution fills them with hundreds of
        thousands of rows, and a sorted build afterwards costs a fraction of maintaining each
        index row by row). The resolution's settling builds them once it has committed; should it
        stop before that, the next resolution's `ensure_indexes` does. A resolution that fails
        rolls the drops back with it."""
        inspector = sa.inspect(conn)
        dropped = []
        for table in tables:
            if self.any_rows(table, conn):
                continue
            existing = {ix["name"] for ix in inspector.get_indexes(table.name)}
            for index in table.indexes:
                if index.name in existing:
                    index.drop(conn)
                    dropped.append(index)
        return dropped

    # -- sync state -----------------------------------------------------------------------

    def sync_state(self, source: str) -> dict:
        state = self.tables.sync_state
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(state).where(state.c.source == source)).mappings().first()
        if row is None:
            return {"cursor": None, "pass_number": 0, "pass_open": False, "last_full_sync_at": None}
        out = dict(row)
        out["cursor"] = json.loads(row["cursor"]) if row["cursor"] else None
        return out

    def save_sync_state(self, conn: sa.Connection, source: str, cursor: dict | None, *,
                        pass_number: int, pass_open: bool, full_sync_done: bool = False) -> None:
        state = self.tables.sync_state
        values = {"cursor": json.dumps(cursor) if cursor is not None else None,
                  "pass_number": pass_number, "pass_open": pass_open, "updated_at": utcnow()}
        if full_sync_done:
            values["last_full_sync_at"] = utcnow()
        stmt = dialect.insert(conn, state).values(source=source, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=["source"], set_=values))

    # -- import writes --------------------------------------------------------------------

    def write_batch(self, conn: sa.Connection, *, source: str, entity: str, object_name: str | None,
                    tier: str, rows: pd.DataFrame, keys: pd.DataFrame, run_id: str,
                    seen_pass: int | None,
                    rendered: tuple[dialect.Load, dialect.Load] | DirectBatch | None = None) -> BatchCounts:
        """Upsert one mapped batch: only rows whose content changed are written and marked
        pending for identity resolution; their identity keys follow in the same transaction.
        `rendered` is the rows and keys already rendered for the bulk load (see importer), or
        for a direct load of new records."""
        if rows.empty:
            return BatchCounts()
        if isinstance(rendered, DirectBatch):
            loaded = self._load_direct(conn, entity, rendered)
            if loaded is not None:
                return loaded
            rendered = None  # staged and upserted below, rendered here
        src = self.tables.source(entity)
        now = utcnow()
        stage = self._stage(conn, f"stage_{entity}", [src.c[c] for c in rows.columns], numbered_for=src)
        dialect.bulk_load(conn, stage, rendered[0] if rendered else rows)
        dialect.analyze(conn, stage)

        # A join, not EXISTS: PostgreSQL plans the semi-join as a scan of the whole source table.
        existing = conn.execute(
            sa.select(sa.func.count()).select_from(stage.join(
                src, sa.and_(src.c.source == source, src.c.source_id == stage.c.source_id)))
        ).scalar_one()
        if seen_pass is not None and existing:
            conn.execute(sa.update(src).where(
                src.c.source == source, src.c.source_id == stage.c.source_id,
                src.c.seen_pass.is_distinct_from(seen_pass),
            ).values(seen_pass=seen_pass))
        same_for_all = {"source": source, "object": object_name, "tier": tier, "imported_at": now,
                        "run_id": run_id, "seen_pass": seen_pass}
        all_new = existing == 0
        if all_new and "new_id" in stage.c:  # the rows keep the ids the stage gave them
            written = self._upsert(conn, src, stage, same_for_all, None, all_new=True)
            changed = sa.select(stage.c.new_id.label("record_id"), stage.c.source_id).subquery("changed")
        else:
            changed = dialect.create_temp_table(conn, f"changed_{entity}", [
                sa.Column("record_id", sa.BigInteger(), primary_key=True), sa.Column("source_id", sa.String(255))])
            written = self._upsert(conn, src, stage, same_for_all, changed, all_new=all_new)
            dialect.analyze(conn, changed)
        self.mark_pending(conn, entity, sa.select(changed.c.record_id), all_new=all_new)
        self._write_keys(conn, entity, changed, rendered[1] if rendered else keys, all_new=all_new)
        inserted = len(rows) - existing
        return BatchCounts(inserted=inserted, updated=written - inserted, unchanged=len(rows) - written)

    def direct_load(self, source: str, entity: str, constants: dict) -> DirectLoad | None:
        """A `DirectLoad` for an import of a source of which the store holds no row yet, on
        PostgreSQL (SQLite inserts tuples, with nothing to save)."""
        if not dialect.is_postgres(self.engine):
            return None
        src = self.tables.source(entity)
        with self.engine.connect() as conn:  # ordered as the unique index: read from it (not a scan to the first match)
            if conn.execute(sa.select(src.c.source_id).where(src.c.source == source).order_by(src.c.source_id)
                            .limit(1)).first():
                return None
        return DirectLoad(self, entity, {"source": source, **constants})

    def _load_direct(self, conn: sa.Connection, entity: str, batch: DirectBatch) -> BatchCounts | None:
        """Copy a batch of new records (and their keys) straight in, queued as their id range;
        None when one of them was already there, with nothing of the batch written."""
        if not batch.load.active:
            return None
        attempt = conn.begin_nested()
        try:
            dialect.bulk_load(conn, self.tables.source(entity), batch.rows)
        except conn.dialect.dbapi.IntegrityError:  # a source id already stored (raised by the driver's COPY)
            attempt.rollback()
            batch.load.active = False
            return None
        dialect.bulk_load(conn, self.tables.identity_keys, batch.keys)
        attempt.commit()
        conn.execute(sa.insert(self.tables.pending_ranges).values(entity=entity, first_id=batch.first_id,
                                                                 last_id=batch.last_id))
        return BatchCounts(inserted=batch.rows.rows)

    def _upsert(self, conn: sa.Connection, src: sa.Table, stage: sa.Table, same_for_all: dict,
                changed: sa.Table | None, all_new: bool) -> int:
        """Insert new rows (each its own unified record until resolution says otherwise) and
        rewrite existing rows only when their content changed or they come back from a delete;
        the rows written go to `changed` (record_id, source_id) unless it is None (a batch of only
        new rows numbered by its stage). Columns with one value for the whole batch come as
        parameters, not staged per row. A batch of only new rows is a plain INSERT: ON CONFLICT's
        speculative insertion costs a third more per row, and a row that appeared since the count
        fails the batch on the unique index (retried next run)."""
        constants = [dialect.typed_literal(conn, value, src.c[name].type).label(name) for name, value in same_for_all.items()]
        staged = [c for c in stage.c if c.name != "new_id"]
        ids = stage.c.new_id if "new_id" in stage.c else dialect.new_ids(conn, src)
        numbered = sa.select(ids.label("new_id"), *staged, *constants).subquery("numbered")
        columns = [c.name for c in staged] + list(same_for_all)
        ins = dialect.insert(conn, src).from_select(
            ["id", "unified_id", *columns],
            sa.select(numbered.c.new_id, numbered.c.new_id, *(numbered.c[c] for c in columns)).where(sa.true()))
        if not all_new:
            data_columns = {c: ins.excluded[c] for c in columns if c not in ("source", "source_id")}
            ins = ins.on_conflict_do_update(
                index_elements=["source", "source_id"],
                set_={**data_columns, "deleted_in_source": sa.false(), "deleted_at": None},
                where=sa.or_(src.c.row_hash != ins.excluded.row_hash, src.c.deleted_in_source),
            )
        if changed is None:
            return conn.execute(ins).rowcount
        if dialect.is_postgres(conn):  # the upsert hands its rows on (SQLite has no DML in a WITH)
            upserted = ins.returning(src.c.id, src.c.source_id).cte("upserted")
            return conn.execute(sa.insert(changed).from_select(
                ["record_id", "source_id"], sa.select(upserted.c.id, upserted.c.source_id))).rowcount
        written = conn.execute(ins).rowcount
        conn.execute(sa.insert(changed).from_select(["record_id", "source_id"], sa.select(src.c.id, src.c.source_id).join(
            stage, sa.and_(src.c.source == same_for_all["source"], src.c.source_id == stage.c.source_id)
        ).where(src.c.imported_at == same_for_all["imported_at"])))
        return written

    def mark_pending(self, conn: sa.Connection, entity: str, record_ids: sa.Select, all_new: bool = False) -> None:
        """Queue records for identity resolution (already queued ones stay queued once).
        `all_new` when one statement just inserted them all: they are queued as their id range,
        one row. Any other id in that range belongs to a record inserted at the same moment by
        another import (new, so pending too) or to none (ids skipped by an upsert)."""
        if all_new:
            ids = record_ids.subquery()
            first, last = conn.execute(sa.select(sa.func.min(ids.c[0]), sa.func.max(ids.c[0]))).one()
            if first is not None:
                conn.execute(sa.insert(self.tables.pending_ranges).values(entity=entity, first_id=first, last_id=last))
            return
        queue = self.tables.pending_records
        conn.execute(dialect.insert(conn, queue).from_select(
            ["entity", "record_id"], sa.select(sa.literal(entity), record_ids.subquery().c[0]).where(sa.true())
        ).on_conflict_do_nothing(index_elements=["entity", "record_id"]))

    def pending_record_ids(self, entity: str) -> sa.Select:
        """The ids of the records waiting for identity resolution: queued one by one or in a
        range (a record can be in both)."""
        queue, ranges, src = self.tables.pending_records, self.tables.pending_ranges, self.tables.source(entity)
        return sa.union(
            sa.select(queue.c.record_id).where(queue.c.entity == entity),
            sa.select(src.c.id).join(ranges, src.c.id.between(ranges.c.first_id, ranges.c.last_id))
            .where(ranges.c.entity == entity))

    def pending_count(self, entity: str) -> int:
        return self.count(self.pending_record_ids(entity).subquery())

    def _write_keys(self, conn: sa.Connection, entity: str, changed: sa.Table, keys: pd.DataFrame | dialect.Load,
                    all_new: bool) -> None:
        """Replace the keys of the records this batch changed; unchanged keys (and any split
        block on them) stay as they are. A batch of only new records just inserts its keys."""
        ik = self.tables.identity_keys
        stage_keys = dialect.create_temp_table(conn, f"stage_keys_{entity}", [
            sa.Column("source_id", sa.String(255)), sa.Column("key_type", key_text(32)),
            sa.Column("key_value", key_text(2048))])
        dialect.bulk_load(conn, stage_keys, keys)
        dialect.analyze(conn, stage_keys)
        of_changed = (sa.select(changed.c.record_id, stage_keys.c.key_type, stage_keys.c.key_value)
                      .join(changed, changed.c.source_id == stage_keys.c.source_id))
        if all_new:
            rows = of_changed.subquery()
            conn.execute(sa.insert(ik).from_select(
                ["entity", "key_type", "key_value", "record_id"],
                sa.select(sa.literal(entity), rows.c.key_type, rows.c.key_value, rows.c.record_id)))
            return
        new_keys = dialect.create_temp_table(conn, f"new_keys_{entity}", [  # indexed for SQLite's NOT EXISTS
            sa.Column("record_id", sa.BigInteger(), index=True), sa.Column("key_type", key_text(32)),
            sa.Column("key_value", key_text(2048))])
        conn.execute(sa.insert(new_keys).from_select(["record_id", "key_type", "key_value"], of_changed))
        # The changed records' current keys, read once by record id; what to delete and what to
        # insert is then a comparison of two scratch tables, not a lookup per key in identity_keys.
        old_keys = dialect.create_temp_table(conn, f"old_keys_{entity}", [
            sa.Column("record_id", sa.BigInteger(), index=True), sa.Column("key_type", key_text(32)),
            sa.Column("key_value", key_text(2048))])
        of_records = sa.and_(ik.c.entity == entity, ik.c.record_id.in_(sa.select(changed.c.record_id)))
        conn.execute(sa.insert(old_keys).from_select(
            ["record_id", "key_type", "key_value"], sa.select(ik.c.record_id, ik.c.key_type, ik.c.key_value).where(of_records)))
        dialect.analyze(conn, new_keys)
        dialect.analyze(conn, old_keys)

        def same_key(table: sa.Table, other: sa.Table) -> sa.ColumnElement:
            return sa.exists().where(table.c.record_id == other.c.record_id, table.c.key_type == other.c.key_type,
                                     table.c.key_value == other.c.key_value)

        conn.execute(sa.delete(ik).where(of_records, ~same_key(new_keys, ik)))
        conn.execute(sa.insert(ik).from_select(
            ["entity", "key_type", "key_value", "record_id"],
            sa.select(sa.literal(entity), new_keys.c.key_type, new_keys.c.key_value, new_keys.c.record_id)
            .where(~same_key(old_keys, new_keys))))

    def _stage(self, conn: sa.Connection, name: str, columns: list[sa.Column], numbered_for: sa.Table) -> sa.Table:
        """A batch's staging table. On PostgreSQL each staged row takes a fresh id of
        `numbered_for` as it is loaded (column new_id): inserted with it, a batch of new rows
        needs no RETURNING to learn its ids. SQLite numbers rows when it inserts them."""
        copies = [sa.Column(c.name, c.type) for c in columns]
        if dialect.is_postgres(conn):
            copies.append(sa.Column("new_id", sa.BigInteger(), server_default=dialect.new_ids(conn, numbered_for)))
        return dialect.create_temp_table(conn, name, copies)

    def refresh_statistics(self, entity: str) -> None:
        """After a large load, fresh planner statistics keep later incremental runs on indexes."""
        with self.engine.begin() as conn:
            for table in (self.tables.source(entity), self.tables.identity_keys, self.tables.pending_records,
                          self.tables.pending_ranges):
                dialect.analyze(conn, table)

    def mark_unseen_deleted(self, conn: sa.Connection, source: str, entity: str, seen_pass: int) -> int:
        """Rows missing from a full result are deleted in source: marked, never removed."""
        src = self.tables.source(entity)
        unseen = (src.c.source == source, ~src.c.deleted_in_source,
                  sa.or_(src.c.seen_pass.is_(None), src.c.seen_pass < seen_pass))
        self.mark_pending(conn, entity, sa.select(src.c.id).where(*unseen))
        return conn.execute(sa.update(src).where(*unseen).values(deleted_in_source=True, deleted_at=utcnow())).rowcount

    def mark_deleted(self, conn: sa.Connection, source: str, entity: str, source_ids: list[str]) -> int:
        """Records the source reports deleted are marked (and re-resolved), never removed."""
        src = self.tables.source(entity)
        gone = dialect.create_temp_table(conn, f"deleted_{entity}", [sa.Column("source_id", sa.String(255), primary_key=True)])
        conn.execute(sa.insert(gone), [{"source_id": i} for i in dict.fromkeys(source_ids)])
        hit = (src.c.source == source, src.c.source_id.in_(sa.select(gone.c.source_id)), ~src.c.deleted_in_source)
        self.mark_pending(conn, entity, sa.select(src.c.id).where(*hit))
        return conn.execute(sa.update(src).where(*hit).values(deleted_in_source=True, deleted_at=utcnow())).rowcount

    def quarantine(self, conn: sa.Connection, source: str, run_id: str, entries: list[dict]) -> None:
        if entries:
            conn.execute(sa.insert(self.tables.quarantine),
                         [{**e, "source": source, "run_id": run_id} for e in entries])

    # -- reads ----------------------------------------------------------------------------

    def newest_record_id(self, conn: sa.Connection, entity: str) -> int:
        """The highest source record id of an entity (0 when empty), from the primary key: ids
        only grow from 1, so it bounds how many source records there are."""
        src = self.tables.source(entity)
        return conn.execute(sa.select(sa.func.coalesce(sa.func.max(src.c.id), 0))).scalar_one()

    def any_rows(self, table: sa.Table, conn: sa.Connection | None = None) -> bool:
        """Whether the table holds a row (read on `conn`, or on a connection of its own)."""
        if conn is not None:
            return conn.execute(sa.select(sa.exists().select_from(table))).scalar_one()
        with self.engine.connect() as own:
            return self.any_rows(table, own)

    def count(self, table: sa.Table, *where) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()


def _engine(url: str) -> sa.Engine:
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"store URL is not a valid SQLAlchemy URL: {exc}") from None
    if parsed.drivername == "postgresql":
        raise StoreError("name the driver in the store URL: postgresql+psycopg2://...")
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": 60})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = sa.create_engine(parsed, pool_pre_ping=True)
    sa.event.listen(engine, "connect", _postgres_settings)
    return engine


# Session settings for the store's set-based work. Index probes for small batches (the working set
# lives in memory), and room for the hash aggregations and scratch tables of identity resolution
# so that they do not spill to disk; PostgreSQL's defaults (4 MB, 8 MB) are sized for OLTP.
POSTGRES_SESSION = {"random_page_cost": "1.1", "work_mem": "256MB", "temp_buffers": "256MB",
                    "maintenance_work_mem": "256MB"}
# Asked for when the store's role may set it (a superuser, or one granted it: PostgreSQL 15's
# GRANT SET ON PARAMETER wal_compression TO <role>) and the server has lz4, else the server's
# setting holds. An import or a first resolution writes most pages for the first time since a
# checkpoint, so a full image of each goes to the WAL; lz4 compresses those images for little CPU.
WAL_COMPRESSION = "lz4"


def _postgres_settings(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    for name, value in POSTGRES_SESSION.items():
        cursor.execute(f"SET {name} = '{value}'")
    if _wal_compression_allowed(cursor):
        cursor.execute(f"SET wal_compression = '{WAL_COMPRESSION}'")
    cursor.close()
    dbapi_connection.commit()


def _wal_compression_allowed(cursor) -> bool:
    """Asked first, so that a role that may not set it sends no SET the server would log as an
    error on every connection (a server before 15 has neither the function nor lz4)."""
    cursor.execute("SELECT current_setting('server_version_num')::int >= 150000")
    if not cursor.fetchone()[0]:
        return False
    cursor.execute("SELECT has_parameter_privilege('wal_compression', 'SET') AND %s = ANY(enumvals) "
                   "FROM pg_settings WHERE name = 'wal_compression'", (WAL_COMPRESSION,))
    return bool(cursor.fetchone()[0])


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA cache_size=-200000")
    cursor.close()


def _check_type(table: str, column: str, existing: sa.types.TypeEngine, field_type: str | None) -> None:
    if field_type is None:
        return
    family = _family(existing)
    if family and family != TYPE_FAMILY[field_type]:
        raise StoreError(
            f"{table}.{column} is stored as {family} but audiences.yaml now declares it '{field_type}'; "
            f"map the column to a new field name instead of changing its type"
        )


def _family(column_type: sa.types.TypeEngine) -> str | None:
    if isinstance(column_type, sa.Boolean):
        return "boolean"
    if isinstance(column_type, (sa.DateTime, sa.Date)):
        return "date"
    if isinstance(column_type, (sa.Float, sa.Numeric, sa.Integer)):
        return "number"
    if isinstance(column_type, (sa.String, sa.Text)):
        return "text"
    return None
