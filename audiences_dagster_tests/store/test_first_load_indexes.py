"""A first load goes in without the lookup indexes, which resolution builds once the rows are in
place; once an entity has unified records, imports keep them (and migrate restores them after a
first load that stopped before resolution)."""

from __future__ import annotations

import sqlalchemy as sa

from audiences_dagster_tests.support import Workspace, people_source

LOOKUPS = {("source_people", ("unified_id",)), ("source_people", ("company_domain",)),
           ("source_people", ("company_account_source", "company_account_id")),
           ("identity_keys", ("entity", "key_type", "key_value"))}


def lookups(workspace: Workspace) -> set[tuple[str, tuple[str, ...]]]:
    inspector = sa.inspect(workspace.store.engine)
    return {(table, tuple(ix["column_names"])) for table in ("source_people", "identity_keys")
            for ix in inspector.get_indexes(table)} & LOOKUPS


def people(*ids: str) -> list[dict]:
    return [{"id": i, "email": f"{i}@acme.com", "linkedin": "", "first_name": i.upper()} for i in ids]


def test_first_import_drops_the_lookup_indexes_and_resolution_builds_them(workspace: Workspace):
    workspace.write_csv("crm.csv", people("a", "b"))
    workspace.configure({"crm": people_source("crm.csv")})

    workspace.import_all()
    assert lookups(workspace) == set()

    workspace.unify_all()
    assert lookups(workspace) == LOOKUPS
    assert len(workspace.unified()) == 2


def test_imports_into_a_resolved_store_keep_the_lookup_indexes(workspace: Workspace):
    workspace.write_csv("crm.csv", people("a", "b"))
    workspace.configure({"crm": people_source("crm.csv")})
    workspace.run()

    workspace.write_csv("crm.csv", people("a", "b", "c"))
    workspace.import_all()

    assert lookups(workspace) == LOOKUPS


def test_migrate_restores_the_indexes_of_a_first_load_that_stopped_before_resolution(workspace: Workspace):
    workspace.write_csv("crm.csv", people("a"))
    workspace.configure({"crm": people_source("crm.csv")})
    workspace.import_all()

    workspace.store.migrate()

    assert lookups(workspace) == LOOKUPS
