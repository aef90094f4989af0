"""The SOQL subset the connectors send, parsed and compiled to parameterized SQLite over the sandbox tables.

Errors carry Salesforce's errorCode and its message layout (the query, a caret, Row/Column, the reason).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from audiences_dagster.sandbox.clock import parse_datetime, to_ms
from audiences_dagster.sandbox.schema import SObject, SObjectField, sobject

TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
""", re.VERBOSE)
KEYWORDS = {"select", "from", "where", "and", "or", "not", "in", "like", "order", "by", "asc", "desc", "nulls",
            "first", "last", "limit", "null", "true", "false", "count", "offset"}
STRING_TYPES = {"string", "picklist", "id", "reference"}
CUSTOM_FIELD_HINT = ("If you are attempting to use a custom field, be sure to append the '__c' after the custom "
                     "field name. Please reference your WSDL or the describe call for the appropriate names.")


class SoqlError(Exception):
    """A query Salesforce would refuse; error_code is its errorCode (MALFORMED_QUERY, INVALID_FIELD, ...)."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "name" else ""


@dataclass(frozen=True)
class SelectedField:
    """One SELECT item: a field of the queried object, or of a parent through a relationship."""

    label: str
    field: SObjectField
    relationship: SObjectField | None = None
    parent: SObject | None = None

    @property
    def sql(self) -> str:
        alias = f'"r_{self.relationship.relationship}"' if self.relationship else "base"
        return f'{alias}."{self.field.name}"'


@dataclass
class CompiledQuery:
    """A parsed SOQL query as SQL pieces the query and bulk endpoints assemble."""

    soql: str
    sobject: SObject
    fields: list[SelectedField]
    joins: list[str]
    where_sql: str = ""
    params: list = field(default_factory=list)
    order_sql: str = "base.seq"
    limit: int | None = None
    count_only: bool = False

    def matching_sql(self, include_deleted: bool) -> tuple[str, list]:
        """FROM + WHERE for the rows this query returns; deleted rows only for queryAll."""
        conditions = [] if include_deleted else ['base."IsDeleted" = 0']
        if self.where_sql:
            conditions.append(f"({self.where_sql})")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return f"FROM {self.sobject.table} AS base {' '.join(self.joins)}{where}", list(self.params)


class _Parser:
    def __init__(self, soql: str) -> None:
        self.soql = soql
        self.tokens = _tokenize(soql)
        self.i = 0
        self.joins: dict[str, str] = {}
        self.sobject: SObject | None = None

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise _malformed(self.soql, len(self.soql), "unexpected end of query")
        self.i += 1
        return token

    def expect_word(self, word: str) -> Token:
        token = self.take()
        if token.word != word:
            raise _malformed(self.soql, token.pos, f"unexpected token: '{token.text}'")
        return token

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.word in words

    def expect_punct(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise _malformed(self.soql, token.pos, f"unexpected token: '{token.text}'")


def compile_soql(soql: str) -> CompiledQuery:
    """Parse SELECT .. FROM .. [WHERE] [ORDER BY] [LIMIT] into SQL for the sandbox tables."""
    p = _Parser(soql.strip())
    p.expect_word("select")
    count_only, select_tokens = _select_list(p)
    p.expect_word("from")
    obj_token = p.take()
    p.sobject = sobject(obj_token.text) if obj_token.kind == "name" else None
    if p.sobject is None:
        raise SoqlError("INVALID_TYPE", _located(p.soql, obj_token.pos, (
            f"sObject type '{obj_token.text}' is not supported. If you are attempting to use a custom object, be "
            "sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for "
            "the appropriate names.")))
    query = CompiledQuery(p.soql, p.sobject, [_selected(p, t) for t in select_tokens], [], count_only=count_only)
    if p.at_word("where"):
        p.take()
        query.where_sql = _condition(p, query.params)
    if p.at_word("order"):
        p.take()
        p.expect_word("by")
        query.order_sql = _order_by(p) + ", base.seq"
    if p.at_word("limit"):
        p.take()
        query.limit = _integer(p)
    if p.peek() is not None:
        token = p.peek()
        raise _malformed(p.soql, token.pos, f"unexpected token: '{token.text}'")
    query.joins = list(p.joins.values())
    return query


def _select_list(p: _Parser) -> tuple[bool, list[Token]]:
    if p.at_word("count"):
        p.take()
        p.expect_punct("(")
        p.expect_punct(")")
        return True, []
    tokens = [p.take()]
    while p.peek() is not None and p.peek().text == ",":
        p.take()
        tokens.append(p.take())
    for token in tokens:
        if token.kind != "name" or token.word in KEYWORDS:
            raise _malformed(p.soql, token.pos, f"unexpected token: '{token.text}'")
    return False, tokens


def _selected(p: _Parser, token: Token) -> SelectedField:
    """Resolve Field or Relationship.Field against the schema, joining the parent table once."""
    parts = token.text.split(".")
    if parts[0].lower() == p.sobject.name.lower() and len(parts) > 1:
        parts = parts[1:]  # SOQL allows prefixing a field with the object name
    if len(parts) == 1:
        found = p.sobject.field(parts[0])
        if found is None:
            raise SoqlError("INVALID_FIELD", _located(p.soql, token.pos, (
                f"No such column '{parts[0]}' on entity '{p.sobject.name}'. {CUSTOM_FIELD_HINT}")))
        return SelectedField(found.name, found)
    if len(parts) > 2:
        raise _malformed(p.soql, token.pos, "the sandbox supports one level of child-to-parent relationship")
    relationship = p.sobject.relationship(parts[0])
    if relationship is None:
        raise SoqlError("INVALID_FIELD", _located(p.soql, token.pos, (
            f"Didn't understand relationship '{parts[0]}' in field path. If you are attempting to use a custom "
            "relationship, be sure to append the '__r' after the custom relationship name. Please reference your "
            "WSDL or the describe call for the appropriate names.")))
    parent = sobject(relationship.reference_to)
    found = parent.field(parts[1])
    if found is None:
        raise SoqlError("INVALID_FIELD", _located(p.soql, token.pos, (
            f"No such column '{parts[1]}' on entity '{parent.name}'. {CUSTOM_FIELD_HINT}")))
    alias = f'"r_{relationship.relationship}"'
    p.joins.setdefault(relationship.relationship, (
        f'LEFT JOIN {parent.table} AS {alias} ON {alias}."Id" = base."{relationship.name}"'))
    return SelectedField(f"{relationship.relationship}.{found.name}", found, relationship, parent)


def _condition(p: _Parser, params: list) -> str:
    """AND/OR chains; SOQL refuses to mix them at one level without parentheses."""
    parts = [_unary(p, params)]
    connector = None
    while p.at_word("and", "or"):
        token = p.take()
        if connector and token.word != connector:
            raise _malformed(p.soql, token.pos, f"unexpected token: '{token.text}'")
        connector = token.word
        parts.append(_unary(p, params))
    return f" {connector.upper()} ".join(parts) if connector else parts[0]


def _unary(p: _Parser, params: list) -> str:
    if p.at_word("not"):
        p.take()
        return f"NOT ({_unary(p, params)})"
    token = p.peek()
    if token is not None and token.text == "(":
        p.take()
        inner = _condition(p, params)
        p.expect_punct(")")
        return f"({inner})"
    return _comparison(p, params)


def _comparison(p: _Parser, params: list) -> str:
    field_token = p.take()
    if field_token.kind != "name" or field_token.word in KEYWORDS:
        raise _malformed(p.soql, field_token.pos, f"unexpected token: '{field_token.text}'")
    selected = _selected(p, field_token)
    column = selected.sql + (" COLLATE NOCASE" if selected.field.type in STRING_TYPES else "")
    if p.at_word("not", "in"):
        negated = p.take().word == "not"
        if negated:
            p.expect_word("in")
        values = _value_list(p, selected)
        params.extend(values)
        marks = ", ".join("?" * len(values))
        return f"{column} {'NOT IN' if negated else 'IN'} ({marks})"
    if p.at_word("like"):
        p.take()
        value_token = p.take()
        if value_token.kind != "string":
            raise _malformed(p.soql, value_token.pos, f"unexpected token: '{value_token.text}'")
        params.append(_unquote(value_token.text))
        return f"{selected.sql} LIKE ? ESCAPE '\\'"
    op_token = p.take()
    if op_token.kind != "op":
        raise _malformed(p.soql, op_token.pos, f"unexpected token: '{op_token.text}'")
    op = "!=" if op_token.text == "<>" else op_token.text
    value_token = p.take()
    if value_token.word == "null":
        if op not in ("=", "!="):
            raise _malformed(p.soql, value_token.pos, "null can only be compared with = or !=")
        return f"{selected.sql} IS {'NOT ' if op == '!=' else ''}NULL"
    params.append(_literal(p, selected, value_token))
    if op == "!=":
        return f"({column} != ? OR {selected.sql} IS NULL)"
    return f"{column} {op} ?"


def _value_list(p: _Parser, selected: SelectedField) -> list:
    p.expect_punct("(")
    values = [_literal(p, selected, p.take())]
    while p.peek() is not None and p.peek().text == ",":
        p.take()
        values.append(_literal(p, selected, p.take()))
    p.expect_punct(")")
    return values


def _literal(p: _Parser, selected: SelectedField, token: Token):
    """A literal converted to the column's storage form, refused when its type does not fit the field."""
    kind = selected.field.type
    if kind in STRING_TYPES and token.kind == "string":
        return _id18(_unquote(token.text)) if kind in ("id", "reference") else _unquote(token.text)
    if kind == "datetime" and token.kind == "datetime":
        return to_ms(parse_datetime(token.text))
    if kind == "date" and token.kind == "date":
        return token.text
    if kind == "boolean" and token.word in ("true", "false"):
        return int(token.word == "true")
    if kind in ("int", "double") and token.kind == "number":
        return float(token.text) if "." in token.text else int(token.text)
    expected = {"datetime": "dateTime", "date": "date", "boolean": "boolean", "int": "int", "double": "double"}
    wording = "should be enclosed in quotes" if kind in STRING_TYPES else "should not be enclosed in quotes"
    raise SoqlError("INVALID_FIELD", _located(p.soql, token.pos, (
        f"value of filter criterion for field '{selected.label}' must be of type "
        f"{expected.get(kind, 'string')} and {wording}")))


