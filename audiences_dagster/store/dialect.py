"""The few places where SQLite and PostgreSQL differ, kept in one module."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def is_postgres(bind: sa.Connection | sa.Engine) -> bool:
    return bind.dialect.name == "postgresql"


def lock_table(conn: sa.Connection, table: sa.Table, mode: str) -> None:
    """Lock a table in the given PostgreSQL lock mode until the transaction ends (SQLite has
    one writer at a time already: nothing to do)."""
    if is_postgres(conn):
        conn.execute(sa.text(f"LOCK TABLE {conn.dialect.identifier_preparer.format_table(table)} IN {mode} MODE"))


def rederivable(conn: sa.Connection) -> None:
    """Mark the current transaction as work the next run derives again from its inputs (an
    import batch with its cursor, a resolution with its pending queue): on PostgreSQL its commit
    does not wait for the WAL flush. A server crash can then lose the last fraction of a second of
    such commits, each whole, with the cursor or queue they advance, so the next run redoes them;
    the store stays consistent. Nothing is lost that cannot be read again (credits, actions and
    CRM writes keep synchronous commits). Waiting out the flushes cost a tenth of a 1M-record
    first load."""
    if is_postgres(conn):
        conn.execute(sa.text("SET LOCAL synchronous_commit = off"))


def insert(bind: sa.Connection, table: sa.Table):
    """An INSERT that supports ON CONFLICT on both stores."""
    return (postgresql.insert if is_postgres(bind) else sqlite.insert)(table)


def new_ids(conn: sa.Connection, table: sa.Table) -> sa.ColumnElement:
    """Fresh ids for rows about to be inserted into `table` from a SELECT, so another column
    (a source record's own unified id) can carry the same value in the same statement. The
    sequence is looked up once, here, and named by a regclass literal, resolved when the
    statement is planned: pg_get_serial_sequence() (or a cast from text) in the SELECT would be
    evaluated for every row (7 us each, against 0.3 us for nextval of the literal)."""
    if is_postgres(conn):
        sequence = conn.execute(sa.select(sa.func.pg_get_serial_sequence(table.name, "id"))).scalar_one()
        return sa.func.nextval(sa.literal_column("'" + sequence.replace("'", "''") + "'::regclass"))
    highest = sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0)).scalar_subquery()
    return highest + sa.func.row_number().over()


def typed_literal(conn: sa.Connection, value, type_: sa.types.TypeEngine) -> sa.ColumnElement:
    """A parameter with the column's type in a SELECT list. PostgreSQL is told the type (a NULL
    parameter would otherwise be text); SQLite is not (CAST to DATETIME would make a number)."""
    literal = sa.literal(value, type_)
    return sa.cast(literal, type_) if is_postgres(conn) else literal


def distinct_list(conn: sa.Connection, column: sa.ColumnElement) -> sa.ColumnElement:
    """The distinct values of a group as one comma-separated text."""
    if is_postgres(conn):
        return sa.func.string_agg(sa.distinct(column), sa.literal_column("','"))
    return sa.func.group_concat(sa.distinct(column))


def the_one(conn: sa.Connection, column: sa.ColumnElement) -> sa.ColumnElement:
    """The one non-NULL value of a group (an aggregate). PostgreSQL has no max() of booleans."""
    if is_postgres(conn) and isinstance(column.type, sa.Boolean):
        return sa.func.bool_or(column)
    return sa.func.max(column)


@dataclass(frozen=True)
class Load:
    """A frame rendered for one bulk load: CSV text for PostgreSQL's COPY, parameter tuples for
    SQLite. Rendering is pure Python and needs no connection, so an import renders the next batch
    in its read-ahead thread while this one is written."""

    columns: tuple[str, ...]
    rows: int
    text: str | None = None
    values: list[tuple] | None = None


# How SQLAlchemy stores a DateTime in SQLite (its default storage format), and how COPY reads one.
DATETIME_TEXT = "%Y-%m-%d %H:%M:%S.%f"


def render_load(backend: str, frame: pd.DataFrame) -> Load:
    """Render a frame for `bulk_load` on a store of this backend (an engine's dialect name)."""
    columns = tuple(frame.columns)
    out = frame.copy()
    for column in out.columns:
        if not pd.api.types.is_datetime64_any_dtype(out[column]):
            continue
        if backend == "postgresql" and out[column].dt.tz is None:
            # pyarrow's CSV writer spells microseconds as COPY reads them (5x faster than strftime).
            out[column] = out[column].astype("datetime64[us]")
        else:
            out[column] = out[column].dt.strftime(DATETIME_TEXT)
    if backend != "postgresql":
        lists = [out[c].astype(object).where(out[c].notna(), None).tolist() for c in columns]
        return Load(columns, len(frame), values=list(zip(*lists)))
    # pyarrow's CSV writer (C++; pandas' to_csv formats in Python, 5x slower). A missing value is
    # an unquoted empty field and an empty text is "", which is how COPY's CSV format tells NULL
    # from '' by default (so a text that reads \N stays text).
    sink = io.BytesIO()
    pa_csv.write_csv(pa.Table.from_pandas(out, preserve_index=False), sink,
                     pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    return Load(columns, len(frame), text=sink.getvalue().decode("utf-8"))


def bulk_load(conn: sa.Connection, table: sa.Table, data: pd.DataFrame | Load) -> None:
    """Load a batch into a (staging) table: COPY on PostgreSQL, one executemany of plain tuples
    on SQLite (the DBAPI's own, without a dict and a bind step per row). The batch is a frame (its
    columns the table has are loaded) or a Load rendered ahead for this table."""
    if isinstance(data, pd.DataFrame):
        data = render_load(conn.dialect.name, data[[c for c in data.columns if c in table.c]])
    unknown = set(data.columns) - set(table.c.keys())
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {sorted(unknown)} to load")
    if not data.rows:
        return
    preparer = conn.dialect.identifier_preparer
    names = ", ".join(preparer.quote(c) for c in data.columns)
    if data.text is None:
        conn.exec_driver_sql(f"INSERT INTO {preparer.format_table(table)} ({names}) "
                             f"VALUES ({', '.join('?' for _ in data.columns)})", data.values)
        return
    raw = conn.connection.dbapi_connection
    with raw.cursor() as cursor:
        # One read of the whole text: with the default 8 kB reads, each read waits for the GIL
        # that the read-ahead thread holds while mapping the next batch (seconds per source).
        cursor.copy_expert(f"COPY {preparer.format_table(table)} ({names}) FROM STDIN WITH (FORMAT csv)",
                           io.StringIO(data.text), size=max(len(data.text), 8192))


# Room left on each page of a scratch table whose rows are rewritten in place (PostgreSQL): the
# new version stays on its page and its index is not touched (a HOT update).
REWRITTEN_FILLFACTOR = 70


def create_temp_table(conn: sa.Connection, name: str, columns: list[sa.Column], rewritten: bool = False) -> sa.Table:
    """A connection-private scratch table, dropped first so a retried step starts clean;
    `rewritten` when its rows will be updated in place."""
    metadata = sa.MetaData()
    for column in columns:  # an integer key is a plain column unless asked for (no sequence per scratch table)
        if column.autoincrement == "auto":
            column.autoincrement = False
    table = sa.Table(name, metadata, *columns, prefixes=["TEMPORARY"], info={"scratch": True},
                     postgresql_with={"fillfactor": REWRITTEN_FILLFACTOR} if rewritten else {})
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {conn.dialect.identifier_preparer.quote(name)}"))
    table.create(conn)
    return table


def vacuum_analyze(engine: sa.Engine, tables: list[sa.Table], vacuum: bool = True) -> None:
    """After a bulk load, outside any transaction: PostgreSQL's VACUUM also marks the loaded pages
    all-visible, so the next incremental run's index-only lookups skip the table (autovacuum
    would get there later); SQLite only needs the statistics. `vacuum=False`: statistics only,
    each table's lock held only while it is analyzed."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        verb = "VACUUM ANALYZE" if is_postgres(conn) and vacuum else "ANALYZE"
        for table in tables:
            conn.execute(sa.text(f"{verb} {conn.dialect.identifier_preparer.format_table(table)}"))


# Statistics target for scratch tables on PostgreSQL: a sample of 300 x 10 rows tells a join's
# planner sizes and distinct counts well enough, at a tenth of the default's reading.
SCRATCH_STATISTICS_TARGET = 10


def analyze(conn: sa.Connection, table: sa.Table) -> None:
    """Fresh planner statistics after a bulk change, so the next joins pick indexes."""
    statement = sa.text(f"ANALYZE {conn.dialect.identifier_preparer.format_table(table)}")
    if not (is_postgres(conn) and table.info.get("scratch")):
        conn.execute(statement)
        return
    conn.execute(sa.text(f"SET LOCAL default_statistics_target = {SCRATCH_STATISTICS_TARGET}"))
    conn.execute(statement)
    conn.execute(sa.text("SET LOCAL default_statistics_target TO DEFAULT"))
