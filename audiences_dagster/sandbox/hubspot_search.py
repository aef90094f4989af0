"""HubSpot CRM search: OR of AND filter groups, one sort rule, integer `after` offsets capped at 10,000 results,
archived records never included, and writes hidden for the configured index lag."""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass, field

from audiences_dagster.sandbox.clock import parse_datetime, to_ms
from audiences_dagster.sandbox.controls import HubSpotSettings
from audiences_dagster.sandbox.errors import HubSpotApiError
from audiences_dagster.sandbox.schema import HUBSPOT_MODIFIED_PROPERTY, HUBSPOT_PROPERTIES

MAX_PAGE = 200
MAX_RESULTS = 10_000
MAX_QUERY_CHARS = 3_000
OPERATORS = {"EQ": "=", "NEQ": "!=", "LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}


@dataclass
class SearchRequest:
    object_type: str
    where: str
    params: list
    order: str
    offset: int
    limit: int
    properties: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, object_type: str, body: dict, settings: HubSpotSettings) -> SearchRequest:
        """Validate like HubSpot (400 VALIDATION_ERROR) and compile filters to SQL over hs_object."""
        limit = _number(body.get("limit", 10), "limit")
        offset = _number(body.get("after") or 0, "after")
        if limit > MAX_PAGE:
            _invalid(f"limit must be at most {MAX_PAGE}, got {limit}")
        if offset >= MAX_RESULTS or offset + limit > MAX_RESULTS:
            _invalid(f"Paging past {MAX_RESULTS:,} results is not allowed: after={offset}, limit={limit}. "
                     "Narrow the search (e.g. by a later lastmodifieddate) and start again from after=0")
        query = body.get("query")
        if query and len(query) > MAX_QUERY_CHARS:
            _invalid(f"query may be at most {MAX_QUERY_CHARS} characters")
        params: list = []
        where = _filter_groups(object_type, body.get("filterGroups") or [], params, settings)
        if query:
            where = f"({where}) AND ({_text_query(object_type, query, params)})"
        return cls(object_type, where, params, _sort(object_type, body.get("sorts") or []), offset, limit,
                   list(body.get("properties") or []))

    def run(self, conn: sqlite3.Connection, index_lag_ms: int) -> tuple[int, list[sqlite3.Row]]:
        """Total matches and this page; the offset is bounded by 10,000, so OFFSET stays cheap."""
        visible = "object_type = ? AND archived = 0 AND indexed_wall_ms <= ?"
        params = [self.object_type, int(time.time() * 1000) - index_lag_ms, *self.params]
        source = f"FROM hs_object WHERE {visible} AND ({self.where})"
        total = conn.execute(f"SELECT COUNT(*) {source}", params).fetchone()[0]
        rows = conn.execute(f"SELECT * {source} ORDER BY {self.order} LIMIT ? OFFSET ?",
                            [*params, self.limit, self.offset]).fetchall()
        return total, rows


def _filter_groups(object_type: str, groups: list[dict], params: list, settings: HubSpotSettings) -> str:
    if len(groups) > settings.max_filter_groups:
        _invalid(f"Too many filter groups: {len(groups)} (at most {settings.max_filter_groups})")
    total = sum(len(g.get("filters") or []) for g in groups)
    if total > settings.max_filters_total:
        _invalid(f"Too many filters: {total} (at most {settings.max_filters_total} in all)")
    compiled = []
    for group in groups:
        filters = group.get("filters") or []
        if len(filters) > settings.max_filters_per_group:
            _invalid(f"Too many filters in a group: {len(filters)} (at most {settings.max_filters_per_group})")
        if filters:
            compiled.append(" AND ".join(_filter(object_type, f, params) for f in filters))
    return " OR ".join(f"({c})" for c in compiled) if compiled else "1 = 1"


