"""Reading one record back from a test workspace, by the source row it came from."""

from __future__ import annotations

import sqlalchemy as sa

from audiences_dagster_tests.support import Workspace


def unified_record(ws: Workspace, source: str, source_id: str, entity: str = "people") -> dict:
    """The unified record a source row belongs to now."""
    uid = ws.unified_id_of(source, source_id, entity)
    [record] = ws.rows(f"unified_{entity}", ws.store.tables.unified(entity).c.id == uid)
    return record


def source_record_id(ws: Workspace, source: str, source_id: str, entity: str = "people") -> int:
    """The store's id of one source row (what `<field>__from` and merge_members point at)."""
    src = ws.store.tables.source(entity)
    [row] = ws.rows(f"source_{entity}", sa.and_(src.c.source == source, src.c.source_id == source_id))
    return row["id"]
