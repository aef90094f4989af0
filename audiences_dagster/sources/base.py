"""What every source reader hands to the importer: raw string batches with a resumable cursor."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

from audiences_dagster.config.models import SourceConfig
from audiences_dagster.sources.mapping import required_columns


class SourceError(RuntimeError):
    """A source cannot be read as configured; raised before anything is written."""


@dataclass
class RawBatch:
    frame: pd.DataFrame          # source columns, values as strings (or missing)
    row_numbers: pd.Series       # position in the source (CSV line, result row), for quarantine
    cursor: dict                 # the sync cursor once this batch is committed
    quarantine: list[dict] = field(default_factory=list)  # rows rejected before mapping
    # unique ids the source reports deleted (e.g. a CRM's IsDeleted / archived records): marked
    # deleted in source, never removed
    deleted_ids: list[str] = field(default_factory=list)


@dataclass
class ReadPlan:
    """How this run reads the source: a full pass (deletes detectable) or an incremental."""

    full_pass: bool
    resumed: bool
    skip_reason: str | None = None
    description: str = ""


@dataclass
class PollResult:
    """The answer to a sensor's cheap question: has the source changed since the saved cursor?"""

    changed: bool
    detail: str  # what was seen, for the sensor's skip reason or run tags (never a secret)


class SourceReader(Protocol):
    """What the importer needs from a connector (csv_file, sql_warehouse, salesforce, hubspot)."""

    def check(self) -> list[str]:
        """Reach the source and verify every configured column before anything is written."""

    def plan(self, cursor: dict | None, full: bool = False, pass_open: bool = False) -> tuple[ReadPlan, dict]:
        """Decide full pass vs incremental (or skip) from the saved cursor."""

    def batches(self, cursor: dict) -> Iterator[RawBatch]:
        """Raw string batches of at most batch_size rows, each with the cursor after it."""

    def closing_cursor(self, cursor: dict) -> dict:
        """The cursor to keep once a full pass has finished."""

    def poll(self, state: dict) -> PollResult:
        """One cheap look (one API call or one indexed query) for changes since the sync state
        (`Store.sync_state(name)`: cursor, last_full_sync_at); never reads the records."""

    def close(self) -> None:
        """Release connections."""


def require_columns(name: str, source: SourceConfig, available: list[str], where: str) -> None:
    """Every configured column must be there before anything is written."""
    missing = [c for c in required_columns(source) if c not in available]
    if missing:
        raise SourceError(
            f"sources.{name}: {where} has no column(s) {', '.join(map(repr, missing))}; "
            f"it has {', '.join(map(repr, available))}"
        )


def mapping_fingerprint(source: SourceConfig) -> str:
    """Changing the mapping (a new field, say) makes the next run re-read the whole source."""
    payload = json.dumps(source.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
