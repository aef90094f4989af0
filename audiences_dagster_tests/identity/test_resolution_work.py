"""What a resolution leaves out when it has nothing to do there, and the statistics it leaves
behind for the next one."""

from __future__ import annotations

import sqlalchemy as sa

from audiences_dagster_tests.support import Workspace, people_source, statements_during


def person(pid: str, email: str) -> dict:
    return {"id": pid, "email": email, "linkedin": "", "first_name": pid.upper()}


def test_a_resolution_that_merges_nothing_does_not_read_the_merge_log(workspace: Workspace):
    workspace.write_csv("crm.csv", [person("a", "a@acme.com"), person("b", "a@acme.com")])
    workspace.configure({"crm": people_source("crm.csv")})
    workspace.run()  # a and b merge
    workspace.write_csv("crm.csv", [person("a", "a@acme.com"), person("b", "a@acme.com"), person("c", "c@acme.com")])
    workspace.import_all()

    ran = statements_during(workspace.store, workspace.unify_all)

    assert not [s for s in ran if "merge_members" in s or ("FROM merge_log" in s and "count(" in s)]
    assert len(workspace.rows("merge_log")) == 1 and len(workspace.unified()) == 2


def test_a_first_resolution_leaves_statistics_for_the_merge_log_and_the_history(workspace: Workspace):
    workspace.write_csv("crm.csv", [person("a", "a@acme.com"), person("b", "a@acme.com")])
    workspace.configure({"crm": people_source("crm.csv")})

    workspace.run()

    with workspace.store.engine.connect() as conn:
        if workspace.store.engine.dialect.name == "postgresql":
            analyzed = conn.execute(sa.text("SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL "
                                            "AND relname IN ('merge_log', 'field_history')")).scalars()
        else:
            analyzed = conn.execute(sa.text("SELECT DISTINCT tbl FROM main.sqlite_stat1 "
                                            "WHERE tbl IN ('merge_log', 'field_history')")).scalars()
        assert sorted(analyzed) == ["field_history", "merge_log"]
