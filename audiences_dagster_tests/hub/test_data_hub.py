"""The Data Hub: record, field and signal counts, fill rates, sources and types, and the signals
fired in the last 30 days, read from the store (also as `audiences hub` and asset metadata)."""

from __future__ import annotations

import contextlib
import io
from datetime import timedelta

import dagster as dg
import pytest

from audiences_dagster.cli import main
from audiences_dagster.defs import build_definitions
from audiences_dagster.defs.hub import DATA_HUB
from audiences_dagster.defs.signals import signal_key
from audiences_dagster.hub.report import build_data_hub
from audiences_dagster.store.api import utcnow
from audiences_dagster_tests.defs.graph import materialize, metadata_of
from audiences_dagster_tests.signals.world import (
    PEOPLE, PROMOTION, age_history, build, change, detect, edited,
)
from audiences_dagster_tests.support import Workspace


def promoted_world(ws: Workspace) -> None:
    build(ws, [PROMOTION])
    change(ws, edited(edited(PEOPLE, "p1", title="Sales Manager"), "p3", title=""))
    detect(ws)


def test_hub_counts_records_per_entity(workspace: Workspace):
    promoted_world(workspace)

    hub = build_data_hub(workspace.store, workspace.config)

    assert [(r.entity, r.live, r.archived) for r in hub.records] == [("people", 3, 0), ("companies", 2, 0)]
    assert hub.totals["records"] == 5 and hub.totals["fields"] == 6


def test_hub_gives_each_field_its_fill_rate_type_and_sources(workspace: Workspace):
    promoted_world(workspace)

    fields = {(f.entity, f.field): f for f in build_data_hub(workspace.store, workspace.config).fields}

    title = fields[("people", "title")]
    assert (title.type, title.filled, title.fill_rate, title.sources) == ("text", 2, pytest.approx(2 / 3), ["crm"])
    assert (fields[("companies", "headcount")].type, fields[("companies", "headcount")].fill_rate) == ("number", 1.0)


def test_hub_counts_signals_fired_in_the_last_30_days_only(workspace: Workspace):
    build(workspace, [PROMOTION])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    age_history(workspace, days=40)
    change(workspace, edited(edited(PEOPLE, "p1", title="Sales Manager"), "p2", title="Sales Director"))
    detect(workspace)

    [promoted] = build_data_hub(workspace.store, workspace.config, utcnow()).signals

    assert (promoted.events, promoted.fired_recently, promoted.recent_records) == (2, 1, 1)
    assert utcnow() - promoted.last_fired_at < timedelta(minutes=5)


def test_hub_asset_metadata_holds_the_markdown_tables(workspace: Workspace):
    promoted_world(workspace)
    defs = build_definitions(workspace.config, str(workspace.config_path.resolve()))

    result = materialize(defs, dg.DagsterInstance.ephemeral())

    assert result.success
    hub = metadata_of(result, DATA_HUB)
    assert hub["fields_table"].startswith("| entity | field | type | filled | fill rate | sources |")
    assert "| people | title | text | 2 | 66.7% | crm |" in hub["fields_table"]
    assert "| promoted | people | promotion | 1 | 1 | 1 |" in hub["signals_table"]
    assert metadata_of(result, signal_key("promoted"))["run_mode"] in ("look_back", "recurring")


def test_hub_command_prints_the_hub(workspace: Workspace, monkeypatch: pytest.MonkeyPatch):
    promoted_world(workspace)
    monkeypatch.setenv("AUDIENCES_CONFIG", str(workspace.config_path))
    out = io.StringIO()

    with contextlib.redirect_stdout(out):
        code = main(["--config", str(workspace.config_path), "hub"])

    assert code == 0
    text = out.getvalue()
    assert text.startswith("Data Hub, ") and "records 5, fields 6, signals 1" in text
    assert "| promoted | people | promotion | 1 | 1 |" in text
