"""Fixtures shared by the suite: every store test runs on a SQLite file and on a fresh
PostgreSQL database (127.0.0.1:5432). With CI=true an unreachable PostgreSQL fails the test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from audiences_dagster_tests.support import Workspace

ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def _unavailable(reason: str) -> None:
    """CI must exercise PostgreSQL; a laptop without the server may skip with the reason."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _admin() -> sa.Engine:
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError as exc:
        admin.dispose()
        cause = str(exc.orig or exc).strip().splitlines()[0]
        _unavailable(f"PostgreSQL on 127.0.0.1:5432 is unreachable (CI=true makes this fail): {cause}")
    return admin


def _fresh_database(prefix: str) -> Iterator[str]:
    """A uniquely named database, dropped afterwards even if connections linger."""
    admin = _admin()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    quoted = admin.dialect.identifier_preparer.quote(name)
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {quoted}"))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _fresh_database("aud_test")


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
