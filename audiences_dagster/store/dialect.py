"""The few places where SQLite and PostgreSQL differ, kept in one module."""

from __future__ import annotations

import csv
import io

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def is_postgres(bind: sa.Connection | sa.Engine) -> bool:
    return bind.dialect.name == "postgresql"


def insert(bind: sa.Connection, table: sa.Table):
    """An INSERT that supports ON CONFLICT on both stores."""
    return (postgresql.insert if is_postgres(bind) else sqlite.insert)(table)


def new_ids(conn: sa.Connection, table: sa.Table) -> sa.ColumnElement:
    """Fresh ids for rows about to be inserted into `table` from a SELECT, so another column
    (a source record's own unified id) can carry the same value in the same statement."""
    if is_postgres(conn):
        return sa.func.nextval(sa.func.pg_get_serial_sequence(table.name, "id"))
    highest = sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0)).scalar_subquery()
    return highest + sa.func.row_number().over()


def distinct_list(conn: sa.Connection, column: sa.ColumnElement) -> sa.ColumnElement:
    """The distinct values of a group as one comma-separated text."""
    if is_postgres(conn):
        return sa.func.string_agg(sa.distinct(column), sa.literal_column("','"))
    return sa.func.group_concat(sa.distinct(column))


def bulk_load(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Load a batch into a (staging) table: COPY on PostgreSQL, executemany on SQLite."""
    if frame.empty:
        return
    columns = [c for c in frame.columns if c in table.c]
    if is_postgres(conn):
        _copy(conn, table, frame[columns])
        return
    records = frame[columns].astype(object).where(frame[columns].notna(), None).to_dict(orient="records")
    conn.execute(sa.insert(table), records)


def _copy(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    buffer = io.StringIO()
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    out.to_csv(buffer, index=False, header=False, na_rep="\\N", quoting=csv.QUOTE_MINIMAL)
    buffer.seek(0)
    preparer = conn.dialect.identifier_preparer
    names = ", ".join(preparer.quote(c) for c in out.columns)
    target = preparer.format_table(table)
    raw = conn.connection.dbapi_connection
    with raw.cursor() as cursor:
        cursor.copy_expert(f"COPY {target} ({names}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)


def create_temp_table(conn: sa.Connection, name: str, columns: list[sa.Column]) -> sa.Table:
    """A connection-private scratch table, dropped first so a retried step starts clean."""
    metadata = sa.MetaData()
    for column in columns:  # an integer key is a plain column unless asked for (no sequence per scratch table)
        if column.autoincrement == "auto":
            column.autoincrement = False
    table = sa.Table(name, metadata, *columns, prefixes=["TEMPORARY"])
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {conn.dialect.identifier_preparer.quote(name)}"))
    table.create(conn)
    return table


def analyze(conn: sa.Connection, table: sa.Table) -> None:
    """Fresh planner statistics after a bulk change, so the next joins pick indexes."""
    conn.execute(sa.text(f"ANALYZE {conn.dialect.identifier_preparer.format_table(table)}"))
