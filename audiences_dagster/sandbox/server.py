"""Start the CRM sandbox in-process: both APIs on free 127.0.0.1 ports, Salesforce over TLS, one SQLite file.

    with running_sandbox(tmp_path / "crm.db") as sandbox:
        sandbox.salesforce_url, sandbox.hubspot_url, sandbox.cert_path, sandbox.salesforce_access_token()
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from audiences_dagster.sandbox.clock import SandboxClock
from audiences_dagster.sandbox.controls import (
    FaultInjector, HubSpotSettings, HubSpotUsage, SalesforceSessions, SalesforceSettings, SalesforceUsage,
)
from audiences_dagster.sandbox.database import SandboxDatabase
from audiences_dagster.sandbox.hooks import hook_router
from audiences_dagster.sandbox.http import ApiRequest, ApiResponse, ServingThread
from audiences_dagster.sandbox.hubspot import HubSpotApi
from audiences_dagster.sandbox.hubspot_records import HubSpotRecords
from audiences_dagster.sandbox.records import SalesforceRecords
from audiences_dagster.sandbox.salesforce import SalesforceApi, SalesforceCredentials
from audiences_dagster.sandbox.seed import SeedCounts, sandbox_is_empty, seed_demo_world, seed_sandbox
from audiences_dagster.sandbox.tls import connected_app_certificate, server_certificate, server_tls_context

HOOKS_PREFIX = "/__sandbox__/"
SANDBOX_CLIENT_ID = "3MVG9AudiencesSandboxConsumerKey"
SANDBOX_CLIENT_SECRET = "audiences-sandbox-consumer-secret"
SANDBOX_USERNAME = "integration@audiences-sandbox.example"
SANDBOX_PASSWORD = "sandbox-password"
SANDBOX_SECURITY_TOKEN = "SANDBOXTOKEN"
SANDBOX_HUBSPOT_TOKEN = "pat-na1-audiences-sandbox"


class Sandbox:
    """A running sandbox: its URLs and credentials, its data (hooks), its clock, limits and fault injection."""

    def __init__(self, db_path: Path, key_dir: Path) -> None:
        self.db = SandboxDatabase(db_path)
        self.clock = SandboxClock()
        self.salesforce_settings = SalesforceSettings()
        self.hubspot_settings = HubSpotSettings()
        self.faults = FaultInjector()
        self.salesforce = SalesforceRecords(self.db, self.clock)
        self.hubspot = HubSpotRecords(self.db, self.clock,
                                      lambda: self.hubspot_settings.merged_ids_listed_as_archived)
        self.sessions = SalesforceSessions(self.clock, self.salesforce_settings)
        self.salesforce_usage = SalesforceUsage(self.salesforce_settings)
        self.hubspot_usage = HubSpotUsage(self.hubspot_settings)
        app_keys = connected_app_certificate(key_dir)
        self.credentials = SalesforceCredentials(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_USERNAME,
                                                 SANDBOX_PASSWORD, SANDBOX_SECURITY_TOKEN, app_keys.cert_path,
                                                 app_keys.key_path)
        self.hubspot_access_token = SANDBOX_HUBSPOT_TOKEN
        self._server_keys = server_certificate(key_dir)
        self._salesforce_api = SalesforceApi(self.db, self.clock, self.salesforce, self.sessions,
                                             self.salesforce_usage, self.faults, self.salesforce_settings,
                                             self.credentials)
        self._hubspot_api = HubSpotApi(self.db, self.clock, self.hubspot, self.hubspot_usage, self.faults,
                                       self.hubspot_settings, {SANDBOX_HUBSPOT_TOKEN})
        self._hooks = hook_router(self)
        self._threads: list[ServingThread] = []
        self.salesforce_url = self.hubspot_url = ""

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        salesforce = ServingThread(self._serving(self._salesforce_api), server_tls_context(self._server_keys))
        hubspot = ServingThread(self._serving(self._hubspot_api))
        self._threads = [salesforce, hubspot]
        self.salesforce_url = f"https://127.0.0.1:{salesforce.port}"
        self.hubspot_url = f"http://127.0.0.1:{hubspot.port}"
        self._salesforce_api.base_url = self.salesforce_url

    def stop(self) -> None:
        for thread in self._threads:
            thread.stop()
        self._threads = []
        self.db.close()

    def _serving(self, api):
        """Test hooks under /__sandbox__/ on both listeners, the CRM API everywhere else."""
        def app(request: ApiRequest) -> ApiResponse:
            return self._hooks(request) if request.path.startswith(HOOKS_PREFIX) else api(request)
        return app

    # ------------------------------------------------------------ connection facts

    @property
    def cert_path(self) -> Path:
        """The self-signed CA/cert of the HTTPS listener: `session.verify = str(sandbox.cert_path)`."""
        return self._server_keys.cert_path

    @property
    def token_url(self) -> str:
        return f"{self.salesforce_url}/services/oauth2/token"

    def salesforce_access_token(self) -> str:
        """A fresh access token, as the client-credentials flow would issue, for tests that skip OAuth."""
        return self.sessions.issue(self.credentials.client_id, self.credentials.username).token

    def environment(self) -> dict[str, str]:
        """The variables a connector needs to reach this sandbox (what `audiences sandbox` prints)."""
        return {
            "SALESFORCE_INSTANCE_URL": self.salesforce_url,
            "SALESFORCE_TOKEN_URL": self.token_url,
            "SALESFORCE_CLIENT_ID": self.credentials.client_id,
            "SALESFORCE_CLIENT_SECRET": self.credentials.client_secret,
            "SALESFORCE_USERNAME": self.credentials.username,
            "SALESFORCE_JWT_KEY_FILE": str(self.credentials.jwt_key_path),
            "SALESFORCE_CA_BUNDLE": str(self.cert_path),
            "HUBSPOT_BASE_URL": self.hubspot_url,
            "HUBSPOT_ACCESS_TOKEN": self.hubspot_access_token,
        }

    # ------------------------------------------------------------ data, time and faults

    def seed(self, world: str = "crm", **sizes) -> SeedCounts:
        """Add a generated world on an empty sandbox: "crm" (sized freely, see seed_sandbox) or "demo" (the demo's
        people and companies, see seed_demo_world)."""
        if world == "demo":
            return seed_demo_world(self.db, self.salesforce, self.hubspot, **sizes)
        return seed_sandbox(self.db, self.salesforce, self.hubspot, **sizes)

    def is_empty(self) -> bool:
        return sandbox_is_empty(self.db)

    def set_clock(self, moment: datetime, frozen: bool = False) -> None:
        self.clock.set(moment, frozen)

    def advance_clock(self, delta: timedelta) -> None:
        self.clock.advance(delta)

    def inject_fault(self, api: str, kind: str, count: int = 1, delay_seconds: float = 0.0,
                     policy: str = "TEN_SECONDLY_ROLLING") -> None:
        """The next `count` requests to api ('salesforce' | 'hubspot') get kind: unauthorized, rate_limited
        (Salesforce: 403 REQUEST_LIMIT_EXCEEDED; HubSpot: 429 with `policy`), server_error, slow
        (delay_seconds, then served), or bulk_job_failed (the next Bulk query job ends Failed)."""
        self.faults.inject(api, kind, count, delay_seconds, policy)

    def expire_salesforce_sessions(self) -> None:
        self.sessions.expire_all()


@contextmanager
def running_sandbox(db_path: Path | str, *, seed: dict | None = None) -> Iterator[Sandbox]:
    """Serve the sandbox for the duration of the block; seed=dict(contacts=..., ...) seeds an empty database
    (seed=dict(world="demo", people=..., companies=...) with the demo's world)."""
    key_dir = Path(tempfile.mkdtemp(prefix="audiences-crm-sandbox-"))
    sandbox = Sandbox(Path(db_path), key_dir)
    try:
        if seed is not None and sandbox.is_empty():
            sandbox.seed(**seed)
        sandbox.start()
        yield sandbox
    finally:
        sandbox.stop()
        shutil.rmtree(key_dir, ignore_errors=True)
