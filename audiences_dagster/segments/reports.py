"""Read-only views of a segment for asset metadata and the CLI."""

from __future__ import annotations

import sqlalchemy as sa

from audiences_dagster.config.models import AudiencesConfig
from audiences_dagster.config.segments import SegmentConfig, walk
from audiences_dagster.segments.filters import describe
from audiences_dagster.store.api import Store
from audiences_dagster.store.reports import markdown_table

PREVIEW_FIELDS = 5


def preview_fields(config: AudiencesConfig, segment: SegmentConfig) -> list[str]:
    """The segment's chosen preview fields, else the fields its filter uses, then the first ones."""
    if segment.preview_fields:
        return list(segment.preview_fields)
    used = [n.field for _, n in walk(segment.filter, "filter") if n.field]
    names = list(dict.fromkeys([*used, *config.fields(segment.entity)]))
    return names[:PREVIEW_FIELDS]


def preview_markdown(store: Store, config: AudiencesConfig, segment: SegmentConfig, limit: int = 10) -> str:
    """The members who entered most recently, with the fields that explain why they are in."""
    members, unified = store.tables.segment_members, store.tables.unified(segment.entity)
    fields = preview_fields(config, segment)
    query = (sa.select(unified.c.id, members.c.entered_at, *(unified.c[f] for f in fields))
             .join(members, members.c.record_id == unified.c.id)
             .where(members.c.segment == segment.name)
             .order_by(members.c.entered_at.desc(), unified.c.id).limit(limit))
    with store.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(query)]
    return markdown_table(["id", "entered_at", *fields], rows)


def filter_outline(segment: SegmentConfig) -> str:
    """The filter tree as an indented list, for asset descriptions."""
    lines = []
    for path, node in walk(segment.filter, "filter"):
        depth = path.count(".")
        lines.append("  " * depth + "- " + describe(node))
    return "\n".join(lines)
