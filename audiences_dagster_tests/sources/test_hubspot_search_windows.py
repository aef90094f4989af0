"""Incremental HubSpot reads past the search API's 10,000-result cap: windows restart from the
last timestamp seen, and a single millisecond holding more than the cap is read in id order."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from audiences_dagster.config.models import AudiencesConfig
from audiences_dagster.sandbox import Sandbox, running_sandbox
from audiences_dagster.sources.hubspot import SEARCH_RESULT_CAP, HubSpotSource
from audiences_dagster_tests.sources.hubspot_world import TOKEN_ENV, hubspot_sources

PAST_THE_CAP = SEARCH_RESULT_CAP + 150


@pytest.fixture
def crowded_crm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A sandbox with just enough HubSpot contacts to overflow one search."""
    seed = {"contacts": 1, "leads": 0, "hubspot_contacts": PAST_THE_CAP, "companies": 20}
    with running_sandbox(tmp_path / "crm.db", seed=seed) as sandbox:
        sandbox.hubspot_settings.burst_limit = 100_000
        sandbox.hubspot_settings.search_per_second = 100_000
        monkeypatch.setenv(TOKEN_ENV, sandbox.hubspot_access_token)
        yield sandbox


def _reader(sandbox: Sandbox, tmp_path: Path) -> HubSpotSource:
    config = AudiencesConfig.model_validate({
        "store": {"url": f"sqlite:///{tmp_path / 'unused.db'}"}, "batch_size": 4_000,
        "connections": {"hubspot": {"kind": "hubspot", "base_url": sandbox.hubspot_url, "access_token_env": TOKEN_ENV}},
        "sources": hubspot_sources(company_link=False)})
    return HubSpotSource("hubspot_contacts", config)


def _read_everything_modified_since(reader: HubSpotSource, since_ms: int) -> Counter:
    cursor = {"mode": "incremental", "mapping": "m", "since_ms": since_ms, "archived_since_ms": None}
    return Counter(i for batch in reader.batches(cursor) for i in batch.frame["id"])


def test_search_past_the_result_cap_restarts_the_window(crowded_crm: Sandbox, tmp_path: Path) -> None:
    reader = _reader(crowded_crm, tmp_path)
    seen = _read_everything_modified_since(reader, 0)
    assert len(seen) == PAST_THE_CAP and max(seen.values()) == 1


def test_more_than_the_cap_modified_in_one_millisecond_are_read_by_id(crowded_crm: Sandbox, tmp_path: Path) -> None:
    moment = datetime(2030, 1, 1, tzinfo=timezone.utc)
    crowded_crm.set_clock(moment, frozen=True)
    with crowded_crm.db.write() as conn:
        conn.execute("UPDATE hs_object SET updated_ms = ? WHERE object_type = 'contacts'",
                     (int(moment.timestamp() * 1000),))
    seen = _read_everything_modified_since(_reader(crowded_crm, tmp_path), int(moment.timestamp() * 1000) - 1)
    assert len(seen) == PAST_THE_CAP and max(seen.values()) == 1
