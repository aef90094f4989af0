"""Calls to one HubSpot account through hubspot-api-client, with HubSpot's rate limits honoured:
a 429 waits as the response says, a 5xx is retried with backoff, a 401 names the variable to fix.

Responses are read as JSON (`_preload_content=False`): the client builds, authenticates and sends
every request, and we skip its per-record model objects, which cost three times the HTTP time.
The access token lives only inside the client; no message, log line or repr here carries it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import urllib3
from hubspot import HubSpot
from hubspot.crm.associations.v4 import ApiException as AssociationsApiException
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.objects import ApiException as ObjectsApiException
from hubspot.crm.objects import PublicObjectSearchRequest
from urllib3.util.retry import Retry

from audiences_dagster.config.models import HubSpotConnection
from audiences_dagster.sources.base import SourceError

log = logging.getLogger(__name__)

API_ERRORS = (ObjectsApiException, AssociationsApiException)
LIST_PAGE = 100          # most records a list page returns
SEARCH_PAGE = 200        # most records a search page returns
ASSOCIATION_BATCH = 1_000  # most inputs a v4 association batch read takes
SERVER_RETRY_SECONDS = (0.5, 1.0, 2.0, 4.0, 8.0)  # waits before each retry of a 5xx (or 423 locked)
MAX_RATE_LIMIT_WAITS = 20
SEARCH_WAIT_SECONDS = 1.0  # search throttles per second and sends no rate-limit headers


class HubSpotAuthError(SourceError):
    """HubSpot refused the access token; the message names the environment variable to fix."""


class HubSpotDailyLimitError(SourceError):
    """The account's daily API allowance is used up; the import stops until it resets."""


