"""A PostgreSQL store's sessions compress the WAL's page images with lz4 when the store's role
may set that (a superuser, or a role granted it); any other role keeps the server's setting and
works all the same."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from audiences_dagster.store.api import Store, _wal_compression_allowed
from audiences_dagster_tests.postgres import ADMIN_URL

pytestmark = pytest.mark.postgres


def wal_compression(url: str) -> str:
    store = Store(url, {"people": {}, "companies": {}})
    try:
        store.migrate()  # the role can do the store's work
        with store.engine.connect() as conn:
            return conn.execute(sa.text("SHOW wal_compression")).scalar_one()
    finally:
        store.dispose()


@pytest.fixture
def plain_role(postgres_url: str) -> Iterator[tuple[str, sa.Engine]]:
    """A role that is not a superuser, owning a database of its own: its store URL, and an admin
    connection to grant it more."""
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    role = f"aud_role_{uuid.uuid4().hex[:10]}"
    database = f"{role}_db"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(sa.text(f"CREATE DATABASE {database} OWNER {role}"))
    try:
        url = sa.make_url(postgres_url).set(username=role, database=database).render_as_string(hide_password=False)
        yield url, admin
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            conn.execute(sa.text(f"REVOKE ALL ON PARAMETER wal_compression FROM {role}"))
            conn.execute(sa.text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


def test_a_superuser_store_compresses_its_wal_with_lz4(postgres_url: str):
    assert wal_compression(postgres_url) == "lz4"


def test_a_role_that_may_not_set_it_keeps_the_servers_setting(plain_role):
    url, admin = plain_role
    with admin.connect() as conn:  # (the admin engine asks for no session settings)
        server = conn.execute(sa.text("SHOW wal_compression")).scalar_one()
    store = Store(url, {"people": {}, "companies": {}})
    try:
        with store.engine.connect() as conn:  # what the connect hook asks before it sets
            cursor = conn.connection.dbapi_connection.cursor()
            allowed = _wal_compression_allowed(cursor)
            cursor.close()
    finally:
        store.dispose()

    assert not allowed
    assert wal_compression(url) == server


def test_a_role_granted_the_setting_compresses_with_lz4(plain_role):
    url, admin = plain_role
    role = sa.make_url(url).username
    with admin.connect() as conn:
        conn.execute(sa.text(f"GRANT SET ON PARAMETER wal_compression TO {role}"))

    assert wal_compression(url) == "lz4"
