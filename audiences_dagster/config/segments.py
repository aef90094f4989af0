"""Segment declarations in audiences.yaml: a name, an entity and a filter tree (PRODUCT.md §5).

The tree's shape is checked by pydantic node by node; whether a field exists and an operator fits
its type is checked against the imported fields by `check_segments`, which names the segment and
the path inside its filter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SEGMENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_ANY_OF = 10
TimeUnit = Literal["days", "weeks", "months"]

# Operators by field type family (PRODUCT.md §5). Negations are the exact complement of their
# positive operator: a record with an empty value "does not contain" anything.
TEXT_OPS = ("equals", "not_equals", "contains", "not_contains", "contains_any_of", "is_empty", "is_not_empty")
NUMBER_OPS = ("equals", "not_equals", "gt", "gte", "lt", "lte", "between", "is_empty", "is_not_empty")
DATE_OPS = ("before", "after", "within_last", "not_within_last", "is_empty", "is_not_empty")
BOOLEAN_OPS = ("is_true", "is_false", "is_empty", "is_not_empty")
TYPE_FAMILY = {"text": "text", "email": "text", "url": "text", "phone": "text",
               "number": "number", "date": "date", "boolean": "boolean"}
OPS_BY_FAMILY = {"text": TEXT_OPS, "number": NUMBER_OPS, "date": DATE_OPS, "boolean": BOOLEAN_OPS}
NO_VALUE_OPS = frozenset({"is_empty", "is_not_empty", "is_true", "is_false"})
WINDOW_OPS = frozenset({"within_last", "not_within_last"})
MEMBERSHIP_OPS = ("is", "is_not")

# Keys that say what kind of condition a node is; exactly one per node.
NODE_KINDS = ("all", "any", "field", "source", "deleted_in_source", "converted_lead", "member_of", "signal")


class FilterNode(BaseModel):
    """One node of a filter tree: an AND (`all`) or OR (`any`) group, or one condition."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    all: list[FilterNode] | None = None
    any: list[FilterNode] | None = None
    field: str | None = None
    source: str | None = None
    deleted_in_source: bool | None = None
    converted_lead: bool | None = None
    member_of: str | None = None
    signal: str | None = None  # fired within_last / not_within_last a window
    op: str | None = None
    value: Any = None
    unit: TimeUnit | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> FilterNode:
        kinds = [k for k in NODE_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            raise ValueError(f"a filter node needs exactly one of {', '.join(NODE_KINDS)} (found: {found})")
        kind = kinds[0]
        if kind in ("all", "any"):
            if not getattr(self, kind):
                raise ValueError(f"'{kind}' needs at least one condition")
            if self.op is not None or self.value is not None or self.unit is not None:
                raise ValueError(f"a group ('{kind}') takes no op, value or unit")
        elif kind == "field" and self.op is None:
            raise ValueError(f"condition on field '{self.field}' needs an 'op'")
        elif kind == "signal" and self.op is None:
            raise ValueError(f"condition on signal '{self.signal}' needs an 'op' (within_last or not_within_last)")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in NODE_KINDS if getattr(self, k) is not None)

    @property
    def children(self) -> list[FilterNode]:
        return self.all or self.any or []


