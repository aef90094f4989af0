"""Import batches and resolutions are derived again from their inputs when lost, so on PostgreSQL
they commit without waiting for the WAL flush; every other transaction keeps waiting for it."""

from __future__ import annotations

import sqlalchemy as sa

from audiences_dagster_tests.support import Workspace, people_source

# A write of each import batch (with its cursor) and of a resolution.
WRITES = {"INSERT INTO sync_state": "import", "INSERT INTO unified_people": "resolution"}


def test_import_batches_and_resolutions_commit_without_waiting_for_the_flush(workspace: Workspace):
    workspace.write_csv("crm.csv", [{"id": "a", "email": "a@acme.com", "linkedin": "", "first_name": "A"}])
    workspace.configure({"crm": people_source("crm.csv")})
    engine = workspace.store.engine
    postgres = engine.dialect.name == "postgresql"
    seen: dict[str, str] = {}

    def setting_at_write(conn, cursor, statement, parameters, context, executemany):
        step = next((name for prefix, name in WRITES.items() if statement.startswith(prefix)), None)
        if step and postgres:
            probe = cursor.connection.cursor()
            probe.execute("SHOW synchronous_commit")
            seen[step] = probe.fetchone()[0]
            probe.close()
        elif step:
            seen[step] = "not a PostgreSQL setting"

    sa.event.listen(engine, "before_cursor_execute", setting_at_write)
    try:
        workspace.run()
    finally:
        sa.event.remove(engine, "before_cursor_execute", setting_at_write)

    relaxed = "off" if postgres else "not a PostgreSQL setting"
    assert seen == {"import": relaxed, "resolution": relaxed}
    if postgres:  # the setting ends with its transaction: the pooled connection waits again
        with engine.begin() as conn:
            assert conn.execute(sa.text("SHOW synchronous_commit")).scalar() == "on"
