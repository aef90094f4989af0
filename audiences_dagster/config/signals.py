"""Signal declarations in audiences.yaml (PRODUCT.md §7): job change, promotion and field-change
signals, each with a look-back for its first run and a recurrence after it.

The shape is checked by pydantic; whether a field exists, fits the kind of change and belongs to
the signal's entity is checked against the imported fields by `check_signals`, which names the
signal and the key inside it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SIGNAL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
SignalKind = Literal["job_change", "promotion", "field_change"]
LOOK_BACK_MONTHS = (3, 6, 12)
# When a signal looks for new changes after its first run (Dagster cron schedules, UTC).
RECURRENCE_CRON = {"hourly": "0 * * * *", "daily": "0 6 * * *", "weekly": "0 6 * * 1", "monthly": "0 6 1 * *"}
Change = Literal["changed", "increased", "decreased"]
NUMBER_TYPES = frozenset({"number"})


class SeniorityLevel(BaseModel):
    """One rung of the title -> seniority ladder: a title containing any keyword is at this level."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    level: str
    titles: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _keywords(self) -> SeniorityLevel:
        if any(not k.strip() for k in self.titles):
            raise ValueError(f"level '{self.level}': title keywords must not be empty")
        return self


# Lowest first; a title takes the highest level whose keyword it contains (ignoring case).
DEFAULT_SENIORITY = [
    SeniorityLevel(level="individual", titles=["associate", "analyst", "engineer", "representative",
                                               "executive", "specialist", "coordinator"]),
    SeniorityLevel(level="manager", titles=["manager", "lead", "head of"]),
    SeniorityLevel(level="director", titles=["director"]),
    SeniorityLevel(level="vp", titles=["vp", "vice president"]),
    # Keywords match anywhere in the title, so short ones that hide inside words ("cto" in
    # "director", "coo" in "coordinator") are left out; "chief" covers those titles spelled out.
    SeniorityLevel(level="c_level", titles=["chief", "ceo", "cfo", "founder"]),
]


class SignalConfig(BaseModel):
    """A named signal: which change on which records fires it, how far back the first run looks,
    and how often it looks again."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: SignalKind
    entity: Literal["people", "companies"] = "people"
    description: str = ""
    look_back_months: int = 6
    recurrence: Literal["hourly", "daily", "weekly", "monthly"] = "daily"
    # Only records that are members of this segment when the signal runs (optional).
    segment: str | None = None
    # promotion: the title field and its seniority ladder; field_change: the watched field.
    field: str | None = None
    seniority: list[SeniorityLevel] | None = None
    change: Change = "changed"
    min_percent: float | None = Field(default=None, gt=0)
    min_amount: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _shape(self) -> SignalConfig:
        if not SIGNAL_NAME.match(self.name):
            raise ValueError(f"signal name '{self.name}' must be lower_snake_case (letters, digits, _)")
        if self.look_back_months not in LOOK_BACK_MONTHS:
            raise ValueError(f"look_back_months must be one of 3, 6 or 12, got {self.look_back_months}")
        if self.kind in ("job_change", "promotion") and self.entity != "people":
            raise ValueError(f"a {self.kind} signal watches people, not {self.entity}")
        if self.kind == "field_change" and not self.field:
            raise ValueError("a field_change signal needs 'field' (the field to watch)")
        if self.kind == "job_change" and (self.field or self.seniority):
            raise ValueError("a job_change signal watches the person's company; it takes no field or seniority")
        if self.kind != "promotion" and self.seniority is not None:
            raise ValueError("'seniority' belongs to promotion signals")
        if self.kind != "field_change" and (self.change != "changed" or self.min_percent or self.min_amount):
            raise ValueError("'change', 'min_percent' and 'min_amount' belong to field_change signals")
        if self.change == "changed" and (self.min_percent or self.min_amount):
            raise ValueError("min_percent / min_amount need change: increased or decreased")
        if self.min_percent and self.min_amount:
            raise ValueError("set min_percent or min_amount, not both")
        if self.seniority is not None:
            levels = [s.level for s in self.seniority]
            if len(set(levels)) != len(levels) or len(levels) < 2:
                raise ValueError("seniority needs at least two distinct levels, lowest first")
        return self

    @property
    def watched_field(self) -> str:
        """The field_history field this signal reads."""
        if self.kind == "job_change":
            return "company_id"
        return self.field or "title"

    @property
    def ladder(self) -> list[SeniorityLevel]:
        return list(self.seniority or DEFAULT_SENIORITY)

    @property
    def cron(self) -> str:
        return RECURRENCE_CRON[self.recurrence]


def check_signals(signals: list[SignalConfig], fields: Callable[[str], dict[str, str]],
                  segments: dict[str, str], signals_used: dict[str, set[str]] | None = None) -> None:
    """Cross-checks against the rest of the config; raises ValueError naming `signals[i].key`.

    `fields(entity)` gives field -> type; `segments` maps segment name -> entity; `signals_used`
    maps a segment to the signals its filter uses, through referenced segments too."""
    names = [s.name for s in signals]
    for i, signal in enumerate(signals):
        where = f"signals[{i}]"
        if signal.name in names[:i]:
            raise ValueError(f"{where}.name: signal '{signal.name}' is declared more than once")
        known = fields(signal.entity)
        if signal.kind != "job_change" and signal.watched_field not in known:
            raise ValueError(f"{where}.field: '{signal.watched_field}' is not an imported {signal.entity} field")
        if signal.kind == "promotion" and known[signal.watched_field] != "text":
            raise ValueError(f"{where}.field: a promotion reads titles; '{signal.watched_field}' is "
                             f"{known[signal.watched_field]}, not text")
        if signal.change != "changed" and known[signal.watched_field] not in NUMBER_TYPES:
            raise ValueError(f"{where}.change: '{signal.change}' needs a number field; '{signal.watched_field}' "
                             f"is {known[signal.watched_field]} (use change: changed)")
        if signal.segment is not None:
            if signal.segment not in segments:
                raise ValueError(f"{where}.segment: '{signal.segment}' is not a declared segment")
            if segments[signal.segment] != signal.entity:
                raise ValueError(f"{where}.segment: '{signal.segment}' is a {segments[signal.segment]} "
                                 f"segment, not a {signal.entity} one")
            if signal.name in (signals_used or {}).get(signal.segment, set()):
                raise ValueError(f"{where}.segment: '{signal.segment}' filters on this signal, so the signal "
                                 f"cannot watch it (each would wait for the other)")