def _order_by(p: _Parser) -> str:
    items = [_order_item(p)]
    while p.peek() is not None and p.peek().text == ",":
        p.take()
        items.append(_order_item(p))
    return ", ".join(items)


def _order_item(p: _Parser) -> str:
    selected = _selected(p, p.take())
    sql = selected.sql + (" COLLATE NOCASE" if selected.field.type in STRING_TYPES else "")
    descending = False
    if p.at_word("asc", "desc"):
        descending = p.take().word == "desc"
    nulls = "LAST" if descending else "FIRST"
    if p.at_word("nulls"):
        p.take()
        nulls = p.take().text.upper()
        if nulls not in ("FIRST", "LAST"):
            raise _malformed(p.soql, p.tokens[p.i - 1].pos, f"unexpected token: '{nulls}'")
    return f"{sql} {'DESC' if descending else 'ASC'} NULLS {nulls}"


def _integer(p: _Parser) -> int:
    token = p.take()
    if token.kind != "number" or not token.text.isdigit():
        raise _malformed(p.soql, token.pos, f"unexpected token: '{token.text}'")
    return int(token.text)


def _tokenize(soql: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(soql):
        match = TOKEN.match(soql, pos)
        if match is None:
            raise _malformed(soql, pos, f"unexpected token: '{soql[pos]}'")
        if match.lastgroup != "ws":
            tokens.append(Token(match.lastgroup, match.group(), pos))
        pos = match.end()
    return tokens


def _unquote(text: str) -> str:
    """SOQL string literal: backslash escapes for quotes, backslash, newline, tab."""
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), body)


def _id18(value: str) -> str:
    """Salesforce accepts 15-char ids wherever 18-char ones go; the sandbox stores 18."""
    from audiences_dagster.sandbox.records import id18

    return id18(value) if len(value) == 15 else value


def _located(soql: str, pos: int, reason: str) -> str:
    """Salesforce's layout: the query line, a caret under the column, Row/Column, then the reason."""
    row = soql.count("\n", 0, pos) + 1
    line_start = soql.rfind("\n", 0, pos) + 1
    line_end = soql.find("\n", pos)
    line = soql[line_start: line_end if line_end >= 0 else len(soql)]
    column = pos - line_start + 1
    return f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{reason}"


def _malformed(soql: str, pos: int, reason: str) -> SoqlError:
    return SoqlError("MALFORMED_QUERY", _located(soql, pos, reason))
