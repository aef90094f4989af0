"""Great Expectations suites for the unified tables, evaluated in the database (SQLite or PostgreSQL).

Regexes are written in the subset shared by Python `re` (what SQLAlchemy's pysqlite dialect
registers as SQLite's REGEXP function) and PostgreSQL's `~` (ARE), anchored with \\A and \\Z
because Python's `$` also matches before a trailing newline. They avoid capturing groups
and {m,n} upper bounds, which pushed PostgreSQL onto its slow path (~10x per row). Non-ASCII
letters are allowed in emails and domains because the normalizer keeps IDNs in Unicode
(email-validator's normalized form turns xn--mnchen-3ya.de into münchen.de).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from audiences_dagster.config.models import ENTITY_KEYS, AudiencesConfig

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult
    from great_expectations.data_context import EphemeralDataContext
    from great_expectations.datasource.fluent import SQLDatasource
    from great_expectations.expectations import Expectation
    from great_expectations.expectations.row_conditions import Condition

_NON_ASCII = r"\u0080-\U0010ffff"
_ATEXT = f"a-z0-9!#$%&'*+/=?^_`{{|}}~{_NON_ASCII}-"
_LABEL_CHAR = f"[a-z0-9{_NON_ASCII}]"
_LABEL = f"{_LABEL_CHAR}(?:[a-z0-9{_NON_ASCII}-]*{_LABEL_CHAR})?"
_TLD = f"(?:[a-z{_NON_ASCII}]{{2,}}|xn--[a-z0-9-]+)"
EMAIL_REGEX = rf"\A[{_ATEXT}]+(?:\.[{_ATEXT}]+)*@(?:{_LABEL}\.)+{_TLD}\Z"
LINKEDIN_URL_REGEX = r"\Ahttps://www\.linkedin\.com/(?:in|company|school)/[^/?#\s]+\Z"
DOMAIN_REGEX = rf"\A(?!www\.)(?:{_LABEL}\.)+{_TLD}\Z"

_LABEL_KEY = "audiences_label"
_EXAMPLES = 3


@dataclass(frozen=True)
class SuiteResult:
    """Outcome of one table's suite, split into bad data (failures) and broken checks (errors)."""

    passed: bool
    evaluated: int
    successful: int
    failures: list[str]
    errors: list[str]
    summary_markdown: str


@dataclass(frozen=True)
class Thresholds:
    """What a suite tolerates, from audiences.yaml's `checks:` (the defaults block nothing normal)."""

    fill_rate: Mapping[str, float] = field(default_factory=dict)
    key_coverage: float = 0.0  # minimum share of live records holding a cross-source key
    max_invalid_share: float = 0.0  # share of held emails / domains / LinkedIn URLs not in canonical form

    @classmethod
    def of(cls, config: AudiencesConfig, entity: str) -> "Thresholds":
        checks = config.checks
        return cls(fill_rate=checks.fill_rate.get(entity, {}),
                   key_coverage=checks.identity_key_coverage.get(entity, 0.0),
                   max_invalid_share=checks.max_invalid_share)


def validate_unified_table(
    store_url: str,
    table: str,
    entity: str,
    fields: dict[str, str],
    thresholds: Thresholds = Thresholds(),
) -> SuiteResult:
    """Validate the non-archived rows of a unified table in place, so no data leaves the store."""
    from great_expectations.datasource.fluent.interfaces import TestConnectionError

    context = _ephemeral_context()
    try:
        datasource = _store_datasource(context, store_url)
    except TestConnectionError as exc:
        return _unreachable(table, exc)
    try:
        live = _live_rows(datasource, table) if thresholds.key_coverage > 0 else 0
        return _run_suite(context, datasource, table, build_expectations(entity, fields, thresholds, live))
    except (TestConnectionError, sa.exc.SQLAlchemyError) as exc:
        return _unreachable(table, exc)
    finally:
        _release(datasource)


def _live_rows(datasource: SQLDatasource, table: str) -> int:
    """The live (non-archived) records the key coverage is a share of."""
    rows = sa.table(table, sa.column("archived", sa.Boolean))  # pragma: no mutate (the type only renders literals, and there are none)
    with datasource.get_engine().connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(rows).where(rows.c.archived.is_(False))).scalar_one()


def _run_suite(
    context: EphemeralDataContext, datasource: SQLDatasource, table: str, expectations: list[Expectation]
) -> SuiteResult:
    """One whole-table batch, one suite, one validation run (GX bundles the aggregates per query)."""
    import great_expectations as gx

    batch = datasource.add_table_asset(table, table_name=table).add_batch_definition_whole_table("all")
    suite = context.suites.add(gx.ExpectationSuite(name=f"{table}_quality", expectations=expectations))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{table}_quality", data=batch, suite=suite)
    )
    return _summarize(definition.run(result_format="BASIC"))


