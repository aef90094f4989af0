"""The Salesforce double: OAuth token endpoint, REST query/queryAll/locators, sObject rows, limits, and the
bookkeeping every data call gets (bearer check, daily request counter, Sforce-Limit-Info, injected faults)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote

import jwt
from cryptography import x509

from audiences_dagster.sandbox.clock import SandboxClock, parse_datetime, salesforce_datetime, to_ms
from audiences_dagster.sandbox.controls import (
    FaultInjector, SalesforceSessions, SalesforceSettings, SalesforceUsage,
)
from audiences_dagster.sandbox.database import SandboxDatabase
from audiences_dagster.sandbox.errors import SalesforceApiError
from audiences_dagster.sandbox.http import ApiRequest, ApiResponse, Router
from audiences_dagster.sandbox.querying import (
    count_matching, drop_cursor, find_cursor, open_cursor, read_page, recompile, rest_record,
)
from audiences_dagster.sandbox.records import SalesforceRecords, json_value, require_sobject
from audiences_dagster.sandbox.soql import SoqlError, compile_soql

DATA = r"/services/data/v(?P<version>\d+\.\d+)"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
ORG_ID = "00D8d000000SBOXEA2"
USER_ID = "0058d000000SBOXAA2"
LATEST_VERSION = "62.0"


@dataclass(frozen=True)
class SalesforceCredentials:
    """The sandbox org's connected app and integration user (test values, printed by `audiences sandbox`)."""

    client_id: str
    client_secret: str
    username: str
    password: str
    security_token: str
    jwt_cert_path: Path  # the connected app's certificate: JWT assertions are verified against it
    jwt_key_path: Path  # its private key, for clients using the JWT bearer flow


