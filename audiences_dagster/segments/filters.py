"""A segment's filter tree compiled to one SQLAlchemy Core condition over its unified table.

Every value from audiences.yaml becomes a bound parameter; the only identifiers in the SQL are
column names that validation has already matched against the imported fields.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles

from audiences_dagster.config.segments import TYPE_FAMILY, FilterNode, SegmentConfig, as_datetime
from audiences_dagster.store.schema import Tables


@dataclass(frozen=True)
class FilterContext:
    """What a condition is evaluated against: one entity's unified table at one moment."""

    tables: Tables
    entity: str
    field_types: dict[str, str]
    now: datetime
    # A copy of some unified rows (same columns) to evaluate instead of the whole table.
    rows: sa.Table | None = None
    # A copy of those rows' memberships (segment, record_id) to read `member of` from.
    members: sa.Table | None = None

    @property
    def unified(self) -> sa.Table:
        return self.rows if self.rows is not None else self.tables.unified(self.entity)

    @property
    def segment_members(self) -> sa.Table:
        return self.members if self.members is not None else self.tables.segment_members

    def over(self, rows: sa.Table, members: sa.Table | None = None) -> FilterContext:
        """The same context evaluated over a copy of some of the unified rows (and, optionally,
        a copy of their memberships)."""
        return replace(self, rows=rows, members=members)


def segment_condition(segment: SegmentConfig, ctx: FilterContext) -> sa.ColumnElement[bool]:
    """Membership: a live (not archived) record that meets the filter."""
    return sa.and_(~ctx.unified.c.archived, node_condition(segment.filter, ctx))


def node_condition(node: FilterNode, ctx: FilterContext) -> sa.ColumnElement[bool]:
    kind = node.kind
    if kind == "all":
        return sa.and_(*(node_condition(c, ctx) for c in node.children))
    if kind == "any":
        return sa.or_(*(node_condition(c, ctx) for c in node.children))
    if kind == "field":
        return _field_condition(node, ctx)
    if kind == "deleted_in_source":
        column = ctx.unified.c.deleted_in_source
        return column if node.deleted_in_source else ~column
    if kind == "converted_lead":
        return _converted_lead(node, ctx)
    if kind == "source":
        return _negated(node, _has_source(node.source, ctx))
    if kind == "member_of":
        return _negated(node, _is_member(node.member_of, ctx))
    if kind == "signal":
        fired = _signal_fired(node, ctx)
        return ~fired if node.op == "not_within_last" else fired
    raise ValueError(f"filter nodes of kind '{kind}' are not supported by this store")


