"""What the benchmark scripts share: a throwaway PostgreSQL database, a phase timer, and the CRM
sandbox served from its own process."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

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


def serve_sandbox(db_path: str, seed: dict, ready, stop) -> None:
    """Child process: seed and serve the CRM sandbox, with the API limits out of the way, until
    told to stop; hands its URLs and credentials back through `ready`."""
    from audiences_dagster.sandbox import running_sandbox

    with running_sandbox(db_path, seed=seed) as sandbox:
        sandbox.salesforce_settings.daily_api_requests = 10**9
        sandbox.hubspot_settings.burst_limit = 10**9
        sandbox.hubspot_settings.search_per_second = 10**6
        sandbox.hubspot_settings.daily_limit = 10**9
        ready.put({"salesforce_url": sandbox.salesforce_url, "token_url": sandbox.token_url,
                   "cert": str(sandbox.cert_path), "client_id": sandbox.credentials.client_id,
                   "client_secret": sandbox.credentials.client_secret,
                   "hubspot_url": sandbox.hubspot_url, "hubspot_token": sandbox.hubspot_access_token})
        stop.wait()


@contextmanager
def sandbox_process(folder: Path, seed: dict) -> Iterator[tuple[dict, psutil.Process, float]]:
    """The sandbox in its own process (so its CPU is measured apart from ours): its connection
    facts, the process, and the seconds seeding took."""
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    started = time.perf_counter()
    child = ctx.Process(target=serve_sandbox, args=(str(folder / "crm.db"), seed, ready, stop), daemon=True)
    child.start()
    try:
        facts = ready.get(timeout=1800)
        yield facts, psutil.Process(child.pid), time.perf_counter() - started
    finally:
        stop.set()
        child.join(timeout=30)
