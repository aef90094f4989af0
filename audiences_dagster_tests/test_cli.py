"""The `audiences` command, run in-process on the bundled demo (SQLite store, SQLite Dagster instance, the local
CRM sandbox read through the real Salesforce and HubSpot connectors)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from audiences_dagster.cli import main
from audiences_dagster.config import load_config
from audiences_dagster.sandbox.server import SANDBOX_CLIENT_SECRET, SANDBOX_HUBSPOT_TOKEN
from audiences_dagster.store.api import Store

DEMO_SOURCES = {"sf_contacts": "people", "sf_leads": "people", "sf_accounts": "companies",
                "hubspot_contacts": "people", "hubspot_companies": "companies",
                "event_attendees": "people", "product_users": "people", "warehouse_accounts": "companies"}
CRM_SOURCES = {"sf_contacts", "sf_leads", "sf_accounts", "hubspot_contacts", "hubspot_companies"}
CRM_ENVIRONMENT = ("SALESFORCE_TOKEN_URL", "SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET",
                   "SALESFORCE_CA_BUNDLE", "HUBSPOT_BASE_URL", "HUBSPOT_ACCESS_TOKEN")


@dataclass
class Demo:
    home: Path
    exit_code: int
    stdout: str
    stderr: str

    @property
    def config(self) -> Path:
        return self.home / "demo" / "audiences.yaml"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`audiences demo` once for the module (it takes seconds); the env vars it sets are undone after."""
    home = tmp_path_factory.mktemp("audiences_home")
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DAGSTER_HOME", str(home / "unused"))
        env.setenv("AUDIENCES_CONFIG", str(home / "unused.yaml"))
        for name in CRM_ENVIRONMENT:
            env.delenv(name, raising=False)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["demo", "--home", str(home), "--people", "300", "--companies", "80"])
    yield Demo(home, code, out.getvalue(), err.getvalue())


