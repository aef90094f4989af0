"""What every source reader hands to the importer: raw string batches with a resumable cursor."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

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


@dataclass
class ReadPlan:
    """How this run reads the source: a full pass (deletes detectable) or an incremental."""

    full_pass: bool
    resumed: bool
    skip_reason: str | None = None
    description: str = ""


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
