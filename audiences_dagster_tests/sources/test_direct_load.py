"""A source's first import copies its new records straight into the store on PostgreSQL, numbered
ahead; what it writes is what staging and upserting would have written, and a batch that meets a
row already stored falls back to staging."""

from __future__ import annotations

from audiences_dagster_tests.support import Workspace, people_source, statements_during


def person(pid: str, name: str | None = None) -> dict:
    return {"id": pid, "email": f"{pid}@acme.com", "linkedin": f"linkedin.com/in/{pid}", "first_name": name or pid.upper()}


def staged_batches(workspace: Workspace, run) -> int:
    """How many batches `run` staged (each creates its staging table)."""
    return sum("CREATE TEMPORARY TABLE stage_people " in statement
               for statement in statements_during(workspace.store, run))


def stored(workspace: Workspace) -> tuple[list[tuple], list[tuple]]:
    """The source rows (id, unified id and the per-import columns) and keys, by source id."""
    rows = workspace.rows("source_people")
    by_id = {r["id"]: r["source_id"] for r in rows}
    source_rows = sorted((r["source_id"], r["id"] == r["unified_id"], r["source"], r["tier"], r["object"],
                          r["imported_at"] is not None, r["run_id"] is not None, r["first_name"], r["row_hash"])
                         for r in rows)
    keys = sorted((by_id[k["record_id"]], k["entity"], k["key_type"], k["key_value"])
                  for k in workspace.rows("identity_keys", order_by="record_id"))
    return source_rows, keys


def test_a_first_import_copies_its_records_straight_in_and_a_reimport_stages_them(workspace: Workspace):
    workspace.write_csv("crm.csv", [person("a"), person("b"), person("c")])
    workspace.configure({"crm": people_source("crm.csv")}, batch_size=2)
    postgres = workspace.store.engine.dialect.name == "postgresql"

    assert staged_batches(workspace, workspace.import_all) == (0 if postgres else 2)

    source_rows, keys = stored(workspace)
    assert [r[:7] for r in source_rows] == [(pid, True, "crm", "csv", None, True, True) for pid in "abc"]
    assert keys == sorted([(pid, "people", "email", f"{pid}@acme.com") for pid in "abc"]
                          + [(pid, "people", "linkedin_url", f"https://www.linkedin.com/in/{pid}") for pid in "abc"])
    assert workspace.store.pending_count("people") == 3
    workspace.unify_all()
    assert len(workspace.unified()) == 3

    workspace.write_csv("crm.csv", [person("a"), person("b", "Bea"), person("c"), person("d")])
    assert staged_batches(workspace, workspace.import_all) == 2  # the source has rows now: upserts
    assert [r[7] for r in stored(workspace)[0]] == ["A", "Bea", "C", "D"]


def test_a_first_import_that_repeats_an_id_in_a_later_batch_upserts_it_as_staging_would(workspace: Workspace):
    rows = [person("a"), person("b"), person("c"), {**person("a", "Ann"), "email": "ann@acme.com"}, person("e")]
    workspace.write_csv("crm.csv", rows)
    workspace.configure({"crm": people_source("crm.csv")}, batch_size=2)
    postgres = workspace.store.engine.dialect.name == "postgresql"
    reports = {}

    # The second batch meets a: rolled back, then staged, as is the third.
    assert staged_batches(workspace, lambda: reports.update(workspace.import_all())) == (2 if postgres else 3)

    counts = reports["crm"].counts
    assert (counts.inserted, counts.updated, counts.unchanged) == (4, 1, 0)
    source_rows, keys = stored(workspace)
    assert [(r[0], r[1], r[7]) for r in source_rows] == [("a", True, "Ann"), ("b", True, "B"), ("c", True, "C"),
                                                       ("e", True, "E")]
    assert ("a", "people", "email", "ann@acme.com") in keys and ("a", "people", "email", "a@acme.com") not in keys
    workspace.unify_all()
    assert sorted(r["first_name"] for r in workspace.unified()) == ["Ann", "B", "C", "E"]
