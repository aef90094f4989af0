"""The code location Dagster loads: built from audiences.yaml named by $AUDIENCES_CONFIG."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from audiences_dagster.config import ConfigError
from audiences_dagster.definitions import defs as load_code_location
from audiences_dagster.defs.assets import QUARANTINE_CHECK
from audiences_dagster.defs.checks import GX_CHECK, PLAN_CAP_CHECK, RESOLVED_CHECK

DEMO_CONFIG = Path(__file__).parents[2] / "audiences_dagster" / "demo" / "audiences.yaml"
DEMO_SOURCES = ["sf_contacts", "sf_leads", "sf_accounts", "hubspot_contacts", "hubspot_companies", "event_attendees",
                "product_users", "warehouse_accounts"]
UNIFIED = [dg.AssetKey("unified_people"), dg.AssetKey("unified_companies")]


@pytest.fixture
def location(monkeypatch: pytest.MonkeyPatch) -> dg.Definitions:
    monkeypatch.setenv("AUDIENCES_CONFIG", str(DEMO_CONFIG))
    definitions = load_code_location()
    dg.Definitions.validate_loadable(definitions)
    return definitions


def test_every_source_becomes_an_import_asset_in_the_sources_group(location: dg.Definitions):
    graph = location.resolve_asset_graph()
    imports = {key for key in graph.get_all_asset_keys() if graph.get(key).group_name == "sources"}
    assert imports == {dg.AssetKey(f"import_{name}") for name in DEMO_SOURCES}
    assert all(graph.get(key).description for key in imports)


def test_unified_people_and_companies_are_described_identity_assets(location: dg.Definitions):
    graph = location.resolve_asset_graph()
    for key in UNIFIED:
        node = graph.get(key)
        assert node.group_name == "identity"
        assert node.description and "resolves pending source records" in node.description
    assert dg.AssetKey("unified_companies") in graph.get(dg.AssetKey("unified_people")).parent_keys


def test_unified_assets_wait_for_upstream_blocking_checks_under_automation(location: dg.Definitions):
    graph = location.resolve_asset_graph()
    for key in UNIFIED:
        labels = _labels(graph.get(key).automation_condition)
        assert {"eager", "all_deps_blocking_checks_passed"} <= labels


def test_quality_checks_on_unified_tables_block_and_run_under_automation(location: dg.Definitions):
    graph = location.resolve_asset_graph()
    for key in UNIFIED:
        for name in (GX_CHECK, RESOLVED_CHECK):
            check = graph.get(dg.AssetCheckKey(key, name))
            assert check.blocking, name
            assert check.automation_condition is not None, f"{name} would never run under the automation sensor"


def test_each_import_asset_carries_a_non_blocking_quarantine_check(location: dg.Definitions):
    graph = location.resolve_asset_graph()
    for name in DEMO_SOURCES:
        check = graph.get(dg.AssetCheckKey(dg.AssetKey(f"import_{name}"), QUARANTINE_CHECK))
        assert not check.blocking


def test_each_import_asset_carries_a_non_blocking_plan_cap_check(location: dg.Definitions):
    graph = location.resolve_asset_graph()
    for name in DEMO_SOURCES:
        check = graph.get(dg.AssetCheckKey(dg.AssetKey(f"import_{name}"), PLAN_CAP_CHECK))
        assert not check.blocking


def test_every_source_has_a_refresh_sensor_running_from_the_start(location: dg.Definitions):
    for name in DEMO_SOURCES:
        assert location.resolve_sensor_def(f"refresh_{name}").default_status == dg.DefaultSensorStatus.RUNNING


def test_automation_sensor_is_running_from_the_start(location: dg.Definitions):
    sensor = location.resolve_sensor_def("audiences_automation")
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_steps_run_in_process(location: dg.Definitions):
    assert location.resolve_implicit_global_asset_job_def().executor_def is dg.in_process_executor


def test_the_resource_points_at_the_config_file(location: dg.Definitions):
    assert location.resources["audiences"].config_path == str(DEMO_CONFIG.resolve())


def test_a_broken_config_fails_the_load_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    broken = tmp_path / "audiences.yaml"
    broken.write_text("sources:\n  crm: {kind: csv, entity: robots}\n")
    monkeypatch.setenv("AUDIENCES_CONFIG", str(broken))
    with pytest.raises(ConfigError, match=str(broken)):
        load_code_location()


def _labels(condition: dg.AutomationCondition) -> set[str]:
    """Every label in a condition tree (eager() and friends label themselves)."""
    found = {condition.get_label()} - {None}
    for child in condition.children:
        found |= _labels(child)
    return found