def build_expectations(
    entity: str, fields: Mapping[str, str], thresholds: Thresholds = Thresholds(), live_rows: int = 0
) -> list[Expectation]:
    """Fresh expectation objects for one suite (GX refuses to share them between suites)."""
    if entity not in ENTITY_KEYS:
        raise ValueError(f"unknown entity {entity!r}; expected one of {sorted(ENTITY_KEYS)}")
    active = _active_rows()
    return [
        *_id_expectations(active),
        *_format_expectations(entity, fields, active, 1.0 - thresholds.max_invalid_share),
        *_identity_expectations(entity, fields, active, thresholds.key_coverage, live_rows),
        *_fill_rate_expectations(thresholds.fill_rate, active),
    ]


def _active_rows() -> Condition:
    """Archived records are out of the audience, so their data quality does not gate anything."""
    from great_expectations.expectations.row_conditions import Column

    return Column("archived") == False  # noqa: E712 - GX overloads == to build the condition


def _id_expectations(active: Condition) -> list[Expectation]:
    """Live records need a unique id; `archived` must never be NULL or the row filter would skip rows."""
    from great_expectations import expectations as gxe

    return [
        gxe.ExpectColumnValuesToNotBeNull(column="archived"),
        gxe.ExpectColumnValuesToNotBeNull(column="id", row_condition=active),
        gxe.ExpectColumnValuesToBeUnique(column="id", row_condition=active),
    ]


def _format_expectations(entity: str, fields: Mapping[str, str], active: Condition,
                         mostly: float) -> list[Expectation]:
    """Normalized identity values must have their canonical shape, or matching silently degrades
    and a write-back would send them to the CRM."""
    from great_expectations import expectations as gxe

    patterns = {name: EMAIL_REGEX for name, kind in fields.items() if kind == "email"}
    if "linkedin_url" in fields:
        patterns["linkedin_url"] = LINKEDIN_URL_REGEX
    if entity == "companies" and "domain" in fields:
        patterns["domain"] = DOMAIN_REGEX
    return [
        gxe.ExpectColumnValuesToMatchRegex(column=column, regex=regex, mostly=mostly, row_condition=active)
        for column, regex in patterns.items()
    ]


def _identity_expectations(
    entity: str, fields: Mapping[str, str], active: Condition, coverage: float, live_rows: int
) -> list[Expectation]:
    """A record without a cross-source key is a record of its own (a CRM contact with a phone and
    no email is real), but too many of them means a mapping or a source lost its keys: at most
    the share of live records that `coverage` leaves may have none."""
    from great_expectations import expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    keys = [key for key in ENTITY_KEYS[entity] if key in fields]
    if not keys or coverage <= 0:
        return []
    keyless = active
    for key in keys:
        keyless = keyless & Column(key).is_null()
    allowed = math.floor(live_rows * (1 - coverage) + 1e-9)
    label = f"records without {' / '.join(keys)} (key coverage at least {coverage:.0%} of {live_rows:,})"
    return [gxe.ExpectTableRowCountToBeBetween(max_value=allowed, row_condition=keyless,
                                                meta={_LABEL_KEY: label})]


def _fill_rate_expectations(fill_rate: Mapping[str, float], active: Condition) -> list[Expectation]:
    """Configured minimum fill rates: the share of live records holding a value."""
    from great_expectations import expectations as gxe

    return [
        gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=share, row_condition=active)
        for column, share in fill_rate.items()
    ]


def _ephemeral_context() -> EphemeralDataContext:
    """An in-memory context per call: nothing on disk, no state shared between checks."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _store_datasource(context: EphemeralDataContext, store_url: str) -> SQLDatasource:
    """The dialect-specific GX datasource; the generic one only for other backends."""
    sources = context.data_sources
    adders = {"sqlite": sources.add_sqlite, "postgresql": sources.add_postgres}
    add = adders.get(make_url(store_url).get_backend_name(), sources.add_sql)
    return add(name="store", connection_string=store_url)


def _release(datasource: SQLDatasource) -> None:
    """Close pooled connections now rather than at garbage collection (long-lived Dagster processes)."""
    datasource.get_engine().dispose()
    engine = getattr(datasource.get_execution_engine(), "engine", None)
    if engine is not None and hasattr(engine, "dispose"):
        engine.dispose()


def _summarize(validation: ExpectationSuiteValidationResult) -> SuiteResult:
    """Turn GX results into the lines a Dagster check and a human can act on."""
    results = sorted(validation.results, key=_sort_key)
    errors = [line for result in results if (line := _error_line(result))]
    failures = [_failure_line(r) for r in results if not r.success and not _raised_messages(r)]
    stats = validation.statistics
    return SuiteResult(
        passed=bool(validation.success) and not errors,
        evaluated=int(stats.get("evaluated_expectations", 0)),  # pragma: no mutate (GX always reports both counts)
        successful=int(stats.get("successful_expectations", 0)),  # pragma: no mutate
        failures=failures,
        errors=errors,
        summary_markdown=_markdown(results),
    )


def _unreachable(table: str, exc: Exception) -> SuiteResult:
    """The store or table could not be reached: the check is broken, not the data."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    message = f"{table}: {lines[0]}"  # the first line: the SQL and its parameters follow it
    return SuiteResult(False, 0, 0, [], [message], _markdown_rows([("table", table, "error", message)]))


