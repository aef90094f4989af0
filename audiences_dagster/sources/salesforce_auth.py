"""One Salesforce org reached through simple-salesforce: the OAuth token, the client built on it, and the rules
every call follows (one re-authentication on 401, backoff on 5xx, a clear stop at the daily API limit).

simple-salesforce given a session id never refreshes it, and its login helpers only know *.salesforce.com, so
the connector asks the configured token endpoint itself and hands the token to the client.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TypeVar

import jwt
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError, SalesforceExpiredSession, SalesforceGeneralError, SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from audiences_dagster.config.salesforce import SalesforceConnection
from audiences_dagster.sources.base import SourceError

T = TypeVar("T")
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME_SECONDS = 180
# Waits between attempts after a 5xx or a dropped connection; then the error is raised.
RETRY_DELAYS_SECONDS = (0.5, 1.0, 2.0, 4.0, 8.0)
REQUEST_TIMEOUT_SECONDS = 300
LIMIT_WINDOW = timedelta(hours=24)
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


class SalesforceAuthError(SourceError):
    """The token endpoint refused the credentials, or Salesforce refused a fresh token."""


class SalesforceLimitExceeded(SourceError):
    """REQUEST_LIMIT_EXCEEDED: the org's daily API requests are used up; the import stops until they free up."""


class MeteredSession(requests.Session):
    """The requests session every call goes through: it remembers the org's API usage from Sforce-Limit-Info
    (REST and Bulk answers alike) and how long was spent waiting on Salesforce."""

    def __init__(self) -> None:
        super().__init__()
        self.api_usage: tuple[int, int] | None = None
        self.http_seconds = 0.0
        self.http_calls = 0

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", REQUEST_TIMEOUT_SECONDS)
        started = time.perf_counter()
        try:
            response = super().request(method, url, *args, **kwargs)
        finally:
            self.http_seconds += time.perf_counter() - started
            self.http_calls += 1
        usage = _USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
        if usage:
            self.api_usage = (int(usage.group(1)), int(usage.group(2)))
        return response


class SalesforceOrg:
    """An authenticated simple-salesforce client for one source; `call` runs an action under the retry rules."""

    def __init__(self, source_name: str, connection_name: str, connection: SalesforceConnection) -> None:
        self.source_name = source_name
        self.connection_name = connection_name
        self.connection = connection
        self.session = _session(connection, self._where)
        self._client: Salesforce | None = None

    def __repr__(self) -> str:  # the client holds a bearer token: never show it
        return f"SalesforceOrg(source={self.source_name!r}, connection={self.connection_name!r})"

    @property
    def client(self) -> Salesforce:
        if self._client is None:
            self.authenticate()
        assert self._client is not None
        return self._client

    @property
    def api_usage(self) -> str | None:
        """"used/limit" of the org's daily API requests as last reported by Salesforce."""
        return f"{self.session.api_usage[0]}/{self.session.api_usage[1]}" if self.session.api_usage else None

    def authenticate(self) -> None:
        """Ask the token endpoint for an access token and build the client on it."""
        token, instance_url = _fetch_token(self.connection, self.session, self._where)
        self._client = Salesforce(instance_url=instance_url, session_id=token, session=self.session,
                                  version=self.connection.api_version)

    def call(self, action: Callable[[Salesforce], T], what: str, missing_ok: bool = False) -> T | None:
        """Run action(client): a 401 re-authenticates once, 5xx and dropped connections back off and retry,
        REQUEST_LIMIT_EXCEEDED stops the import; every other refusal becomes a SourceError saying what failed
        (a 404 gives None instead when missing_ok)."""
        reauthenticated = False
        failures = 0
        while True:
            try:
                return action(self.client)
            except SalesforceExpiredSession:
                if reauthenticated:
                    raise SalesforceAuthError(
                        f"{self._where}: Salesforce refused a freshly issued token while {what} (401 "
                        "INVALID_SESSION_ID twice); check that the connected app's user may use the API") from None
                reauthenticated = True
                self.authenticate()
            except SalesforceRefusedRequest as exc:
                if _error_code(exc) == "REQUEST_LIMIT_EXCEEDED":
                    raise SalesforceLimitExceeded(self._limit_message(what)) from None
                raise SourceError(f"{self._where}: Salesforce refused {what}: {_describe(exc)}") from None
            except (SalesforceGeneralError, requests.ConnectionError, requests.Timeout) as exc:
                transient = not isinstance(exc, SalesforceGeneralError) or exc.status >= 500
                if not transient or failures >= len(RETRY_DELAYS_SECONDS):
                    raise SourceError(f"{self._where}: {what} failed after {failures + 1} attempt(s): "
                                      f"{_describe(exc)}") from None
                time.sleep(RETRY_DELAYS_SECONDS[failures])
                failures += 1
            except SalesforceResourceNotFound:
                if missing_ok:
                    return None
                raise SourceError(f"{self._where}: {what}: Salesforce answered 404 NOT_FOUND") from None
            except SalesforceError as exc:  # 400 MALFORMED_QUERY / INVALID_FIELD, 300
                raise SourceError(f"{self._where}: Salesforce refused {what}: {_describe(exc)}") from None

    def close(self) -> None:
        self.session.close()

    def _limit_message(self, what: str) -> str:
        usage = f" (api-usage {self.api_usage})" if self.api_usage else ""
        back_by = (datetime.now(timezone.utc) + LIMIT_WINDOW).strftime("%Y-%m-%d %H:%M UTC")
        return (f"{self._where}: Salesforce stopped the import while {what}: REQUEST_LIMIT_EXCEEDED, the org has "
                f"used its daily API requests{usage}. Salesforce counts them over a rolling 24 hours, so requests "
                f"free up as the ones made 24 hours ago age out, and the whole allowance is back by {back_by} at "
                "the latest. Every batch imported so far is committed; the next run resumes from there.")

    @property
    def _where(self) -> str:
        return f"sources.{self.source_name} (connection '{self.connection_name}')"