@pytest.fixture
def demo_copy(demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the demo workspace, selected through $AUDIENCES_CONFIG, for commands that write."""
    shutil.copytree(demo.home / "demo", tmp_path / "demo")
    config = tmp_path / "demo" / "audiences.yaml"
    monkeypatch.setenv("AUDIENCES_CONFIG", str(config))
    return config


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def merge_ids(config: Path, entity: str) -> list[tuple[int, int, int]]:
    """(merge id, survivor, absorbed) of live merges, oldest first."""
    store = Store.from_config(load_config(config))
    log = store.tables.merge_log
    try:
        with store.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(
                sa.select(log.c.id, log.c.survivor_id, log.c.absorbed_id)
                .where(log.c.entity == entity, log.c.undone_at.is_(None)).order_by(log.c.id))]
    finally:
        store.dispose()


def test_demo_succeeds_quietly(demo: Demo):
    assert demo.exit_code == 0, demo.stderr
    assert "DEBUG" not in demo.stderr and "STEP_START" not in demo.stderr + demo.stdout


def test_demo_prints_rows_per_source_that_add_up(demo: Demo):
    section = demo.stdout.split("Rows per source")[1].split("Unified records")[0]
    for source, entity in DEMO_SOURCES.items():
        line = next(line for line in section.splitlines() if line.strip().startswith(source + " "))
        name, kind, read, kept, quarantined, held = line.split()[:6]
        assert kind == entity and int(read.replace(",", "")) > 0
        assert int(read.replace(",", "")) == sum(int(n.replace(",", "")) for n in (kept, quarantined, held))


def test_demo_keeps_every_well_formed_row(demo: Demo):
    assert "no_identity_key" not in demo.stdout
    store = Store.from_config(load_config(demo.config))
    try:
        quarantine = store.tables.quarantine
        with store.engine.connect() as conn:
            reasons = set(conn.execute(sa.select(quarantine.c.reason).where(quarantine.c.scope == "row")).scalars())
    finally:
        store.dispose()
    assert reasons <= {"missing_unique_id", "duplicate_unique_id", "unparsable_date", "unparsable_number",
                       "value_too_long", "undecodable_bytes"}


def test_demo_prints_unified_counts_and_merges_by_reason(demo: Demo):
    section = demo.stdout.split("Unified records")[1].split("Quarantine")[0]
    people = next(line for line in section.splitlines() if line.strip().startswith("people"))
    assert " source records; merges by reason: " in people
    assert "email" in people and "lead_conversion" in people and "crm_merge" in people
    companies = next(line for line in section.splitlines() if line.strip().startswith("companies"))
    assert "domain" in companies


def test_demo_prints_quarantine_by_reason(demo: Demo):
    section = demo.stdout.split("Quarantine")[1].split("Checks")[0]
    assert "row:missing_unique_id" in section and "value:placeholder_email" in section


def test_demo_prints_every_check_result(demo: Demo):
    section = demo.stdout.split("\nChecks\n")[1]
    for entity in ("people", "companies"):
        for check in ("great_expectations_suite", "all_source_records_resolved"):
            line = next(line for line in section.splitlines() if f"unified_{entity}:{check}" in line)
            assert line.split()[-1] == "passed"
    for source in CRM_SOURCES:  # a CRM holds no malformed rows: its imports quarantine nothing
        assert next(line for line in section.splitlines() if f"import_{source}:quarantine_within_limit" in line
                    ).split()[-1] == "passed"
    line = next(line for line in section.splitlines() if "import_product_users:quarantine_within_limit" in line)
    assert line.endswith("FAILED (WARN)")  # the demo plants 10 malformed rows in 985 there
    assert "SUCCESS" in section


def test_demo_reads_salesforce_and_hubspot_from_the_local_sandbox(demo: Demo):
    config = load_config(demo.config)
    assert {name for name, s in config.sources.items() if s.kind in ("salesforce", "hubspot")} == CRM_SOURCES
    assert "CRM sandbox (local, 127.0.0.1) seeded: Salesforce " in demo.stdout
    assert (demo.home / "demo" / "crm_sandbox.db").exists()


def test_demo_merges_crm_records_with_file_and_warehouse_records(demo: Demo):
    store = Store.from_config(load_config(demo.config))
    source = store.tables.source("people")
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(sa.select(source.c.unified_id, source.c.source)).all()
    finally:
        store.dispose()
    sources_per_person: dict[int, set[str]] = {}
    for unified_id, name in rows:
        sources_per_person.setdefault(unified_id, set()).add(name)
    for crm in ("sf_contacts", "sf_leads", "hubspot_contacts"):
        assert any(crm in found and found & {"event_attendees", "product_users"}
                   for found in sources_per_person.values()), crm
    assert any({"sf_contacts", "hubspot_contacts"} <= found for found in sources_per_person.values())


def test_demo_writes_no_crm_secret_into_the_dagster_event_log(demo: Demo):
    with dg.DagsterInstance.from_config(str(demo.home / "dagster")) as instance:
        run = instance.get_runs()[0]
        logged = "\n".join(dg.serialize_value(entry) for entry in instance.all_logs(run.run_id))
    assert "ASSET_MATERIALIZATION" in logged and "import_hubspot_contacts" in logged
    for secret in (SANDBOX_CLIENT_SECRET, SANDBOX_HUBSPOT_TOKEN, "00D8d000000SBOX!"):  # the last: access tokens
        assert secret not in logged and secret not in demo.stdout + demo.stderr


def test_demo_leaves_no_crm_credentials_in_the_environment(demo: Demo):
    assert demo.exit_code == 0
    assert not [name for name in CRM_ENVIRONMENT if name in os.environ]


def test_demo_keeps_its_dagster_run_in_the_home(demo: Demo):
    with dg.DagsterInstance.from_config(str(demo.home / "dagster")) as instance:
        runs = instance.get_runs()
    assert [(r.status, r.tags.get("audiences/trigger")) for r in runs] == [(dg.DagsterRunStatus.SUCCESS, "cli")]
    assert runs[0].run_id in demo.stdout


def test_history_prints_a_merged_records_events(demo_copy: Path, capsys: pytest.CaptureFixture):
    merge_id, _, absorbed = merge_ids(demo_copy, "people")[0]

    code, out, _ = run(capsys, "history", "people", str(absorbed))

    assert code == 0
    assert out.startswith(f"record {absorbed} was merged into ")
    assert f"merge #{merge_id}" in out and "created" in out


def test_merges_lists_the_merge_log_newest_first(demo_copy: Path, capsys: pytest.CaptureFixture):
    code, out, _ = run(capsys, "merges", "people", "--limit", "5")

    assert code == 0
    ids = [int(line.split()[0].lstrip("#")) for line in out.splitlines()]
    assert len(ids) == 5 and ids == sorted(ids, reverse=True)


def test_split_restores_the_absorbed_record_once(demo_copy: Path, capsys: pytest.CaptureFixture):
    merge_id, survivor, absorbed = merge_ids(demo_copy, "people")[-1]

    code, out, _ = run(capsys, "split", str(merge_id))

    assert code == 0
    assert out.startswith(f"merge #{merge_id} undone: record {absorbed} restored from {survivor}")
    code, out, _ = run(capsys, "history", "people", str(absorbed))
    assert "restored by split" in out and "was merged into" not in out
    code, out, err = run(capsys, "split", str(merge_id))
    assert code == 2
    assert err.startswith(f"MergeError: merge {merge_id} was already undone at ")


def test_a_bad_config_exits_2_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture):
    bad = tmp_path / "audiences.yaml"
    bad.write_text("sources: [not, a, mapping\n")
    monkeypatch.setenv("AUDIENCES_CONFIG", str(tmp_path / "other.yaml"))

    code, _, err = run(capsys, "--config", str(bad), "merges", "people")

    assert code == 2
    assert err.startswith(f"ConfigError: {bad}")
