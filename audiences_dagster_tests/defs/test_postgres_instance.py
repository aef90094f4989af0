"""Dagster's own storage (runs, event log) in PostgreSQL, as a long-lived deployment keeps it."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from audiences_dagster_tests.defs.graph import configure_crm, materialize
from audiences_dagster_tests.support import Workspace

REPO_INSTANCE_YAML = Path(__file__).parents[2] / "dagster.yaml"
DAGSTER_DB_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/{}"


def postgres_storage(database: str) -> dict:
    return {"storage": {"postgres": {"postgres_db": {
        "hostname": "127.0.0.1", "port": 5432, "username": "postgres", "password": "",
        "db_name": database, "scheme": "postgresql+psycopg2"}}}}


def stored_run(database: str, run_id: str) -> tuple[tuple, dict[str, int]]:
    """The run's row and its event types, read straight from Dagster's tables."""
    engine = sa.create_engine(DAGSTER_DB_URL.format(database))
    try:
        with engine.connect() as conn:
            run = conn.execute(sa.text("SELECT pipeline_name, status FROM runs WHERE run_id = :run"),
                               {"run": run_id}).one()
            events = dict(conn.execute(sa.text(
                "SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = :run "
                "AND dagster_event_type IS NOT NULL GROUP BY dagster_event_type"), {"run": run_id}).all())
    finally:
        engine.dispose()
    return tuple(run), events


def test_runs_and_their_events_land_in_postgresql(workspace: Workspace, dagster_database: str):
    defs = configure_crm(workspace)
    with dg.instance_for_test(overrides=postgres_storage(dagster_database)) as instance:
        result = materialize(defs, instance)
    assert result.success

    run, events = stored_run(dagster_database, result.run_id)

    assert run == ("__ASSET_JOB", "SUCCESS")
    assert events["ASSET_MATERIALIZATION"] == 5  # 2 imports, 2 unified tables, the Data Hub
    assert events["ASSET_CHECK_EVALUATION"] == 8  # 2 per unified table, 2 per import
    assert events["PIPELINE_SUCCESS"] == 1


def test_the_repository_dagster_yaml_stores_runs_in_the_database_its_env_vars_name(
        workspace: Workspace, dagster_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_INSTANCE_YAML, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for name, value in {"HOST": "127.0.0.1", "PORT": "5432", "USER": "postgres", "PASSWORD": "",
                        "DB": dagster_database}.items():
        monkeypatch.setenv(f"DAGSTER_PG_{name}", value)
    defs = configure_crm(workspace)

    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert not instance.telemetry_enabled
        result = materialize(defs, instance)
    assert result.success

    run, events = stored_run(dagster_database, result.run_id)
    assert run == ("__ASSET_JOB", "SUCCESS")
    assert events["ASSET_MATERIALIZATION"] == 5  # 2 imports, 2 unified tables, the Data Hub
