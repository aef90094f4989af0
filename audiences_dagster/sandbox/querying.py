"""SOQL result sets as server-side cursors: matching row positions are snapshotted once (set-based), then every
page is an indexed range read on (cursor, position), for REST locators and Bulk 2.0 result pages alike."""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections import OrderedDict

from audiences_dagster.sandbox.records import json_value
from audiences_dagster.sandbox.soql import CompiledQuery, compile_soql

CURSOR_LIFETIME_MS = 2 * 24 * 3600 * 1000  # API >= 56: cursors live two days


def open_cursor(conn: sqlite3.Connection, query: CompiledQuery, include_deleted: bool, prefix: str = "01g") -> \
        tuple[str, int]:
    """Snapshot the matching rows in order; returns the cursor id and the total size."""
    _forget_old_cursors(conn)
    cursor_id = prefix + secrets.token_hex(8)
    source, params = query.matching_sql(include_deleted)
    limit = f" LIMIT {int(query.limit)}" if query.limit is not None else ""
    conn.execute(
        f"INSERT INTO sf_cursor_row (cursor_id, position, record_seq) SELECT ?, ROW_NUMBER() OVER"
        f" (ORDER BY {query.order_sql}), base.seq {source} ORDER BY {query.order_sql}{limit}",
        [cursor_id, *params])
    total = conn.execute("SELECT COUNT(*) FROM sf_cursor_row WHERE cursor_id = ?", (cursor_id,)).fetchone()[0]
    conn.execute("INSERT INTO sf_cursor (cursor_id, sobject, soql, include_deleted, total, created_wall_ms)"
                 " VALUES (?, ?, ?, ?, ?, ?)",
                 (cursor_id, query.sobject.name, query.soql, int(include_deleted), total, _wall_ms()))
    return cursor_id, total


def find_cursor(conn: sqlite3.Connection, cursor_id: str) -> sqlite3.Row | None:
    """A live cursor, or None when unknown or older than the two-day cursor lifetime."""
    row = conn.execute("SELECT * FROM sf_cursor WHERE cursor_id = ?", (cursor_id,)).fetchone()
    if row is None or row["created_wall_ms"] < _wall_ms() - CURSOR_LIFETIME_MS:
        return None
    return row


def count_matching(conn: sqlite3.Connection, query: CompiledQuery, include_deleted: bool) -> int:
    source, params = query.matching_sql(include_deleted)
    count = conn.execute(f"SELECT COUNT(*) {source}", params).fetchone()[0]
    return min(count, query.limit) if query.limit is not None else count


def read_page(conn: sqlite3.Connection, query: CompiledQuery, cursor_id: str, after: int, size: int) -> \
        list[sqlite3.Row]:
    """Rows at positions after..after+size (keyset on the cursor's primary key; positions are 1..total)."""
    columns = ", ".join(f"{f.sql} AS c{i}" for i, f in enumerate(query.fields))
    parents = "".join(f', "r_{name}"."Id" AS "p_{name}"' for name in _relationships(query))
    return conn.execute(
        f'SELECT c.position AS position, base."Id" AS record_id{", " + columns if columns else ""}{parents}'
        f" FROM sf_cursor_row c JOIN {query.sobject.table} AS base ON base.seq = c.record_seq"
        f" {' '.join(query.joins)} WHERE c.cursor_id = ? AND c.position > ? AND c.position <= ?"
        f" ORDER BY c.position", (cursor_id, after, after + size)).fetchall()


def drop_cursor(conn: sqlite3.Connection, cursor_id: str) -> None:
    conn.execute("DELETE FROM sf_cursor_row WHERE cursor_id = ?", (cursor_id,))
    conn.execute("DELETE FROM sf_cursor WHERE cursor_id = ?", (cursor_id,))


def rest_record(query: CompiledQuery, row: sqlite3.Row, version: str) -> OrderedDict:
    """One record as REST query returns it: attributes first, fields in SELECT order, parents nested."""
    record = OrderedDict(attributes=_attributes(query.sobject.name, row["record_id"], version))
    for i, selected in enumerate(query.fields):
        value = json_value(selected.field, row[f"c{i}"])
        if selected.relationship is None:
            record[selected.field.name] = value
            continue
        name = selected.relationship.relationship
        parent_id = row[f"p_{name}"]
        if parent_id is None:
            record[name] = None
            continue
        parent = record.get(name) or OrderedDict(attributes=_attributes(selected.parent.name, parent_id, version))
        parent[selected.field.name] = value
        record[name] = parent
    return record


def recompile(cursor: sqlite3.Row) -> CompiledQuery:
    return compile_soql(cursor["soql"])


def _attributes(sobject_name: str, record_id: str, version: str) -> OrderedDict:
    return OrderedDict(type=sobject_name, url=f"/services/data/v{version}/sobjects/{sobject_name}/{record_id}")


def _relationships(query: CompiledQuery) -> list[str]:
    return list(dict.fromkeys(f.relationship.relationship for f in query.fields if f.relationship))


def _forget_old_cursors(conn: sqlite3.Connection) -> None:
    old = [r["cursor_id"] for r in conn.execute(
        "SELECT cursor_id FROM sf_cursor WHERE created_wall_ms < ? AND cursor_id LIKE '01g%'",
        (_wall_ms() - CURSOR_LIFETIME_MS,))]
    for cursor_id in old:
        drop_cursor(conn, cursor_id)


def _wall_ms() -> int:
    """Cursor lifetimes are real time, not the sandbox clock, so moving the clock does not kill open cursors."""
    return int(time.time() * 1000)