def _filter(object_type: str, spec: dict, params: list) -> str:
    name, operator = spec.get("propertyName") or "", (spec.get("operator") or "EQ").upper()
    expression, kind = _expression(object_type, name)
    if operator == "HAS_PROPERTY":
        return f"({expression} IS NOT NULL AND {expression} != '')"
    if operator == "NOT_HAS_PROPERTY":
        return f"({expression} IS NULL OR {expression} = '')"
    if operator in ("IN", "NOT_IN"):
        values = [_value(kind, v) for v in spec.get("values") or []]
        params.extend(values)
        column = _comparable(expression, kind)
        sql = f"{column} {'NOT ' if operator == 'NOT_IN' else ''}IN ({', '.join('?' * len(values))})"
        return f"({sql} OR {expression} IS NULL)" if operator == "NOT_IN" else sql
    if operator == "BETWEEN":
        params.extend([_value(kind, spec.get("value")), _value(kind, spec.get("highValue"))])
        return f"{_comparable(expression, kind)} BETWEEN ? AND ?"
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        params.append(_token_pattern(str(spec.get("value") or "")))
        sql = f"(' ' || lower({expression}) || ' ') LIKE ?"
        return f"NOT {sql}" if operator == "NOT_CONTAINS_TOKEN" else sql
    if operator not in OPERATORS:
        _invalid(f"Unknown operator {operator}")
    params.append(_value(kind, spec.get("value")))
    sql = f"{_comparable(expression, kind)} {OPERATORS[operator]} ?"
    return f"({sql} OR {expression} IS NULL)" if operator == "NEQ" else sql


def _expression(object_type: str, name: str) -> tuple[str, str]:
    """System properties are indexed columns; others are read from the stored JSON."""
    known = HUBSPOT_PROPERTIES[object_type].get(name)
    if known is None:
        _invalid(f"There was a problem with the request: property {name!r} does not exist on {object_type}")
    if name == HUBSPOT_MODIFIED_PROPERTY[object_type]:
        return "updated_ms", "datetime"
    if name == "createdate":
        return "created_ms", "datetime"
    if name == "hs_object_id":
        return "id", "number"
    if name == "hs_merged_object_ids":
        return "merged_ids", "string"
    return f"json_extract(properties, '$.{name}')", known.type


def _comparable(expression: str, kind: str) -> str:
    if kind == "number":
        return f"CAST({expression} AS REAL)"
    if kind == "datetime" and not expression.endswith("_ms"):
        return expression
    if kind in ("string",):
        return f"lower({expression})"
    return expression


def _value(kind: str, value):
    """Datetimes arrive as epoch milliseconds (string) or ISO-8601; strings compare case-insensitively."""
    if value is None:
        _invalid("filter value is missing")
    text = str(value)
    if kind == "datetime":
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        try:
            return to_ms(parse_datetime(text))
        except ValueError:
            _invalid(f"{text!r} is not a valid date: use epoch milliseconds or ISO-8601")
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            _invalid(f"{text!r} is not a number")
    return text.lower() if kind == "string" else text


def _token_pattern(value: str) -> str:
    """CONTAINS_TOKEN matches whole space-separated words; * is a wildcard inside the word."""
    return f"% {value.lower().replace('*', '%')} %"


def _text_query(object_type: str, query: str, params: list) -> str:
    """`query` searches the default searchable properties by prefix."""
    searchable = [p.name for p in HUBSPOT_PROPERTIES[object_type].values() if p.searchable]
    params.extend([f"{query.lower()}%"] * len(searchable))
    return " OR ".join(f"lower(json_extract(properties, '$.{p}')) LIKE ?" for p in searchable)


def _sort(object_type: str, sorts: list) -> str:
    """One sort rule at most; without one, creation order (oldest first)."""
    if len(sorts) > 1:
        _invalid("Only one sort is allowed per search")
    if not sorts:
        return "created_ms, id"
    rule = sorts[0]
    if isinstance(rule, str):  # the client types sorts as list[str]; "-prop" means descending
        rule = {"propertyName": rule.lstrip("-"), "direction": "DESCENDING" if rule.startswith("-") else "ASCENDING"}
    expression, kind = _expression(object_type, rule.get("propertyName") or "")
    direction = "DESC" if (rule.get("direction") or "ASCENDING").upper() == "DESCENDING" else "ASC"
    return f"{_comparable(expression, kind)} {direction}, id {direction}"


def _number(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        _invalid(f"{name} must be an integer, got {value!r}")


def _invalid(message: str):
    raise HubSpotApiError(400, "VALIDATION_ERROR", message)
