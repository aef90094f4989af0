"""What tests control besides data: limits and page sizes, issued tokens, API usage, and injected faults."""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from audiences_dagster.sandbox.clock import SandboxClock
from audiences_dagster.sandbox.errors import SandboxError

APIS = ("salesforce", "hubspot")
FAULT_KINDS = ("unauthorized", "rate_limited", "server_error", "slow", "bulk_job_failed")


@dataclass
class SalesforceSettings:
    """Salesforce behaviour that real orgs configure or that tests need small (documented defaults otherwise)."""

    query_page_size: int | None = None  # server-side override of the REST batch size (e.g. 3 to test paging)
    bulk_default_page_size: int = 50_000  # Bulk 2.0 results page when the client sends no maxRecords
    daily_api_requests: int = 100_000
    session_seconds: int = 7_200  # access-token lifetime (Salesforce's default session timeout is 2 h)
    bulk_polls_in_progress: int = 1  # GETs a bulk job answers with InProgress before it completes


@dataclass
class HubSpotSettings:
    """HubSpot limits (Enterprise private app by default) and the documented-but-unverified choices."""

    burst_limit: int = 190
    burst_interval_ms: int = 10_000
    daily_limit: int = 1_000_000
    search_per_second: int = 5
    index_lag_ms: int = 0  # how long a write stays invisible to search
    send_retry_after: bool = False  # whether 429s carry Retry-After is unverified (spec §4.2)
    merged_ids_listed_as_archived: bool = False  # unverified (spec §2.8): merged-away ids under ?archived=true
    max_filter_groups: int = 5
    max_filters_per_group: int = 6
    max_filters_total: int = 18


@dataclass
class Fault:
    kind: str
    remaining: int
    delay_seconds: float = 0.0
    policy: str = "TEN_SECONDLY_ROLLING"


@dataclass
class SalesforceSession:
    token: str
    client_id: str
    username: str
    expires_ms: int
    revoked: bool = False


class FaultInjector:
    """Per-API queues of faults; each API request consumes one count of the oldest pending fault."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, deque[Fault]] = {api: deque() for api in APIS}

    def inject(self, api: str, kind: str, count: int = 1, delay_seconds: float = 0.0,
               policy: str = "TEN_SECONDLY_ROLLING") -> None:
        """The next count requests to api fail (or, for slow, wait delay_seconds) as kind says."""
        if api not in APIS:
            raise SandboxError(f"unknown API {api!r}; use one of {', '.join(APIS)}")
        if kind not in FAULT_KINDS:
            raise SandboxError(f"unknown fault {kind!r}; use one of {', '.join(FAULT_KINDS)}")
        if count < 1:
            raise SandboxError("a fault needs count >= 1")
        with self._lock:
            self._pending[api].append(Fault(kind, count, delay_seconds, policy))

    def take(self, api: str, kinds: tuple[str, ...] = FAULT_KINDS) -> Fault | None:
        """The fault this request should suffer, if the oldest pending one is of the given kinds."""
        with self._lock:
            queue = self._pending[api]
            if not queue or queue[0].kind not in kinds:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.popleft()
            return fault

    def clear(self) -> None:
        with self._lock:
            for queue in self._pending.values():
                queue.clear()


class SalesforceSessions:
    """Access tokens the OAuth endpoint issued; they expire on the sandbox clock and can be revoked."""

    def __init__(self, clock: SandboxClock, settings: SalesforceSettings) -> None:
        self._clock = clock
        self._settings = settings
        self._lock = threading.Lock()
        self._sessions: dict[str, SalesforceSession] = {}

    def issue(self, client_id: str, username: str) -> SalesforceSession:
        token = f"00D8d000000SBOX!{secrets.token_urlsafe(48)}"
        session = SalesforceSession(token, client_id, username,
                                    self._clock.now_ms() + self._settings.session_seconds * 1000)
        with self._lock:
            self._sessions[token] = session
        return session

    def is_valid(self, token: str | None) -> bool:
        with self._lock:
            session = self._sessions.get(token or "")
        return session is not None and not session.revoked and session.expires_ms > self._clock.now_ms()

    def revoke(self, token: str) -> None:
        with self._lock:
            if token in self._sessions:
                self._sessions[token].revoked = True

    def expire_all(self) -> None:
        """Every token issued so far stops working, as after a session timeout or a password reset."""
        with self._lock:
            for session in self._sessions.values():
                session.revoked = True


class SalesforceUsage:
    """The org's daily API request counter behind Sforce-Limit-Info and REQUEST_LIMIT_EXCEEDED."""

    def __init__(self, settings: SalesforceSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self.used = 0

    def count(self) -> bool:
        """Count one request; False when the daily allowance was already used up."""
        with self._lock:
            if self.used >= self._settings.daily_api_requests:
                return False
            self.used += 1
            return True

    def header(self) -> str:
        return f"api-usage={self.used}/{self._settings.daily_api_requests}"

    def reset(self) -> None:
        with self._lock:
            self.used = 0


@dataclass
class HubSpotUsage:
    """Rolling ten-second and daily buckets, plus the separate per-second search bucket."""

    settings: HubSpotSettings
    _burst: deque = field(default_factory=deque)
    _search: deque = field(default_factory=deque)
    daily_used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, search: bool) -> str | None:
        """Count one request; the policy name that refuses it (DAILY, TEN_SECONDLY_ROLLING, SECONDLY) or None."""
        now = time.monotonic() * 1000
        with self._lock:
            if self.daily_used >= self.settings.daily_limit:
                return "DAILY"
            if search:
                _expire(self._search, now - 1000)
                if len(self._search) >= self.settings.search_per_second:
                    return "SECONDLY"
                self._search.append(now)
            else:
                _expire(self._burst, now - self.settings.burst_interval_ms)
                if len(self._burst) >= self.settings.burst_limit:
                    return "TEN_SECONDLY_ROLLING"
                self._burst.append(now)
            self.daily_used += 1
            return None

    def headers(self) -> dict[str, str]:
        """X-HubSpot-RateLimit-* as sent on non-search responses (private-app tokens get the daily ones too)."""
        with self._lock:
            burst_left = max(self.settings.burst_limit - len(self._burst), 0)
            daily_left = max(self.settings.daily_limit - self.daily_used, 0)
        per_second = max(self.settings.burst_limit // 10, 1)
        return {
            "X-HubSpot-RateLimit-Max": str(self.settings.burst_limit),
            "X-HubSpot-RateLimit-Remaining": str(burst_left),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(self.settings.burst_interval_ms),
            "X-HubSpot-RateLimit-Daily": str(self.settings.daily_limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(daily_left),
            "X-HubSpot-RateLimit-Secondly": str(per_second),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(min(per_second, burst_left)),
        }

    def reset(self) -> None:
        with self._lock:
            self._burst.clear()
            self._search.clear()
            self.daily_used = 0


def _expire(window: deque, older_than: float) -> None:
    while window and window[0] <= older_than:
        window.popleft()