def _negated(node: FilterNode, condition: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    return ~condition if node.op == "is_not" else condition


def _has_source(source: str, ctx: FilterContext) -> sa.ColumnElement[bool]:
    """`sources` holds the comma-separated source names of the record (names have no commas)."""
    listing = sa.literal(",") + ctx.unified.c.sources + sa.literal(",")
    return listing.contains(f",{source},", autoescape=True)


def _is_member(segment: str, ctx: FilterContext) -> sa.ColumnElement[bool]:
    members = ctx.segment_members
    return sa.exists().where(members.c.segment == segment, members.c.record_id == ctx.unified.c.id)


def _signal_fired(node: FilterNode, ctx: FilterContext) -> sa.ColumnElement[bool]:
    """The signal fired for the record (a change recorded) within the window up to now."""
    events = ctx.tables.signal_events
    return sa.exists().where(events.c.signal == node.signal, events.c.record_id == ctx.unified.c.id,
                             events.c.fired_at >= window_start(ctx.now, node.value, node.unit),
                             events.c.fired_at <= ctx.now)


def signal_candidates(segment: SegmentConfig, ctx: FilterContext, before: datetime,
                      since: datetime) -> list[sa.Select]:
    """Ids whose signal conditions can have flipped since `before`: new events for a signal the
    segment uses, and events a sliding window's start has just passed over."""
    events = ctx.tables.signal_events
    selects = []
    for node in _signal_nodes(segment.filter):
        start_then, start_now = window_start(before, node.value, node.unit), window_start(ctx.now, node.value, node.unit)
        selects.append(sa.select(events.c.record_id).where(events.c.signal == node.signal, sa.or_(
            events.c.detected_at >= since, events.c.fired_at.between(start_then, start_now),
            events.c.fired_at.between(before, ctx.now))))
    return selects


def _signal_nodes(node: FilterNode) -> list[FilterNode]:
    if node.kind in ("all", "any"):
        return [n for child in node.children for n in _signal_nodes(child)]
    return [node] if node.kind == "signal" else []


def _converted_lead(node: FilterNode, ctx: FilterContext) -> sa.ColumnElement[bool]:
    """A person holding at least one Salesforce Lead that was converted to a Contact."""
    leads = ctx.tables.source("people")
    converted = sa.exists().where(leads.c.unified_id == ctx.unified.c.id, leads.c.converted_to.is_not(None))
    return converted if node.converted_lead else ~converted


def _field_condition(node: FilterNode, ctx: FilterContext) -> sa.ColumnElement[bool]:
    column = ctx.unified.c[node.field]
    family = TYPE_FAMILY[ctx.field_types[node.field]]
    op = node.op
    if op in ("is_empty", "is_not_empty"):
        empty = sa.or_(column.is_(None), column == "") if family == "text" else column.is_(None)
        return empty if op == "is_empty" else ~empty
    if op.startswith("not_"):
        # The exact complement of the positive operator, so empty values count as "not".
        positive = _positive(op.removeprefix("not_"), column, node, family, ctx)
        return sa.or_(column.is_(None), ~positive)
    return _positive(op, column, node, family, ctx)


def _positive(op: str, column: sa.ColumnElement, node: FilterNode, family: str,
              ctx: FilterContext) -> sa.ColumnElement[bool]:
    value = node.value
    if family == "text":
        return _text(op, column, value)
    if family == "number":
        return _number(op, column, value)
    if family == "date":
        return _date(op, column, node, ctx.now)
    return column.is_(True) if op == "is_true" else column.is_(False)


def _text(op: str, column: sa.ColumnElement, value) -> sa.ColumnElement[bool]:
    """Text matches ignore case; % and _ in a value are literal characters, not wildcards."""
    if op == "equals":
        return sa.func.lower(column) == sa.func.lower(sa.literal(str(value), sa.Text))
    if op == "contains":
        return ContainsAnyOf(column, [str(value)])
    if op == "contains_any_of":
        return ContainsAnyOf(column, [str(v) for v in value])
    raise ValueError(f"text operator '{op}'")


class ContainsAnyOf(sa.sql.expression.ColumnElement):
    """The column contains at least one of the values, ignoring case; % and _ are literal.

    PostgreSQL gets `lower(column) LIKE ANY (ARRAY[...])`, which folds the column's case once per
    row (ILIKE folds the pattern too, on every row, and an OR of ILIKEs folds the column once per
    value); SQLite gets an OR of `lower(column) LIKE lower(pattern)`. Values stay bound parameters."""

    type = sa.Boolean()
    inherit_cache = False

    def __init__(self, column: sa.ColumnElement, values: list[str]):
        self.column = column
        self.values = values


def _like_pattern(value: str, escape: str) -> str:
    for special in (escape, "%", "_"):
        value = value.replace(special, escape + special)
    return f"%{value}%"


@compiles(ContainsAnyOf)
def _contains_any_of(element: ContainsAnyOf, compiler, **kw) -> str:
    lowered = sa.func.lower(element.column)
    return compiler.process(sa.or_(*(
        lowered.like(sa.func.lower(sa.literal(_like_pattern(v, "/"), sa.Text)), escape="/") for v in element.values
    )), **kw)


@compiles(ContainsAnyOf, "postgresql")
def _contains_any_of_postgres(element: ContainsAnyOf, compiler, **kw) -> str:
    # No ESCAPE clause is allowed with ANY: PostgreSQL's default escape character is the backslash.
    patterns = postgresql.array([sa.func.lower(sa.literal(_like_pattern(v, "\\"), sa.Text)) for v in element.values])
    return compiler.process(sa.func.lower(element.column).like(sa.any_(patterns)), **kw)


def _number(op: str, column: sa.ColumnElement, value) -> sa.ColumnElement[bool]:
    if op == "between":
        return column.between(float(value[0]), float(value[1]))
    compare = {"equals": column.__eq__, "gt": column.__gt__, "gte": column.__ge__,
               "lt": column.__lt__, "lte": column.__le__}[op]
    return compare(float(value))


def _date(op: str, column: sa.ColumnElement, node: FilterNode, now: datetime) -> sa.ColumnElement[bool]:
    if op == "within_last":
        return sa.and_(column >= window_start(now, node.value, node.unit), column <= now)
    moment = as_datetime(node.value)
    return column < moment if op == "before" else column > moment


def window_start(now: datetime, amount: int, unit: str | None) -> datetime:
    """The start of a look-back window of `amount` days, weeks or calendar months."""
    if unit == "weeks":
        return now - timedelta(weeks=amount)
    if unit == "months":
        return now - relativedelta(months=amount)  # clamps to the month's last day (31 March -> 28/29 February)
    return now - timedelta(days=amount)


def window_boundaries(segment: SegmentConfig, ctx: FilterContext, before: datetime) -> list[sa.ColumnElement[bool]]:
    """Records whose truth can flip between `before` and `ctx.now` without being changed: a date
    that a sliding window's start or end has just passed over."""
    conditions = []
    for node in _window_nodes(segment.filter):
        column = ctx.unified.c[node.field]
        for start, end in ((window_start(before, node.value, node.unit), window_start(ctx.now, node.value, node.unit)),
                           (before, ctx.now)):
            low, high = min(start, end), max(start, end)
            conditions.append(sa.and_(column >= low, column <= high))
    return conditions


def _window_nodes(node: FilterNode) -> list[FilterNode]:
    if node.kind in ("all", "any"):
        return [n for child in node.children for n in _window_nodes(child)]
    return [node] if node.kind == "field" and node.op in ("within_last", "not_within_last") else []


def describe(node: FilterNode) -> str:
    """A condition in words, as the explain command and asset descriptions show it."""
    kind = node.kind
    if kind in ("all", "any"):
        return "all of" if kind == "all" else "any of"
    if kind == "field":
        return f"{node.field} {_describe_op(node)}".rstrip()
    if kind in ("deleted_in_source", "converted_lead"):
        label = kind.replace("_", " ")
        return label if getattr(node, kind) else f"not {label}"
    if kind == "source":
        return f"{'not ' if node.op == 'is_not' else ''}from source '{node.source}'"
    if kind == "member_of":
        return f"{'not ' if node.op == 'is_not' else ''}member of segment '{node.member_of}'"
    if kind == "signal":
        fired = "did not fire" if node.op == "not_within_last" else "fired"
        return f"signal '{node.signal}' {fired} within the last {node.value} {node.unit}"
    return kind


def _describe_op(node: FilterNode) -> str:
    op, value = node.op, node.value
    words = op.replace("_", " ")
    if op in ("is_empty", "is_not_empty", "is_true", "is_false"):
        return words
    if op == "between":
        return f"between {value[0]} and {value[1]}"
    if op == "contains_any_of":
        return "contains any of " + ", ".join(repr(str(v)) for v in value)
    if op in ("within_last", "not_within_last"):
        return f"{words} {value} {node.unit}"
    symbols = {"equals": "=", "not_equals": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}
    shown = repr(str(value)) if isinstance(value, str) else str(value)
    return f"{symbols.get(op, words)} {shown}"
