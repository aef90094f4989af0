"""Throw-away PostgreSQL databases for tests (127.0.0.1:5432). With CI=true an unreachable
server fails the test; on a laptop without one, the test is skipped with the reason."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def unavailable(reason: str) -> None:
    """CI (CI=true) must exercise PostgreSQL, so there it fails; a developer's machine without the
    server skips the PostgreSQL half with the reason, and the SQLite half still runs."""
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
        unavailable(f"PostgreSQL on 127.0.0.1:5432 is unreachable (CI=true makes this fail): {cause}")
    return admin


def fresh_database(prefix: str) -> Iterator[str]:
    """A uniquely named database (its URL), dropped afterwards even if connections linger."""
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