class SalesforceApi:
    """Routes Salesforce requests; base_url is the sandbox's https://127.0.0.1:<port> (the token's instance_url)."""

    def __init__(self, db: SandboxDatabase, clock: SandboxClock, records: SalesforceRecords,
                 sessions: SalesforceSessions, usage: SalesforceUsage, faults: FaultInjector,
                 settings: SalesforceSettings, credentials: SalesforceCredentials) -> None:
        self.db, self.clock, self.records = db, clock, records
        self.sessions, self.usage, self.faults = sessions, usage, faults
        self.settings, self.credentials = settings, credentials
        self.base_url = ""
        self.router = Router()
        self._add_routes()

    def _add_routes(self) -> None:
        from audiences_dagster.sandbox.bulk import BulkApi

        add = self.router.add
        add("POST", r"/services/oauth2/token", self.token)
        add("GET", r"/services/data/?", self.versions)
        add("GET", DATA + r"/query/?", lambda r: self.query(r, include_deleted=False))
        add("GET", DATA + r"/queryAll/?", lambda r: self.query(r, include_deleted=True))
        add("GET", DATA + r"/query(?:All)?/(?P<locator>[^/]+)/?", self.query_more)
        add("GET", DATA + r"/limits/?", self.limits)
        add("GET", DATA + r"/sobjects/(?P<sobject>\w+)/updated/?", self.updated)
        add("GET", DATA + r"/sobjects/(?P<sobject>\w+)/deleted/?", self.deleted)
        add("POST", DATA + r"/sobjects/(?P<sobject>\w+)/?", self.create)
        add("GET", DATA + r"/sobjects/(?P<sobject>\w+)/(?P<id>\w+)/?", self.get)
        add("PATCH", DATA + r"/sobjects/(?P<sobject>\w+)/(?P<id>\w+)/?", self.update)
        add("DELETE", DATA + r"/sobjects/(?P<sobject>\w+)/(?P<id>\w+)/?", self.delete)
        add("GET", DATA + r"/sobjects/(?P<sobject>\w+)/(?P<field>\w+)/(?P<value>[^/]+)/?", self.get_by_external_id)
        add("PATCH", DATA + r"/sobjects/(?P<sobject>\w+)/(?P<field>\w+)/(?P<value>[^/]+)/?", self.upsert)
        BulkApi(self).add_routes(self.router)

    # ------------------------------------------------------------ entry point

    def __call__(self, request: ApiRequest) -> ApiResponse:
        handler, params, known = self.router.resolve(request.method, request.path)
        if handler is None:
            if known:
                return _error(SalesforceApiError(405, "METHOD_NOT_ALLOWED",
                                                 f"HTTP Method '{request.method}' not allowed."))
            return _error(SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist"))
        request.params = params
        if not request.path.startswith("/services/data/v"):
            return handler(request)
        return self._data_call(handler, request)

    def _data_call(self, handler, request: ApiRequest) -> ApiResponse:
        """Faults, bearer check and the daily counter, then the handler; Sforce-Limit-Info on every answer."""
        response = self._refusal(request)
        if response is None:
            try:
                response = handler(request)
            except SoqlError as exc:
                response = _error(SalesforceApiError(400, exc.error_code, exc.message))
            except SalesforceApiError as exc:
                response = _error(exc)
        response.headers.setdefault("Sforce-Limit-Info", self.usage.header())
        return response

    def _refusal(self, request: ApiRequest) -> ApiResponse | None:
        fault = self.faults.take("salesforce", ("unauthorized", "rate_limited", "server_error", "slow"))
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay_seconds)
            fault = None
        if fault is not None and fault.kind == "unauthorized" or not self.sessions.is_valid(_bearer(request)):
            response = _error(SalesforceApiError(401, "INVALID_SESSION_ID", "Session expired or invalid"))
            response.headers["WWW-Authenticate"] = "Token"
            return response
        if fault is not None and fault.kind == "server_error":
            return _error(SalesforceApiError(500, "UNKNOWN_EXCEPTION",
                                             "An unexpected error occurred. Please include this ErrorId if you "
                                             "contact support: 1234567890-12345 (-1234567890)"))
        if fault is not None and fault.kind == "rate_limited" or not self.usage.count():
            return _error(SalesforceApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."))
        return None

    # ------------------------------------------------------------ OAuth

    def token(self, request: ApiRequest) -> ApiResponse:
        """POST /services/oauth2/token: password, client credentials and JWT bearer flows."""
        form = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        grant = form.get("grant_type", "")
        try:
            if grant == "password":
                self._check_client(form.get("client_id"), form.get("client_secret"))
                self._check_password(form.get("username"), form.get("password"))
            elif grant == "client_credentials":
                client_id, secret = _basic_auth(request) or (form.get("client_id"), form.get("client_secret"))
                self._check_client(client_id, secret)
            elif grant == JWT_GRANT:
                self._check_jwt(form.get("assertion", ""))
            elif not grant:
                raise _OAuthError("invalid_request", "grant type not supported", 400)
            else:
                raise _OAuthError("unsupported_grant_type", "grant type not supported", 400)
        except _OAuthError as exc:
            return ApiResponse.of_json(exc.status, {"error": exc.error, "error_description": exc.description})
        session = self.sessions.issue(self.credentials.client_id, self.credentials.username)
        issued_at = str(int(time.time() * 1000))
        identity = f"https://login.salesforce.com/id/{ORG_ID}/{USER_ID}"
        signature = base64.b64encode(hmac.new(self.credentials.client_secret.encode(),
                                              (identity + issued_at).encode(), hashlib.sha256).digest()).decode()
        return ApiResponse.of_json(200, {
            "access_token": session.token, "instance_url": self.base_url, "id": identity, "token_type": "Bearer",
            "issued_at": issued_at, "signature": signature, "scope": "api"})

    def _check_client(self, client_id: str | None, secret: str | None) -> None:
        if client_id != self.credentials.client_id:
            raise _OAuthError("invalid_client_id", "client identifier invalid", 400)
        if not hmac.compare_digest(secret or "", self.credentials.client_secret):
            raise _OAuthError("invalid_client", "invalid client credentials", 400)

    def _check_password(self, username: str | None, password: str | None) -> None:
        expected = self.credentials.password + self.credentials.security_token
        if username != self.credentials.username or not hmac.compare_digest(password or "", expected):
            raise _OAuthError("invalid_grant", "authentication failure", 400)

    def _check_jwt(self, assertion: str) -> None:
        """RS256 signature against the connected app's certificate, then iss, aud, sub and exp like Salesforce."""
        try:
            header = jwt.get_unverified_header(assertion)
            if header.get("alg") != "RS256":
                raise _OAuthError("invalid_grant", "invalid assertion", 400)
            public_key = x509.load_pem_x509_certificate(self.credentials.jwt_cert_path.read_bytes()).public_key()
            claims = jwt.decode(assertion, public_key, algorithms=["RS256"],
                                options={"verify_aud": False, "verify_exp": False, "require": ["iss", "sub",
                                                                                               "aud", "exp"]})
        except jwt.PyJWTError:
            raise _OAuthError("invalid_grant", "invalid assertion", 400) from None
        if claims["iss"] != self.credentials.client_id:
            raise _OAuthError("invalid_client_id", "client identifier invalid", 400)
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if not any(a.rstrip("/") in (*JWT_AUDIENCES, self.base_url) for a in audiences):
            raise _OAuthError("invalid_grant", "audience is invalid", 400)
        if not isinstance(claims["exp"], (int, float)) or claims["exp"] <= time.time():
            raise _OAuthError("invalid_grant", "expired authorization code", 400)
        if claims["sub"] != self.credentials.username:
            raise _OAuthError("invalid_grant", "user hasn't approved this consumer", 400)

    # ------------------------------------------------------------ REST query

    def versions(self, request: ApiRequest) -> ApiResponse:
        return ApiResponse.of_json(200, [{"label": f"v{v}", "url": f"/services/data/v{v}", "version": v}
                                         for v in ("58.0", "59.0", "60.0", "61.0", LATEST_VERSION)])

    def query(self, request: ApiRequest, include_deleted: bool) -> ApiResponse:
        """GET query/?q= and queryAll/?q=: first page, and a locator when there are more."""
        soql = request.arg("q")
        if not soql:
            raise SalesforceApiError(400, "MALFORMED_QUERY", "A query string must be provided.")
        compiled = compile_soql(soql)
        version = request.params["version"]
        if compiled.count_only:
            with self.db.read() as conn:
                total = count_matching(conn, compiled, include_deleted)
            return ApiResponse.of_json(200, {"totalSize": total, "done": True, "records": []})
        with self.db.write() as conn:
            cursor_id, total = open_cursor(conn, compiled, include_deleted)
            return self._page(conn, compiled, cursor_id, total, 0, self._batch_size(request), version)

    def query_more(self, request: ApiRequest) -> ApiResponse:
        """GET query/<queryId>-<offset>: the next page of an open cursor."""
        cursor_id, _, offset = request.params["locator"].rpartition("-")
        with self.db.write() as conn:
            cursor = find_cursor(conn, cursor_id) if offset.isdigit() else None
            if cursor is None or int(offset) >= cursor["total"]:
                raise SalesforceApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            return self._page(conn, recompile(cursor), cursor_id, cursor["total"], int(offset),
                              self._batch_size(request), request.params["version"])

    def _page(self, conn, compiled, cursor_id: str, total: int, offset: int, size: int,
              version: str) -> ApiResponse:
        rows = read_page(conn, compiled, cursor_id, offset, size)
        body = {"totalSize": total, "done": offset + size >= total}
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{cursor_id}-{offset + size}"
        else:
            drop_cursor(conn, cursor_id)
        body["records"] = [rest_record(compiled, row, version) for row in rows]
        return ApiResponse.of_json(200, body)

    def _batch_size(self, request: ApiRequest) -> int:
        """Sforce-Query-Options: batchSize=N (200..2000, default 2000), unless a test set a server override."""
        if self.settings.query_page_size:
            return self.settings.query_page_size
        match = re.search(r"batchSize=(\d+)", request.header("Sforce-Query-Options") or "")
        return min(max(int(match.group(1)), 200), 2000) if match else 2000

    # ------------------------------------------------------------ limits and replication

    def limits(self, request: ApiRequest) -> ApiResponse:
        maximum = self.settings.daily_api_requests
        return ApiResponse.of_json(200, {
            "DailyApiRequests": {"Max": maximum, "Remaining": max(maximum - self.usage.used, 0)},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DailyBulkV2QueryFileStorageMB": {"Max": 1048576, "Remaining": 1048576},
        })

    def updated(self, request: ApiRequest) -> ApiResponse:
        """GET sobjects/X/updated/?start=&end=: ids changed in the window (at most 30 days back)."""
        obj = require_sobject(request.params["sobject"])
        start, end = self._replication_window(request, days=30)
        with self.db.read() as conn:
            ids = [r[0] for r in conn.execute(
                f'SELECT "Id" FROM {obj.table} WHERE "SystemModstamp" >= ? AND "SystemModstamp" <= ?'
                f' AND "IsDeleted" = 0 ORDER BY "SystemModstamp", "Id" LIMIT 600001', (start, end))]
        if len(ids) > 600_000:
            raise SalesforceApiError(400, "EXCEEDED_ID_LIMIT", "record limit reached. narrow the date range")
        return ApiResponse.of_json(200, {"ids": ids, "latestDateCovered": salesforce_datetime(_minute(end))})

    def deleted(self, request: ApiRequest) -> ApiResponse:
        """GET sobjects/X/deleted/?start=&end=: records in the Recycle Bin deleted in the window (15 days)."""
        obj = require_sobject(request.params["sobject"])
        start, end = self._replication_window(request, days=15)
        with self.db.read() as conn:
            rows = conn.execute(
                f'SELECT "Id", "SystemModstamp" FROM {obj.table} WHERE "IsDeleted" = 1 AND "SystemModstamp" >= ?'
                f' AND "SystemModstamp" <= ? ORDER BY "SystemModstamp", "Id"', (start, end)).fetchall()
        earliest = self.clock.now_ms() - int(timedelta(days=15).total_seconds() * 1000)
        return ApiResponse.of_json(200, {
            "deletedRecords": [{"id": r["Id"], "deletedDate": salesforce_datetime(r["SystemModstamp"])}
                               for r in rows],
            "earliestDateAvailable": salesforce_datetime(_minute(earliest)),
            "latestDateCovered": salesforce_datetime(_minute(end))})

    def _replication_window(self, request: ApiRequest, days: int) -> tuple[int, int]:
        try:
            start = to_ms(parse_datetime(unquote(request.arg("start", ""))))
            end = to_ms(parse_datetime(unquote(request.arg("end", ""))))
        except ValueError:
            raise SalesforceApiError(400, "MALFORMED_QUERY", "start and end must be ISO 8601 datetimes") from None
        oldest = self.clock.now_ms() - days * 24 * 3600 * 1000
        if start < oldest or end < start:
            raise SalesforceApiError(400, "INVALID_REPLICATION_DATE",
                                     f"startDate must be within the last {days} days and before endDate")
        return start, min(end, self.clock.now_ms())

    # ------------------------------------------------------------ sObject rows

    def get(self, request: ApiRequest) -> ApiResponse:
        obj = require_sobject(request.params["sobject"])
        row = self.records.get(obj.name, request.params["id"], include_deleted=False)
        if row is None:
            raise SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return ApiResponse.of_json(200, _record_json(obj, row, request))

    def get_by_external_id(self, request: ApiRequest) -> ApiResponse:
        obj = require_sobject(request.params["sobject"])
        field = self._external_id_field(obj, request.params["field"])
        with self.db.read() as conn:
            ids = self.records.find_by(conn, obj, field, unquote(request.params["value"]))
        if not ids:
            raise SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist")
        if len(ids) > 1:
            return ApiResponse.of_json(300, [f"/services/data/v{request.params['version']}/sobjects/{obj.name}/{i}"
                                             for i in ids])
        return ApiResponse.of_json(200, _record_json(obj, self.records.get(obj.name, ids[0]), request))

    def create(self, request: ApiRequest) -> ApiResponse:
        obj = require_sobject(request.params["sobject"])
        record_id = self.records.create(obj.name, _json_body(request))
        return ApiResponse.of_json(201, {"id": record_id, "success": True, "errors": []})

    def update(self, request: ApiRequest) -> ApiResponse:
        obj = require_sobject(request.params["sobject"])
        self.records.update(obj.name, request.params["id"], _json_body(request))
        return ApiResponse.empty(204)

    def delete(self, request: ApiRequest) -> ApiResponse:
        obj = require_sobject(request.params["sobject"])
        self.records.delete(obj.name, request.params["id"])
        return ApiResponse.empty(204)

    def upsert(self, request: ApiRequest) -> ApiResponse:
        """PATCH sobjects/X/<ExtField>/<value>: 201 + created=true on insert, 200 + created=false on update."""
        obj = require_sobject(request.params["sobject"])
        field = self._external_id_field(obj, request.params["field"])
        value = unquote(request.params["value"])
        body = _json_body(request)
        with self.db.write() as conn:
            ids = self.records.find_by(conn, obj, field, value)
            if len(ids) > 1:
                return ApiResponse.of_json(300, [f"/services/data/v{request.params['version']}/sobjects/"
                                                 f"{obj.name}/{i}" for i in ids])
            if ids:
                self.records.apply_update(conn, obj, ids[0], body)
                return ApiResponse.of_json(200, {"id": ids[0], "success": True, "errors": [], "created": False})
            new_id = self.records.insert(conn, obj, [{**body, field: value}] if field != "Id" else [body])[0]
        return ApiResponse.of_json(201, {"id": new_id, "success": True, "errors": [], "created": True})

    def _external_id_field(self, obj, name: str) -> str:
        field = obj.field(name)
        if field is None or not (field.external_id or field.name == "Id"):
            raise SalesforceApiError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not "
                                                       f"accessible: {name}")
        return field.name


