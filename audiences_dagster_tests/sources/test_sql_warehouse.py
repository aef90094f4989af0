"""SQL warehouse import: watermark increments, full passes marking deletes, failures before writes."""

from __future__ import annotations

import pytest

from audiences_dagster.sources.base import SourceError
from audiences_dagster.sources.importer import ImportReport
from audiences_dagster_tests.sources.interruptions import interrupt_second_batch
from audiences_dagster_tests.sources.warehouse import Warehouse, contact
from audiences_dagster_tests.support import Workspace

SECRET_URL = "postgresql+psycopg2://postgres:s3cret@127.0.0.1:1/warehouse"


def run(workspace: Workspace, full: bool = False) -> ImportReport:
    return workspace.import_all(full=full)["wh"]


def records(workspace: Workspace) -> dict[str, bool]:
    """source id -> deleted in source"""
    return {r["source_id"]: r["deleted_in_source"] for r in workspace.rows("source_people")}


def assert_nothing_written(workspace: Workspace) -> None:
    assert workspace.rows("source_people") == []
    assert workspace.rows("sync_state", order_by="source") == []


def test_second_run_reads_only_rows_updated_since_the_first(workspace: Workspace, warehouse: Warehouse) -> None:
    warehouse.put(contact("c1", 0), contact("c2", 1), contact("c3", 2))
    workspace.configure({"wh": warehouse.source()})
    assert run(workspace).rows_read == 3
    warehouse.put(contact("c2", 5, name="Renamed"), contact("c4", 6))
    report = run(workspace)
    assert (report.rows_read, report.counts.inserted, report.counts.updated) == (2, 1, 1)
    assert {r["source_id"]: r["name"] for r in workspace.rows("source_people")}["c2"] == "Renamed"


def test_unchanged_timestamped_source_reads_nothing(workspace: Workspace, warehouse: Warehouse) -> None:
    warehouse.put(*(contact(f"c{i}", 0) for i in range(5)))
    workspace.configure({"wh": warehouse.source()}, batch_size=2)
    run(workspace)
    assert run(workspace).rows_read == 0


def test_new_row_at_the_watermark_timestamp_is_read_next_run(workspace: Workspace, warehouse: Warehouse) -> None:
    warehouse.put(*(contact(f"c{i}", 0) for i in range(5)))
    workspace.configure({"wh": warehouse.source()}, batch_size=2)
    run(workspace)
    warehouse.put(contact("c9", 0))
    report = run(workspace)
    assert (report.rows_read, report.counts.inserted) == (1, 1)


