"""Fixtures for the Dagster wiring: a Dagster instance whose storage is a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from audiences_dagster_tests.postgres import fresh_database


@pytest.fixture
def dagster_database() -> Iterator[str]:
    """The name of a new, empty database for Dagster's own storage, dropped afterwards.
    Kept apart from the store's database: both sides keep an alembic_version table."""
    for url in fresh_database("aud_dagster"):
        yield sa.make_url(url).database