class _OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def _error(exc: SalesforceApiError) -> ApiResponse:
    return ApiResponse.of_json(exc.status, exc.body())


def _bearer(request: ApiRequest) -> str | None:
    """Salesforce takes `Bearer <token>` (and the older `OAuth <token>`)."""
    value = request.header("Authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() in ("bearer", "oauth") else None


def _basic_auth(request: ApiRequest) -> tuple[str, str] | None:
    value = request.header("Authorization") or ""
    if not value.lower().startswith("basic "):
        return None
    client_id, _, secret = base64.b64decode(value[6:]).decode().partition(":")
    return unquote(client_id), unquote(secret)


def _json_body(request: ApiRequest) -> dict:
    try:
        body = request.json()
    except ValueError:
        raise SalesforceApiError(400, "JSON_PARSER_ERROR", "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise SalesforceApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object with field values")
    return body


def _record_json(obj, row: dict, request: ApiRequest) -> dict:
    """GET sobjects/X/id: attributes then every field (or the ?fields= subset)."""
    wanted = request.args("fields")
    fields = [obj.field(n) for n in wanted] if wanted else list(obj.fields)
    if None in fields:
        raise SalesforceApiError(400, "INVALID_FIELD", f"No such column on entity '{obj.name}'")
    record = {"attributes": {"type": obj.name,
                             "url": f"/services/data/v{request.params['version']}/sobjects/{obj.name}/{row['Id']}"}}
    record.update({f.name: json_value(f, row[f.name]) for f in fields})
    return record


def _minute(ms: int) -> int:
    return ms - ms % 60_000