def test_interrupted_run_resumes_inside_a_run_of_equal_timestamps(
        workspace: Workspace, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse.put(*(contact(f"c{i}", 0) for i in range(5)))
    workspace.configure({"wh": warehouse.source()}, batch_size=2)
    interrupt_second_batch(workspace, monkeypatch)
    assert set(records(workspace)) == {"c0", "c1"}
    report = run(workspace)
    assert (report.rows_read, report.counts.inserted) == (3, 3)
    assert set(records(workspace)) == {f"c{i}" for i in range(5)}


def test_source_without_updated_at_is_read_in_full_every_run(workspace: Workspace, warehouse: Warehouse) -> None:
    warehouse.put(contact("c1"), contact("c2"), contact("c3"))
    workspace.configure({"wh": warehouse.source(timestamped=False)})
    run(workspace)
    report = run(workspace)
    assert report.plan == "full pass over the query"
    assert (report.rows_read, report.counts.unchanged) == (3, 3)


def test_row_gone_from_a_full_pass_is_marked_deleted_in_source_not_removed(
        workspace: Workspace, warehouse: Warehouse) -> None:
    warehouse.put(contact("c1"), contact("c2"), contact("c3"))
    workspace.configure({"wh": warehouse.source(timestamped=False)})
    run(workspace)
    warehouse.remove("c2")
    report = run(workspace)
    assert report.deleted_in_source == 1
    assert records(workspace) == {"c1": False, "c2": True, "c3": False}


def test_row_that_comes_back_is_no_longer_deleted_in_source(workspace: Workspace, warehouse: Warehouse) -> None:
    warehouse.put(contact("c1"), contact("c2"))
    workspace.configure({"wh": warehouse.source(timestamped=False)})
    run(workspace)
    warehouse.remove("c2")
    run(workspace)
    warehouse.put(contact("c2"))
    report = run(workspace)
    assert (report.deleted_in_source, report.counts.updated) == (0, 1)
    assert records(workspace) == {"c1": False, "c2": False}


def test_full_run_forces_a_full_pass_on_a_timestamped_source(workspace: Workspace, warehouse: Warehouse) -> None:
    warehouse.put(contact("c1", 0), contact("c2", 1), contact("c3", 2))
    workspace.configure({"wh": warehouse.source()})
    run(workspace)
    warehouse.remove("c2")
    assert run(workspace).deleted_in_source == 0
    report = run(workspace, full=True)
    assert (report.plan, report.rows_read, report.deleted_in_source) == ("full pass over the query", 2, 1)
    assert records(workspace) == {"c1": False, "c2": True, "c3": False}


def test_incremental_runs_continue_after_a_forced_full_pass(workspace: Workspace, warehouse: Warehouse) -> None:
    warehouse.put(contact("c1", 0), contact("c2", 1))
    workspace.configure({"wh": warehouse.source()})
    run(workspace, full=True)
    warehouse.put(contact("c3", 2))
    report = run(workspace)
    assert (report.rows_read, report.counts.inserted) == (1, 1)


def test_unreachable_warehouse_fails_before_any_write_without_the_password(workspace: Workspace) -> None:
    workspace.configure({"wh": {"kind": "sql", "entity": "people", "url": SECRET_URL, "unique_id": "id",
                                "query": "SELECT id, email FROM contacts",
                                "fields": {"email": {"column": "email", "type": "email"}}}})
    hidden = r"sources.wh: cannot reach the warehouse at postgresql\+psycopg2://postgres:\*\*\*@"
    with pytest.raises(SourceError, match=hidden) as caught:
        run(workspace)
    assert "s3cret" not in str(caught.value)
    assert_nothing_written(workspace)


def test_query_missing_a_configured_column_fails_before_any_write(workspace: Workspace, warehouse: Warehouse) -> None:
    warehouse.put(contact("c1"))
    workspace.configure({"wh": warehouse.source(query=f"SELECT id, email, updated_at FROM {warehouse.contacts.name}")})
    with pytest.raises(SourceError, match="sources.wh: the query has no column\\(s\\) 'name'"):
        run(workspace)
    assert_nothing_written(workspace)


def test_warehouse_url_is_read_from_the_named_environment_variable(
        workspace: Workspace, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse.put(contact("c1"))
    monkeypatch.setenv("AUDIENCES_WAREHOUSE_URL", warehouse.url)
    workspace.configure({"wh": warehouse.source(url=None, url_env="AUDIENCES_WAREHOUSE_URL")})
    assert run(workspace).counts.inserted == 1


def test_unset_warehouse_url_variable_is_named_before_any_write(
        workspace: Workspace, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDIENCES_WAREHOUSE_URL", raising=False)
    workspace.configure({"wh": warehouse.source(url=None, url_env="AUDIENCES_WAREHOUSE_URL")})
    with pytest.raises(SourceError, match="sources.wh: environment variable AUDIENCES_WAREHOUSE_URL is not set"):
        run(workspace)
    assert_nothing_written(workspace)


def test_rows_without_updated_at_do_not_stop_later_increments(workspace: Workspace, warehouse: Warehouse) -> None:
    warehouse.put(contact("c1", 0), {**contact("c2"), "updated_at": None})
    workspace.configure({"wh": warehouse.source()})
    assert run(workspace).rows_read == 2
    warehouse.put(contact("c3", 5))
    report = run(workspace)
    assert (report.rows_read, report.counts.inserted) == (1, 1)


def test_interrupted_first_read_resumes_among_rows_without_updated_at(
        workspace: Workspace, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse.put(*({**contact(f"c{i}"), "updated_at": None} for i in range(3)), contact("c9", 0))
    workspace.configure({"wh": warehouse.source()}, batch_size=2)
    interrupt_second_batch(workspace, monkeypatch)
    report = run(workspace)
    assert (report.rows_read, report.counts.inserted) == (2, 2)
    assert set(records(workspace)) == {"c0", "c1", "c2", "c9"}


def test_whole_numbers_from_a_column_with_nulls_keep_their_text_form(
        workspace: Workspace, warehouse: Warehouse) -> None:
    warehouse.put(contact("c1", 0, owner_id=1017), contact("c2", 1))
    workspace.configure({"wh": warehouse.source(fields={**warehouse.source()["fields"],
                                                         "owner_id": {"column": "owner_id"}})})
    run(workspace)
    assert [r["owner_id"] for r in workspace.rows("source_people")] == ["1017", None]


def test_query_on_a_missing_table_is_reported_as_a_failed_query(workspace: Workspace, warehouse: Warehouse) -> None:
    workspace.configure({"wh": warehouse.source(query="SELECT id, email, name, updated_at FROM no_such_table")})
    with pytest.raises(SourceError, match="sources.wh: the query failed: .*no_such_table"):
        run(workspace)
    assert_nothing_written(workspace)
