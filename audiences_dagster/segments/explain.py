"""Why a record is or is not in a segment: every node of the filter evaluated in SQL against that
one record, so the answer is the same condition the refresh uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from audiences_dagster.config.models import AudiencesConfig
from audiences_dagster.config.segments import FilterNode
from audiences_dagster.segments.filters import describe, node_condition
from audiences_dagster.segments.membership import filter_context, find_segment
from audiences_dagster.store.api import Store, utcnow


@dataclass
class ExplainedNode:
    text: str
    met: bool
    shown_value: str | None = None  # the record's value for a field condition
    children: list[ExplainedNode] = field(default_factory=list)


@dataclass
class Explanation:
    segment: str
    entity: str
    record_id: int
    found: bool
    archived: bool = False
    member: bool = False  # in segment_members as of the last refresh
    tree: ExplainedNode | None = None

    @property
    def meets(self) -> bool:
        return bool(self.found and not self.archived and self.tree and self.tree.met)

    def render(self) -> str:
        head = f"segment '{self.segment}' ({self.entity}), record {self.record_id}: "
        if not self.found:
            return head + f"no such {self.entity} record"
        verdict = "MEETS the filter" if self.meets else "does NOT meet the filter"
        if self.archived:
            verdict += " (the record is archived, so it is never a member)"
        stored = "is a member" if self.member else "is not a member"
        lines = [head + verdict + f"; as of the last refresh it {stored}"]
        lines += _render(self.tree, 0)
        return "\n".join(lines)


def _render(node: ExplainedNode, depth: int) -> list[str]:
    mark = "✓" if node.met else "✗"
    value = f"   ({node.shown_value})" if node.shown_value is not None else ""
    lines = [f"{'  ' * depth}{mark} {node.text}{value}"]
    for child in node.children:
        lines += _render(child, depth + 1)
    return lines


def explain(store: Store, config: AudiencesConfig, segment_name: str, record_id: int,
            now: datetime | None = None) -> Explanation:
    segment = find_segment(config, segment_name)
    ctx = filter_context(store, config, segment.entity, now or utcnow())
    unified, members = ctx.unified, store.tables.segment_members
    nodes = _flatten(segment.filter)
    fields = sorted({n.field for n in nodes if n.field})
    verdicts = [sa.case((node_condition(n, ctx), 1), else_=0).label(f"n{i}")  # pragma: no mutate (read as bools: 2 or NULL for 1 or 0 reads the same)
                for i, n in enumerate(nodes)]
    is_member = sa.exists().where(members.c.segment == segment.name, members.c.record_id == unified.c.id)
    query = sa.select(unified.c.archived, unified.c.sources, is_member.label("member"), *verdicts,
                      *(unified.c[f] for f in fields)).where(unified.c.id == record_id)
    with store.engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    result = Explanation(segment.name, segment.entity, record_id, found=row is not None)
    if row is None:
        return result
    result.archived, result.member = bool(row["archived"]), bool(row["member"])
    result.tree = _build(segment.filter, iter(range(len(nodes))), row)
    return result


def _flatten(node: FilterNode) -> list[FilterNode]:
    """Nodes in depth-first order (parents first), the order `_build` consumes them in."""
    return [node, *(n for child in node.children for n in _flatten(child))]


def _build(node: FilterNode, positions, row) -> ExplainedNode:
    index = next(positions)
    explained = ExplainedNode(describe(node), bool(row[f"n{index}"]), _shown(node, row))
    explained.children = [_build(child, positions, row) for child in node.children]
    return explained


def _shown(node: FilterNode, row) -> str | None:
    if node.field:
        value = row[node.field]
        return f"{node.field} = {'empty' if value in (None, '') else repr(value)}"
    if node.source:
        return f"sources = {row['sources'] or 'none'}"
    return None