def _session(connection: SalesforceConnection, where: str) -> MeteredSession:
    """TLS verified against the configured CA bundle when there is one; then the environment's own CA
    settings (REQUESTS_CA_BUNDLE) must not override it, so trust_env goes off."""
    session = MeteredSession()
    if connection.ca_bundle_env:
        path = _env(connection.ca_bundle_env, "CA bundle path", where)
        if not os.path.isfile(path):
            raise SourceError(f"{where}: the CA bundle named by {connection.ca_bundle_env} does not exist: {path}")
        session.verify = path
        session.trust_env = False
    return session


def _fetch_token(connection: SalesforceConnection, session: requests.Session, where: str) -> tuple[str, str]:
    """POST the token endpoint with the configured flow; returns (access token, instance URL)."""
    url = connection.token_url or _env(connection.token_url_env or "", "token endpoint URL", where)
    client_id = _env(connection.client_id_env, "connected app client id", where)
    if connection.auth == "client_credentials":
        secret = _env(connection.client_secret_env or "", "connected app client secret", where)
        request = {"data": {"grant_type": "client_credentials"}, "auth": (client_id, secret)}
    else:
        request = {"data": {"grant_type": JWT_GRANT, "assertion": _jwt_assertion(connection, client_id, where)}}
    try:
        response = session.post(url, **request)
    except requests.RequestException as exc:
        raise SalesforceAuthError(f"{where}: cannot reach the token endpoint {url}: {type(exc).__name__}") from None
    body = _json(response)
    if response.status_code != 200 or "access_token" not in body:
        reason = f"{body.get('error', response.status_code)}: {body.get('error_description', 'no description')}"
        raise SalesforceAuthError(f"{where}: the token endpoint {url} refused the {connection.auth} flow ({reason}); "
                                  f"check the values in {_credential_names(connection)}")
    return body["access_token"], body["instance_url"]


def _jwt_assertion(connection: SalesforceConnection, client_id: str, where: str) -> str:
    """An RS256 JWT: issuer the connected app, subject the integration user, valid for three minutes."""
    username = _env(connection.username_env or "", "integration username", where)
    key_path = _env(connection.private_key_path_env or "", "JWT private key path", where)
    try:
        with open(key_path, "rb") as handle:
            key = handle.read()
        claims = {"iss": client_id, "sub": username, "aud": connection.jwt_audience,
                  "exp": int(time.time()) + JWT_LIFETIME_SECONDS}
        return jwt.encode(claims, key, algorithm="RS256")
    except OSError:
        raise SalesforceAuthError(f"{where}: cannot read the JWT private key named by "
                                  f"{connection.private_key_path_env}") from None
    except (ValueError, TypeError, jwt.PyJWTError):
        raise SalesforceAuthError(f"{where}: the file named by {connection.private_key_path_env} is not a PEM "
                                  "RSA private key") from None


def _env(name: str, what: str, where: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SalesforceAuthError(f"{where}: environment variable {name} is not set ({what})")
    return value


def _credential_names(connection: SalesforceConnection) -> str:
    names = [connection.client_id_env, connection.client_secret_env, connection.username_env,
             connection.private_key_path_env]
    return ", ".join(n for n in names if n)


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_code(exc: SalesforceError) -> str | None:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0].get("errorCode")
    return None


def _describe(exc: Exception) -> str:
    """The error code and message Salesforce sent (never the request, which carries the token)."""
    if isinstance(exc, SalesforceError):
        content = exc.content
        if isinstance(content, list) and content and isinstance(content[0], dict):
            return f"{exc.status} {content[0].get('errorCode')}: {content[0].get('message', '').strip()}"
        return f"{exc.status} {str(content)[:300]}"
    return type(exc).__name__