class SegmentConfig(BaseModel):
    """A named, saved filter over people or companies; membership is kept live in the store."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    entity: Literal["people", "companies"]
    description: str = ""
    filter: FilterNode
    preview_fields: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _name(self) -> SegmentConfig:
        if not SEGMENT_NAME.match(self.name):
            raise ValueError(f"segment name '{self.name}' must be lower_snake_case (letters, digits, _)")
        return self

    def referenced_segments(self) -> list[str]:
        return sorted({n.member_of for _, n in walk(self.filter, "filter") if n.member_of})  # pragma: no mutate (the path is unused here)

    def referenced_signals(self) -> list[str]:
        return sorted({n.signal for _, n in walk(self.filter, "filter") if n.signal})  # pragma: no mutate (the path is unused here)


def walk(node: FilterNode, path: str) -> Iterator[tuple[str, FilterNode]]:
    """Every node with its dotted path (`filter.all[1].any[0]`), parents first."""
    yield path, node
    if node.kind in ("all", "any"):
        for i, child in enumerate(node.children):
            yield from walk(child, f"{path}.{node.kind}[{i}]")


def check_segments(segments: list[SegmentConfig], fields: Callable[[str], dict[str, str]],
                   sources: Callable[[str], list[str]], signals: dict[str, str] | None = None) -> None:
    """Cross-checks against the rest of the config; raises ValueError naming the path.

    `fields(entity)` gives field -> type, `sources(entity)` the source names of an entity,
    `signals` the declared signal names -> entity."""
    names = [s.name for s in segments]
    entities = {s.name: s.entity for s in segments}
    for i, segment in enumerate(segments):
        where = f"segments[{i}]"
        if segment.name in names[:i]:
            raise ValueError(f"{where}.name: segment '{segment.name}' is declared more than once")
        known = fields(segment.entity)
        for j, name in enumerate(segment.preview_fields):
            if name not in known:
                raise ValueError(f"{where}.preview_fields[{j}]: '{name}' is not an imported {segment.entity} field")
        for path, node in walk(segment.filter, "filter"):
            problem = _node_problem(node, segment, known, sources, entities, signals or {})
            if problem:
                raise ValueError(f"{where}.{path}{problem}")
    _check_cycles(segments)


def _node_problem(node: FilterNode, segment: SegmentConfig, known: dict[str, str],
                  sources: Callable[[str], list[str]], entities: dict[str, str],
                  signals: dict[str, str]) -> str | None:
    """'.key: message' for the first problem of one node, or None."""
    entity, kind = segment.entity, node.kind
    if kind in ("all", "any"):
        return None
    if kind == "signal":
        return _signal_problem(node, entity, signals)
    if kind == "field":
        if node.field not in known:
            return f".field: '{node.field}' is not an imported {entity} field"
        return _field_problem(node, known[node.field])
    if kind in ("deleted_in_source", "converted_lead"):
        if node.op is not None or node.value is not None or node.unit is not None:
            return f": '{kind}' takes true or false and nothing else"
        if kind == "converted_lead" and entity != "people":
            return ": 'converted_lead' only applies to people"
        return None
    op_problem = _membership_op_problem(node)
    if op_problem:
        return op_problem
    if kind == "source":
        if node.source not in sources(entity):
            choices = ", ".join(sources(entity)) or "none"
            return f".source: '{node.source}' is not a {entity} source (choose from: {choices})"
        return None
    target = node.member_of
    if target == segment.name:
        return f".member_of: segment '{target}' cannot contain itself"
    if target not in entities:
        return f".member_of: '{target}' is not a declared segment"
    if entities[target] != entity:
        return f".member_of: '{target}' is a {entities[target]} segment, not a {entity} one"
    return None


def _signal_problem(node: FilterNode, entity: str, signals: dict[str, str]) -> str | None:
    """A signal condition: a declared signal of the same entity, fired (or not) within a window."""
    if node.signal not in signals:
        declared = ", ".join(sorted(signals)) or "none"
        return f".signal: '{node.signal}' is not a declared signal (declared: {declared})"
    if signals[node.signal] != entity:
        return f".signal: '{node.signal}' is a {signals[node.signal]} signal, not a {entity} one"
    if node.op not in WINDOW_OPS:
        return f".op: '{node.op}' does not apply to a signal (use: {', '.join(sorted(WINDOW_OPS))})"
    return _window_problem(node)


def _membership_op_problem(node: FilterNode) -> str | None:
    if node.op is not None and node.op not in MEMBERSHIP_OPS:
        return f".op: '{node.op}' does not apply to '{node.kind}' (use: {', '.join(MEMBERSHIP_OPS)})"
    if node.value is not None or node.unit is not None:
        return f": '{node.kind}' takes an optional op (is / is_not) and no value"
    return None


def _field_problem(node: FilterNode, field_type: str) -> str | None:
    family = TYPE_FAMILY[field_type]
    allowed = OPS_BY_FAMILY[family]
    if node.op not in allowed:
        return f".op: '{node.op}' does not apply to {field_type} field '{node.field}' (use: {', '.join(allowed)})"
    if node.unit is not None and node.op not in WINDOW_OPS:
        return ".unit: only within_last / not_within_last take a unit"
    if node.op in NO_VALUE_OPS:
        return None if node.value is None else f".value: '{node.op}' takes no value"
    if node.op in WINDOW_OPS:
        return _window_problem(node)
    problem = _value_problem(node.op, node.value, family)
    return f".value: {problem}" if problem else None


def _window_problem(node: FilterNode) -> str | None:
    """A look-back window: a whole number of days, weeks or months."""
    if isinstance(node.value, bool) or not isinstance(node.value, int) or node.value < 1:
        return f".value: the window must be a whole number of {node.unit or 'days'} (1 or more), got {node.value!r}"
    if node.unit is None:
        return ".unit: say days, weeks or months"
    return None


def _value_problem(op: str, value: Any, family: str) -> str | None:
    if op == "contains_any_of":
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_ANY_OF:
            return f"contains_any_of takes a list of 1 to {MAX_ANY_OF} values"
        problems = [_text_problem(op, v) for v in value]
        return next((p for p in problems if p), None)
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            return "between takes a list of two numbers [low, high]"
        problems = [_scalar_problem(op, v, family) for v in value]
        if any(problems):
            return next(p for p in problems if p)
        return None if value[0] <= value[1] else f"between needs low <= high, got {value}"
    return _scalar_problem(op, value, family)


def _scalar_problem(op: str, value: Any, family: str) -> str | None:
    if family == "text":
        return _text_problem(op, value)
    if family == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"'{op}' on a number field needs a number, got {value!r}"
        return None
    if as_datetime(value) is None:
        return f"'{op}' on a date field needs a date like 2025-01-31, got {value!r}"
    return None


def _text_problem(op: str, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return f"'{op}' on a text field needs a text value, got {value!r}"
    if op in ("contains", "not_contains", "contains_any_of") and str(value) == "":
        return f"'{op}' needs a non-empty value (use is_empty / is_not_empty for blanks)"
    return None


def as_datetime(value: Any) -> datetime | None:
    """A filter's date value as a naive UTC datetime (YAML gives dates, datetimes or strings)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if value.tzinfo is None else _naive_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return as_datetime(datetime.fromisoformat(value.strip()))
        except ValueError:
            return None
    return None


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def _check_cycles(segments: list[SegmentConfig]) -> None:
    """Segment-of-segment references must form no cycle; the message shows the loop."""
    refs = {s.name: s.referenced_segments() for s in segments}
    index = {s.name: i for i, s in enumerate(segments)}
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done":  # pragma: no mutate (equivalent: without it a finished segment is walked again)
            return
        if state.get(name) == "open":
            loop = trail[trail.index(name):] + [name]
            raise ValueError(f"segments[{index[loop[0]]}].filter: member_of makes a cycle: {' -> '.join(loop)}")
        state[name] = "open"
        for target in refs.get(name, []):  # pragma: no mutate (equivalent: every name walked is declared)
            if target in refs:
                visit(target, trail + [name])
        state[name] = "done"  # pragma: no mutate (equivalent: see "done" above)

    for segment in segments:
        visit(segment.name, [])


