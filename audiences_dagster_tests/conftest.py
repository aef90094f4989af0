"""Fixtures shared by the suite: every store test runs on a SQLite file and on a fresh
PostgreSQL database (127.0.0.1:5432). With CI=true an unreachable PostgreSQL fails the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from audiences_dagster_tests.postgres import fresh_database
from audiences_dagster_tests.support import Workspace


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from fresh_database("aud_test")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    yield request.getfixturevalue("postgres_url")


@pytest.fixture
def workspace(tmp_path: Path, store_url: str) -> Iterator[Workspace]:
    ws = Workspace(tmp_path, store_url)
    yield ws
    ws.close()
