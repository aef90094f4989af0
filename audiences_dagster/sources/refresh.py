"""Plan-driven refresh (PRODUCT.md §2-§3): has a source changed since its last import, what to call
the import run so one change is never imported twice, and which sources get a weekly full sync.

The cadence is the plan's (daily on growth, every 15 minutes on enterprise); each check is one
cheap look through the source's reader (`poll`), never a read of the records.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from audiences_dagster.config.models import AudiencesConfig
from audiences_dagster.sources.importer import reader_for
from audiences_dagster.store.api import Store

# CRM sources find hard deletes only by reading everything: a full sync once a week.
CRM_KINDS = frozenset({"salesforce", "hubspot"})
WEEKLY_FULL_SYNC_CRON = "0 3 * * 0"  # Sundays 03:00 UTC, outside most teams' working hours
WEEKLY_FULL_SYNC_TIMEZONE = "UTC"


@dataclass(frozen=True)
class RefreshCheck:
    """The outcome of one poll: whether to import, why, and the run key if so."""

    source: str
    changed: bool
    detail: str
    run_key: str | None = None


def check_for_changes(store: Store, config: AudiencesConfig, name: str) -> RefreshCheck:
    """Poll one source against its sync state; a change comes with the run key to import it under."""
    state = store.sync_state(name)
    reader = reader_for(name, config)
    try:
        polled = reader.poll(state)
    finally:
        reader.close()
    if not polled.changed:
        return RefreshCheck(name, False, polled.detail)
    return RefreshCheck(name, True, polled.detail, refresh_run_key(name, state["cursor"], polled.detail))


def refresh_run_key(name: str, cursor: dict | None, seen: str) -> str:
    """The same change seen from the same cursor gives the same key, so later ticks before the
    import has run launch nothing new; an import that moves the cursor, or a newer change, gives
    a new key. (A failed import is retried by hand or by the next change.)"""
    payload = json.dumps({"cursor": cursor, "seen": seen}, sort_keys=True, default=str)
    return f"{name}-{hashlib.sha256(payload.encode()).hexdigest()[:20]}"


def weekly_full_sync_sources(config: AudiencesConfig) -> list[str]:
    """CRM sources: their incrementals cannot see hard deletes, the weekly full sync does."""
    return [name for name, source in config.sources.items() if source.kind in CRM_KINDS]


def cadence(seconds: int) -> str:
    """A polling interval in words: "24 h", "15 min"."""
    return f"{seconds // 3600} h" if seconds % 3600 == 0 else f"{seconds // 60} min"
