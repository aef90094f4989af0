"""Read-only summaries of the store for asset metadata, the demo and the CLI."""

from __future__ import annotations

import sqlalchemy as sa

from audiences_dagster.store.api import Store

PREVIEW_COLUMNS = 6


def markdown_table(headers: list[str], rows: list[tuple]) -> str:
    """Rows as a markdown table for Dagster metadata (cells escaped and cut to 60 characters)."""
    def cell(value) -> str:
        text = "" if value is None else str(value)
        return text.replace("|", "\\|").replace("\n", " ")[:60]

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def preview_markdown(store: Store, entity: str, limit: int = 10) -> str:
    """The newest unified records, with their first few fields."""
    unified = store.tables.unified(entity)
    fields = list(store.fields.get(entity, {}))[:PREVIEW_COLUMNS]
    columns = [unified.c.id, unified.c.sources, *(unified.c[f] for f in fields)]
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).order_by(unified.c.updated_at.desc(), unified.c.id.desc()).limit(limit)).all()
    return markdown_table(["id", "sources", *fields], [tuple(r) for r in rows])


def entity_counts(store: Store, entity: str) -> dict[str, int]:
    unified, src = store.tables.unified(entity), store.tables.source(entity)
    with store.engine.connect() as conn:
        live = conn.execute(sa.select(sa.func.count()).select_from(unified).where(~unified.c.archived)).scalar_one()
        deleted = conn.execute(sa.select(sa.func.count()).select_from(unified).where(unified.c.deleted_in_source)).scalar_one()
        records = conn.execute(sa.select(sa.func.count()).select_from(src)).scalar_one()
    return {"unified_records": live, "deleted_in_source": deleted, "source_records": records}


def merges_by_reason(store: Store, entity: str) -> dict[str, int]:
    log = store.tables.merge_log
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(log.c.reason, sa.func.count()).where(
            log.c.entity == entity, log.c.undone_at.is_(None)).group_by(log.c.reason)).all()
    return dict(rows)


def quarantine_by_reason(store: Store, source: str | None = None) -> dict[str, dict[str, int]]:
    """source -> reason -> count, for whole rows and dropped values alike."""
    q = store.tables.quarantine
    stmt = sa.select(q.c.source, q.c.scope, q.c.reason, sa.func.count()).group_by(q.c.source, q.c.scope, q.c.reason)
    if source:
        stmt = stmt.where(q.c.source == source)
    out: dict[str, dict[str, int]] = {}
    with store.engine.connect() as conn:
        for src, scope, reason, n in conn.execute(stmt):
            out.setdefault(src, {})[f"{scope}:{reason}"] = n
    return out


def blocked_links(store: Store, entity: str) -> dict[str, int]:
    b = store.tables.blocked_links
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(b.c.key_type, sa.func.count(sa.distinct(b.c.key_value)))
                            .where(b.c.entity == entity).group_by(b.c.key_type)).all()
    return dict(rows)
