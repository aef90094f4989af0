"""What every benchmark script shares: a throwaway PostgreSQL database and a phase timer."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import psutil
import sqlalchemy as sa

ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def postgres_database(prefix: str) -> tuple[str, Callable[[], None]]:
    """A fresh database on the local server, and the function that drops it again."""
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin.url.set(database=name).render_as_string(hide_password=False), drop


class Timed:
    """Wall time, our CPU and the sandbox's CPU over one phase."""

    def __init__(self, sandbox: psutil.Process):
        self.sandbox, self.me = sandbox, psutil.Process()

    def __enter__(self) -> "Timed":
        self.wall = time.perf_counter()
        self.cpu = sum(self.me.cpu_times()[:2])
        self.sandbox_cpu = sum(self.sandbox.cpu_times()[:2])
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = sum(self.me.cpu_times()[:2]) - self.cpu
        self.sandbox_cpu = sum(self.sandbox.cpu_times()[:2]) - self.sandbox_cpu
