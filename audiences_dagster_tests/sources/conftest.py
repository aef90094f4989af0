"""Warehouses paired with the store as deployed: SQLite beside SQLite, PostgreSQL beside PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from audiences_dagster_tests.postgres import fresh_database
from audiences_dagster_tests.sources.warehouse import Warehouse


@pytest.fixture(scope="session")
def postgres_warehouse_url() -> Iterator[str]:
    with contextmanager(fresh_database)("aud_wh") as url:
        yield url


@pytest.fixture
def warehouse(request: pytest.FixtureRequest, store_url: str, tmp_path: Path) -> Iterator[Warehouse]:
    if store_url.startswith("sqlite"):
        wh = Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
    else:
        wh = Warehouse(request.getfixturevalue("postgres_warehouse_url"), f"contacts_{uuid.uuid4().hex[:10]}")
    yield wh
    wh.drop()