def refresh_order(segments: list[SegmentConfig]) -> list[SegmentConfig]:
    """Segments ordered so every referenced segment comes before the segments using it."""
    by_name = {s.name: s for s in segments}
    ordered: list[SegmentConfig] = []
    seen: set[str] = set()

    def place(segment: SegmentConfig) -> None:
        if segment.name in seen:
            return
        seen.add(segment.name)
        for ref in segment.referenced_segments():
            if ref in by_name:
                place(by_name[ref])
        ordered.append(segment)

    for segment in segments:
        place(segment)
    return ordered


def signals_used(segments: list[SegmentConfig]) -> dict[str, set[str]]:
    """Segment -> the signals its filter uses, directly or through the segments it references."""
    by_name = {s.name: s for s in segments}
    found: dict[str, set[str]] = {}

    def collect(name: str, seen: frozenset[str]) -> set[str]:
        if name in found:
            return found[name]
        segment = by_name.get(name)
        # Validation has refused undeclared references and cycles; this guard only keeps it total.
        if segment is None or name in seen:  # pragma: no mutate
            return set()
        used = set(segment.referenced_signals())
        for ref in segment.referenced_segments():
            used |= collect(ref, seen | {name})  # pragma: no mutate (see the guard above)
        found[name] = used
        return used

    return {s.name: collect(s.name, frozenset()) for s in segments}