class HubSpotAccount:
    """One connection's calls: list pages, searches and association reads, each with retries."""

    def __init__(self, connection_name: str, connection: HubSpotConnection,
                 sleep: Callable[[float], None] = time.sleep):
        self.connection_name, self.connection = connection_name, connection
        self._sleep = sleep
        self._client: HubSpot | None = None
        self.calls = 0
        self.waited_seconds = 0.0   # backing off rate limits and server errors
        self.call_seconds = 0.0     # waiting on HubSpot's answers

    def __repr__(self) -> str:
        return f"HubSpotAccount({self.connection_name!r}, {self.connection.base_url_env or self.connection.base_url!r})"

    def close(self) -> None:
        """Drop the client and its connection pools."""
        self._client = None

    @property
    def client(self) -> HubSpot:
        if self._client is None:
            try:
                token, host = self.connection.access_token(), self.connection.api_url()
            except EnvironmentError as exc:
                raise HubSpotAuthError(f"connections.{self.connection_name}: {exc}") from None
            # Retry-After is ours to honour (urllib3 would sleep a whole day on a DAILY 429).
            retry = Retry(total=3, status=0, backoff_factor=0.5, respect_retry_after_header=False,
                          raise_on_status=False)
            self._client = HubSpot(access_token=token, host=host.rstrip("/"), retry=retry)
        return self._client

    def list_page(self, object_type: str, properties: list[str], after: str | None, archived: bool = False,
                  associations: list[str] | None = None, limit: int = LIST_PAGE) -> dict:
        """One page of the object's records (archived=True: only archived ones), in list order."""
        return self._call(f"listing {object_type}", self.client.crm.objects.basic_api.get_page, object_type,
                          limit=limit, after=after, properties=properties, associations=associations or None,
                          archived=archived)

    def search(self, object_type: str, filter_groups: list[dict], sort_property: str, properties: list[str],
               after: int = 0, limit: int = SEARCH_PAGE) -> dict:
        """One page of a search sorted ascending on one property (HubSpot allows one sort)."""
        request = PublicObjectSearchRequest(
            filter_groups=filter_groups, sorts=[{"propertyName": sort_property, "direction": "ASCENDING"}],
            properties=properties, limit=limit, after=str(after))
        return self._call(f"searching {object_type}", self.client.crm.objects.search_api.do_search, object_type,
                          request)

    def associated(self, from_type: str, to_type: str, ids: list[str]) -> dict[str, list[dict]]:
        """For each id, its associations to to_type (v4 batch read, one call per 1,000 ids);
        ids without any are simply absent (HubSpot reports them as 207 errors)."""
        found: dict[str, list[dict]] = {}
        for start in range(0, len(ids), ASSOCIATION_BATCH):
            chunk = ids[start:start + ASSOCIATION_BATCH]
            request = BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": i} for i in chunk])
            body = self._call(f"reading {from_type} to {to_type} associations",
                              self.client.crm.associations.v4.batch_api.get_page, from_type, to_type, request)
            for result in body.get("results") or []:
                found.setdefault(str(result["from"]["id"]), []).extend(result.get("to") or [])
        return found

    # ------------------------------------------------------------ retries

    def _call(self, what: str, method: Callable, *args, **kwargs) -> dict:
        """Run one API call to completion: rate limits and server errors wait and retry."""
        server_errors = rate_limits = 0
        while True:
            self.calls += 1
            started = time.perf_counter()
            try:
                response = method(*args, _preload_content=False, **kwargs)
                data = response.data
                response.release_conn()
                self.call_seconds += time.perf_counter() - started
                return json.loads(data or b"{}")
            except API_ERRORS as exc:
                self.call_seconds += time.perf_counter() - started
                status = exc.status or 0
                if status == 401:
                    raise self._unauthorized(exc) from None
                if status == 429 and rate_limits < MAX_RATE_LIMIT_WAITS:
                    rate_limits += 1
                    self._wait(self._rate_limit_wait(exc), f"{what}: rate limited ({_policy(exc)})")
                    continue
                if (status >= 500 or status == 423) and server_errors < len(SERVER_RETRY_SECONDS):
                    self._wait(SERVER_RETRY_SECONDS[server_errors], f"{what}: HubSpot answered {status}")
                    server_errors += 1
                    continue
                raise SourceError(f"connections.{self.connection_name}: {what} failed: HTTP {status} "
                                  f"{_message(exc)}") from None
            except urllib3.exceptions.HTTPError as exc:
                if server_errors < len(SERVER_RETRY_SECONDS):
                    self._wait(SERVER_RETRY_SECONDS[server_errors], f"{what}: {type(exc).__name__}")
                    server_errors += 1
                    continue
                raise SourceError(f"connections.{self.connection_name}: cannot reach HubSpot at "
                                  f"{self.connection.api_url()}: {type(exc).__name__}") from None

    def _rate_limit_wait(self, exc: Exception) -> float:
        """Seconds to wait after a 429: Retry-After when sent, else one rolling interval (from
        X-HubSpot-RateLimit-Interval-Milliseconds), else a second; a DAILY limit stops the run."""
        if _policy(exc) == "DAILY":
            raise HubSpotDailyLimitError(
                f"connections.{self.connection_name}: HubSpot's daily API limit is used up "
                f"(daily_request_limit {self.connection.daily_request_limit:,}); the import stops and resumes "
                "from its last committed batch after the limit resets at midnight (account time zone)")
        headers = exc.headers or {}
        retry_after = _number(headers.get("Retry-After"))
        if retry_after is not None:
            return retry_after
        interval = _number(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds"))
        return interval / 1000 if interval else SEARCH_WAIT_SECONDS

    def _unauthorized(self, exc: Exception) -> HubSpotAuthError:
        category = _body(exc).get("category") or "INVALID_AUTHENTICATION"
        return HubSpotAuthError(
            f"connections.{self.connection_name}: HubSpot rejected the access token (401 {category}); put a "
            f"valid private-app token (scopes crm.objects.contacts.read, crm.objects.companies.read) in the "
            f"environment variable {self.connection.access_token_env}")

    def _wait(self, seconds: float, why: str) -> None:
        log.warning("HubSpot %s; waiting %.1f s", why, seconds)
        self.waited_seconds += seconds
        self._sleep(seconds)


def _body(exc: Exception) -> dict:
    try:
        body = json.loads(getattr(exc, "body", None) or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _policy(exc: Exception) -> str:
    return str(_body(exc).get("policyName") or "unknown policy")


def _message(exc: Exception) -> str:
    body = _body(exc)
    parts = [body.get("category"), body.get("message")]
    return ": ".join(str(p) for p in parts if p) or str(getattr(exc, "reason", "") or "")


def _number(value) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
