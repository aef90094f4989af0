"""Signal assets in the code location: one per signal, on its recurrence, before the segments
that filter on it."""

from __future__ import annotations

import dagster as dg

from audiences_dagster.defs import build_definitions
from audiences_dagster.defs.segments import segment_key
from audiences_dagster.defs.signals import signal_key
from audiences_dagster_tests.defs.graph import UNIFIED_PEOPLE, materialize, metadata_of
from audiences_dagster_tests.signals.test_segment_filter import RECENTLY_PROMOTED
from audiences_dagster_tests.signals.world import PEOPLE, PROMOTION, build, change, edited
from audiences_dagster_tests.support import Workspace


def code_location(ws: Workspace) -> dg.Definitions:
    return build_definitions(ws.config, str(ws.config_path.resolve()))


def test_signal_asset_follows_its_unified_table_and_precedes_segments_using_it(workspace: Workspace):
    build(workspace, [{**PROMOTION, "recurrence": "weekly"}], segments=[RECENTLY_PROMOTED])

    graph = code_location(workspace).resolve_asset_graph()

    assert graph.get(signal_key("promoted")).parent_keys == {UNIFIED_PEOPLE}
    assert signal_key("promoted") in graph.get(segment_key("recently_promoted")).parent_keys
    condition = graph.get(signal_key("promoted")).automation_condition
    assert "0 6 * * 1" in str(condition)


def test_materialized_signal_reports_new_events_and_shows_them(workspace: Workspace):
    build(workspace, [PROMOTION], segments=[RECENTLY_PROMOTED])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))

    result = materialize(code_location(workspace), dg.DagsterInstance.ephemeral())

    assert result.success
    promoted = metadata_of(result, signal_key("promoted"))
    assert (promoted["new_events"], promoted["records_fired"], promoted["run_mode"]) == (1, 1, "look_back")
    assert "| Account Executive | Sales Manager |" in promoted["recent_events"]
    assert metadata_of(result, segment_key("recently_promoted"))["members"] == 1
