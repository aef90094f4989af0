"""A killed import keeps only whole committed batches and the next run resumes from its cursor."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import sqlalchemy as sa

from audiences_dagster.store.api import Store
from audiences_dagster_tests.support import Workspace

ROWS = 20_000
BATCH = 1_000
IMPORT_IN_CHILD = (
    "import sys\n"
    "from audiences_dagster.config import load_config\n"
    "from audiences_dagster.sources.importer import import_source\n"
    "from audiences_dagster.store.api import Store\n"
    "config = load_config(sys.argv[1])\n"
    "import_source(Store.from_config(config), config, 'wh', 'killed-run')\n"
)


def build_warehouse(url: str) -> None:
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    contacts = sa.Table("contacts", metadata, sa.Column("id", sa.Integer, primary_key=True),
                        sa.Column("email", sa.String(320)), sa.Column("name", sa.String(200)))
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(contacts), [{"id": i, "email": f"person{i}@acme.com", "name": f"Person {i}"}
                                           for i in range(1, ROWS + 1)])
    engine.dispose()


def kill_after_first_commit(workspace: Workspace) -> None:
    child = subprocess.Popen([sys.executable, "-c", IMPORT_IN_CHILD, str(workspace.config_path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while (workspace.store.sync_state("wh")["cursor"] or {}).get("after") is None:
        assert child.poll() is None, child.communicate()[1].decode()
        assert time.monotonic() < deadline, "no batch committed within 60 s"
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.communicate()
    wait_for_orphaned_statements(workspace.store)


def wait_for_orphaned_statements(store: Store) -> None:
    """PostgreSQL finishes (and rolls back) a killed client's statement on its own time."""
    if store.engine.dialect.name != "postgresql":
        return
    busy = sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                   "AND pid <> pg_backend_pid() AND state <> 'idle'")
    with store.engine.connect() as conn:
        while conn.execute(busy).scalar_one():
            conn.rollback()  # pg_stat_activity is a snapshot taken once per transaction
            time.sleep(0.05)


def counts(workspace: Workspace) -> tuple[int, int, int]:
    """(source records, distinct source ids, identity keys of existing records)"""
    src, keys = workspace.store.tables.source("people"), workspace.store.tables.identity_keys
    with workspace.store.engine.connect() as conn:
        records = conn.execute(sa.select(sa.func.count(), sa.func.count(sa.distinct(src.c.source_id)))).one()
        linked = conn.execute(
            sa.select(sa.func.count()).select_from(keys.join(src, src.c.id == keys.c.record_id))).scalar_one()
    return records[0], records[1], linked


def test_killed_import_keeps_whole_batches_and_resumes_from_the_cursor(workspace: Workspace) -> None:
    warehouse_url = f"sqlite:///{workspace.root / 'warehouse.db'}"
    build_warehouse(warehouse_url)
    workspace.configure({"wh": {"kind": "sql", "entity": "people", "url": warehouse_url, "unique_id": "id",
                                "query": "SELECT id, email, name FROM contacts",
                                "fields": {"email": {"column": "email", "type": "email"}, "name": {"column": "name"}}}},
                        batch_size=BATCH)
    kill_after_first_commit(workspace)

    committed = workspace.store.sync_state("wh")["cursor"]["after"]
    assert committed % BATCH == 0 and committed < ROWS
    assert counts(workspace) == (committed, committed, committed)
    assert workspace.store.count(workspace.store.tables.identity_keys) == committed

    report = workspace.import_all()["wh"]
    assert report.resumed and report.plan == f"resuming the full pass after id {committed!r}"
    remaining = ROWS - committed
    assert (report.rows_read, report.counts.inserted, report.deleted_in_source) == (remaining, remaining, 0)
    assert counts(workspace) == (ROWS, ROWS, ROWS)