def _sort_key(result: ExpectationValidationResult) -> tuple[str, str]:
    """GX returns errored results first; a stable order keeps summaries comparable between runs."""
    return (result.expectation_config.type, _subject(result))


def _subject(result: ExpectationValidationResult) -> str:
    """The column an expectation is about, or its label for table-level checks."""
    config = result.expectation_config
    return str(config.kwargs.get("column") or (config.meta or {}).get(_LABEL_KEY) or "")  # pragma: no mutate (every expectation here has a column or a label)


def _raised_messages(result: ExpectationValidationResult) -> list[str]:
    """GX reports a raising metric either at the top of exception_info or keyed by metric id."""
    info = result.exception_info or {}
    if "raised_exception" in info:
        return [str(info.get("exception_message"))] if info.get("raised_exception") else []
    nested = [v for v in info.values() if isinstance(v, dict)]
    return [str(v.get("exception_message")) for v in nested if v.get("raised_exception")]


def _error_line(result: ExpectationValidationResult) -> str | None:
    """One line per broken expectation, with the first line of each distinct cause."""
    messages = _raised_messages(result)
    if not messages:
        return None
    causes = "; ".join(dict.fromkeys(m.strip().splitlines()[0] for m in messages if m.strip()))
    return f"{result.expectation_config.type}({_subject(result)}): {causes or 'raised an exception'}"


def _failure_line(result: ExpectationValidationResult) -> str:
    """One line per failed expectation: how many rows, what share, a few offending values."""
    head = f"{result.expectation_config.type}({_subject(result)})"
    outcome = result.result or {}
    if "unexpected_count" not in outcome:
        return f"{head}: observed {outcome.get('observed_value')}, expected {_expected(result)}"
    examples = _examples(outcome.get("partial_unexpected_list") or [])
    return (
        f"{head}: {outcome['unexpected_count']} unexpected of "
        f"{_checked_count(outcome)} {_scope(outcome)}"
        f"({_percent(outcome.get('unexpected_percent'))}){examples}"
    )


def _scope(outcome: Mapping[str, Any]) -> str:
    """Say whether the count is of all live rows or only of those holding a value."""
    return "non-null " if "missing_count" in outcome else ""


def _checked_count(outcome: Mapping[str, Any]) -> int:
    """Rows the expectation judged: GX skips NULLs for pattern checks and its percent is of those."""
    return int(outcome.get("element_count") or 0) - int(outcome.get("missing_count") or 0)


def _expected(result: ExpectationValidationResult) -> Any:
    """The expected value of a table-level expectation, for its failure line."""
    return f"at most {result.expectation_config.kwargs.get('max_value')}"  # (the key coverage's row count)


def _examples(values: Iterable[Any]) -> str:
    """A short sample of offending values; enough to find them, not a data dump."""
    sample = list(values)[:_EXAMPLES]
    return f", e.g. {sample!r}" if sample else ""  # pragma: no mutate (a failed column check always lists some values)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}%"


def _markdown(results: Iterable[ExpectationValidationResult]) -> str:
    """A compact table for Dagster check metadata."""
    return _markdown_rows(
        (r.expectation_config.type, _subject(r), _status(r), _unexpected_cell(r)) for r in results
    )


def _markdown_rows(rows: Iterable[tuple[str, str, str, str]]) -> str:
    lines = ["| expectation | column | success | unexpected |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: str) -> str:
    """Keep a value from breaking the markdown table."""
    return value.replace("|", "\\|").replace("\n", " ")


def _status(result: ExpectationValidationResult) -> str:
    if _raised_messages(result):
        return "error"
    return "yes" if result.success else "no"


def _unexpected_cell(result: ExpectationValidationResult) -> str:
    outcome = result.result or {}
    if "unexpected_count" in outcome:
        return f"{outcome['unexpected_count']} / {_percent(outcome.get('unexpected_percent'))}"
    if "observed_value" in outcome:
        return f"{outcome['observed_value']} rows"
    return "-"
