"""The HubSpot double: CRM v3 objects (list, get, search, batch read/upsert/update/create/archive, merge) and v4
associations for contacts and companies, behind HubSpot's bearer check, rate limits and error bodies."""

from __future__ import annotations

import base64
import time
import uuid
from datetime import datetime, timezone

from audiences_dagster.sandbox.clock import SandboxClock, hubspot_datetime, to_ms
from audiences_dagster.sandbox.controls import FaultInjector, HubSpotSettings, HubSpotUsage
from audiences_dagster.sandbox.database import SandboxDatabase
from audiences_dagster.sandbox.errors import HubSpotApiError
from audiences_dagster.sandbox.hubspot_records import HubSpotRecords, require_object_type
from audiences_dagster.sandbox.hubspot_search import SearchRequest
from audiences_dagster.sandbox.http import ApiRequest, ApiResponse, Router
from audiences_dagster.sandbox.schema import (
    HUBSPOT_DEFAULT_PROPERTIES, HUBSPOT_MODIFIED_PROPERTY, HUBSPOT_OBJECT_NAMES,
)

OBJECTS = r"/crm/v3/objects/(?P<type>[\w-]+)"
BATCH_LIMIT = 100
LIST_LIMIT = 100
ASSOCIATION_TYPES = {  # (from, to) -> (primary type id, unlabeled type id, v3 type name)
    ("contacts", "companies"): (1, 279, "contact_to_company"),
    ("companies", "contacts"): (2, 280, "company_to_contact"),
}


class HubSpotApi:
    def __init__(self, db: SandboxDatabase, clock: SandboxClock, records: HubSpotRecords, usage: HubSpotUsage,
                 faults: FaultInjector, settings: HubSpotSettings, access_tokens: set[str]) -> None:
        self.db, self.clock, self.records, self.usage = db, clock, records, usage
        self.faults, self.settings, self.access_tokens = faults, settings, access_tokens
        self.router = Router()
        self._add_routes()

    def _add_routes(self) -> None:
        add = self.router.add
        add("GET", OBJECTS + r"/?", self.list_page)
        add("POST", OBJECTS + r"/?", self.create)
        add("POST", OBJECTS + r"/search/?", self.search)
        add("POST", OBJECTS + r"/merge/?", self.merge)
        add("POST", OBJECTS + r"/batch/read/?", self.batch_read)
        add("POST", OBJECTS + r"/batch/upsert/?", self.batch_upsert)
        add("POST", OBJECTS + r"/batch/update/?", self.batch_update)
        add("POST", OBJECTS + r"/batch/create/?", self.batch_create)
        add("POST", OBJECTS + r"/batch/archive/?", self.batch_archive)
        add("GET", OBJECTS + r"/(?P<id>[^/]+)/?", self.get)
        add("PATCH", OBJECTS + r"/(?P<id>[^/]+)/?", self.update)
        add("DELETE", OBJECTS + r"/(?P<id>[^/]+)/?", self.archive)
        add("GET", r"/crm/v4/objects/(?P<type>[\w-]+)/(?P<id>\d+)/associations/(?P<to>[\w-]+)/?",
            self.associations_page)
        add("POST", r"/crm/v4/associations/(?P<type>[\w-]+)/(?P<to>[\w-]+)/batch/read/?", self.associations_batch)
        add("PUT", r"/crm/v4/objects/(?P<type>[\w-]+)/(?P<id>\d+)/associations/default/(?P<to>[\w-]+)/(?P<to_id>\d+)"
            r"/?", self.associate_default)
        add("POST", r"/crm/v4/associations/(?P<type>[\w-]+)/(?P<to>[\w-]+)/batch/associate/default/?",
            self.associate_default_batch)

    # ------------------------------------------------------------ entry point

    def __call__(self, request: ApiRequest) -> ApiResponse:
        handler, params, known = self.router.resolve(request.method, request.path)
        if handler is None:
            status = 405 if known else 404
            return _error(HubSpotApiError(status, "OBJECT_NOT_FOUND" if status == 404 else "VALIDATION_ERROR",
                                          f"No route for {request.method} {request.path}"))
        request.params = params
        search = request.path.rstrip("/").endswith("/search")
        refusal = self._refusal(request, search)
        if refusal is not None:
            return refusal
        try:
            response = handler(request)
        except HubSpotApiError as exc:
            response = _error(exc)
        except (ValueError, KeyError, TypeError) as exc:
            response = _error(HubSpotApiError(400, "VALIDATION_ERROR", f"Invalid input JSON: {exc}"))
        if not search:
            response.headers.update(self.usage.headers())
        return response

    def _refusal(self, request: ApiRequest, search: bool) -> ApiResponse | None:
        """Injected faults, the bearer check, then the burst/daily/search buckets."""
        fault = self.faults.take("hubspot", ("unauthorized", "rate_limited", "server_error", "slow"))
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay_seconds)
            fault = None
        token = (request.header("Authorization") or "").partition(" ")[2].strip()
        if (fault is not None and fault.kind == "unauthorized") or token not in self.access_tokens:
            return _error(HubSpotApiError(
                401, "INVALID_AUTHENTICATION", "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/"
                "oauth-overview"))
        if fault is not None and fault.kind == "server_error":
            return ApiResponse.of_json(500, {"status": "error", "message": "internal error",
                                             "correlationId": str(uuid.uuid4())})
        policy = fault.policy if fault is not None and fault.kind == "rate_limited" else self.usage.admit(search)
        return self._rate_limited(policy, search) if policy else None

    def _rate_limited(self, policy: str, search: bool) -> ApiResponse:
        wording = {"DAILY": "daily", "TEN_SECONDLY_ROLLING": "ten_secondly_rolling", "SECONDLY": "secondly"}
        response = ApiResponse.of_json(429, {
            "status": "error", "message": f"You have reached your {wording.get(policy, policy.lower())} limit.",
            "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()), "policyName": policy})
        if not search:
            response.headers.update(self.usage.headers())
        if self.settings.send_retry_after:
            response.headers["Retry-After"] = "1" if policy != "DAILY" else "86400"
        return response

    # ------------------------------------------------------------ single objects

    def list_page(self, request: ApiRequest) -> ApiResponse:
        """GET objects/<type>: id-ordered pages of <= 100, opaque `after`, archived=true lists only archived."""
        object_type = require_object_type(request.params["type"])
        limit = min(_int_arg(request.arg("limit", "10"), "limit"), LIST_LIMIT)
        start = _decode_after(request.arg("after"))
        archived = _bool(request.arg("archived"))
        with self.db.read() as conn:
            rows = conn.execute("SELECT * FROM hs_object WHERE object_type = ? AND archived = ? AND id >= ?"
                                " ORDER BY id LIMIT ?", (object_type, int(archived), start, limit + 1)).fetchall()
            results = [self._rendered(conn, r, request) for r in rows[:limit]]
        body: dict = {"results": results}
        if len(rows) > limit:
            after = _encode_after(rows[limit]["id"])
            body["paging"] = {"next": {"after": after, "link": f"?after={after}"}}
        return ApiResponse.of_json(200, body)

    def get(self, request: ApiRequest) -> ApiResponse:
        """GET objects/<type>/<id>: merged-away ids answer with the merged record (whose id differs)."""
        object_type = require_object_type(request.params["type"])
        archived = _bool(request.arg("archived"))
        with self.db.read() as conn:
            row = self._lookup(conn, object_type, request.params["id"], request.arg("idProperty"), archived)
            return ApiResponse.of_json(200, self._rendered(conn, row, request))

    def create(self, request: ApiRequest) -> ApiResponse:
        object_type = require_object_type(request.params["type"])
        body = request.json() or {}
        with self.db.write() as conn:
            new_id = self.records.insert(conn, object_type, [body.get("properties") or {}])[0]
            self._associate_inputs(conn, object_type, new_id, body.get("associations") or [])
            row = self.records.row(conn, object_type, new_id)
            return ApiResponse.of_json(201, self.records.render(row, self._wanted(object_type, [], True)))

    def update(self, request: ApiRequest) -> ApiResponse:
        object_type = require_object_type(request.params["type"])
        body = request.json() or {}
        with self.db.write() as conn:
            row = self._lookup(conn, object_type, request.params["id"], request.arg("idProperty"), False)
            self.records.apply_update(conn, object_type, row["id"], body.get("properties") or {})
            row = self.records.row(conn, object_type, row["id"])
            return ApiResponse.of_json(200, self.records.render(row, self._wanted(object_type, [], True)))

    def archive(self, request: ApiRequest) -> ApiResponse:
        object_type = require_object_type(request.params["type"])
        self.records.archive(object_type, request.params["id"])
        return ApiResponse.empty(204)

    def merge(self, request: ApiRequest) -> ApiResponse:
        """POST objects/<type>/merge: returns the new merged record."""
        object_type = require_object_type(request.params["type"])
        body = request.json() or {}
        new_id = self.records.merge(object_type, body["primaryObjectId"], body["objectIdToMerge"])
        with self.db.read() as conn:
            row = self.records.row(conn, object_type, new_id)
            wanted = [*self._wanted(object_type, [], True), "hs_merged_object_ids"]
            return ApiResponse.of_json(200, self.records.render(row, wanted))

    def search(self, request: ApiRequest) -> ApiResponse:
        object_type = require_object_type(request.params["type"])
        search = SearchRequest.parse(object_type, request.json() or {}, self.settings)
        with self.db.read() as conn:
            total, rows = search.run(conn, self.settings.index_lag_ms)
            wanted = self._wanted(object_type, search.properties, True)
            results = [self.records.render(r, wanted) for r in rows]
        body: dict = {"total": total, "results": results}
        if search.offset + len(rows) < total:
            body["paging"] = {"next": {"after": str(search.offset + len(rows)),
                                       "link": f"?after={search.offset + len(rows)}"}}
        return ApiResponse.of_json(200, body)

    # ------------------------------------------------------------ batches

    def batch_read(self, request: ApiRequest) -> ApiResponse:
        object_type = require_object_type(request.params["type"])
        body = request.json() or {}
        inputs = _inputs(body)
        archived = _bool(request.arg("archived"))
        id_property = body.get("idProperty")
        results, missing = [], []
        with self.db.read() as conn:
            for item in inputs:
                try:
                    row = self._lookup(conn, object_type, str(item["id"]), id_property, archived)
                except HubSpotApiError:
                    missing.append(str(item["id"]))
                    continue
                results.append(self._rendered(conn, row, request, body))
        errors = [{"status": "error", "category": "OBJECT_NOT_FOUND",
                   "message": f"Could not get some {HUBSPOT_OBJECT_NAMES[object_type]} objects, they may be "
                              "deleted or not exist. Check that ids are valid.",
                   "context": {"ids": missing}}] if missing else []
        return _batch(results, errors)

    def batch_upsert(self, request: ApiRequest) -> ApiResponse:
        """Match on a unique property: update the match, or create with that value set; each result says `new`."""
        object_type = require_object_type(request.params["type"])
        results, errors = [], []
        with self.db.write() as conn:
            for item in _inputs(request.json() or {}):
                prop = self.records.unique_property(object_type, item.get("idProperty") or "")
                try:
                    existing = self.records.by_unique(conn, object_type, prop, str(item["id"]))
                    props = dict(item.get("properties") or {})
                    if existing is None:
                        existing, new = self.records.insert(conn, object_type, [{**props, prop: item["id"]}])[0], True
                    else:
                        self.records.apply_update(conn, object_type, existing, props)
                        new = False
                except HubSpotApiError as exc:
                    errors.append(_batch_error(exc, item))
                    continue
                row = self.records.row(conn, object_type, existing)
                results.append({**self.records.render(row, self._wanted(object_type, [], True)), "new": new})
        return _batch(results, errors)

    def batch_update(self, request: ApiRequest) -> ApiResponse:
        object_type = require_object_type(request.params["type"])
        results, errors = [], []
        with self.db.write() as conn:
            for item in _inputs(request.json() or {}):
                try:
                    row = self._lookup(conn, object_type, str(item["id"]), item.get("idProperty"), False)
                    self.records.apply_update(conn, object_type, row["id"], item.get("properties") or {})
                except HubSpotApiError as exc:
                    errors.append(_batch_error(exc, item))
                    continue
                row = self.records.row(conn, object_type, row["id"])
                results.append(self.records.render(row, self._wanted(object_type, [], True)))
        return _batch(results, errors)

    def batch_create(self, request: ApiRequest) -> ApiResponse:
        """201 when all are created; 207 with errors only when inputs carry objectWriteTraceId."""
        object_type = require_object_type(request.params["type"])
        inputs = _inputs(request.json() or {})
        traced = all(item.get("objectWriteTraceId") for item in inputs)
        results, errors = [], []
        with self.db.write() as conn:
            for item in inputs:
                try:
                    new_id = self.records.insert(conn, object_type, [item.get("properties") or {}])[0]
                    self._associate_inputs(conn, object_type, new_id, item.get("associations") or [])
                except HubSpotApiError as exc:
                    if not traced:
                        raise
                    errors.append(_batch_error(exc, item))
                    continue
                row = self.records.row(conn, object_type, new_id)
                results.append(self.records.render(row, self._wanted(object_type, [], True)))
        return _batch(results, errors, ok_status=201)

    def batch_archive(self, request: ApiRequest) -> ApiResponse:
        object_type = require_object_type(request.params["type"])
        with self.db.write() as conn:
            for item in _inputs(request.json() or {}):
                try:
                    self.records.apply_archive(conn, object_type, item["id"])
                except HubSpotApiError:
                    pass  # HubSpot answers 204 for ids that are already gone
        return ApiResponse.empty(204)

    # ------------------------------------------------------------ associations (v4)

    def associations_page(self, request: ApiRequest) -> ApiResponse:
        """GET v4 objects/<type>/<id>/associations/<to>: toObjectId as a number, typeIds 1/279 or 2/280."""
        pair = self._pair(request)
        limit = min(_int_arg(request.arg("limit", "500"), "limit"), 500)
        start = _decode_after(request.arg("after"))
        with self.db.read() as conn:
            own = self.records.row(conn, pair[0], request.params["id"])["id"]
            targets = _associated(conn, pair, own, start, limit + 1)
        body: dict = {"results": [_v4_target(pair, t, p) for t, p in targets[:limit]]}
        if len(targets) > limit:
            after = _encode_after(targets[limit][0])
            body["paging"] = {"next": {"after": after, "link": f"?after={after}"}}
        return ApiResponse.of_json(200, body)

    def associations_batch(self, request: ApiRequest) -> ApiResponse:
        """POST v4 associations/<from>/<to>/batch/read: inputs with none are left out and reported (207)."""
        pair = self._pair(request)
        inputs = (request.json() or {}).get("inputs") or []
        if len(inputs) > 1000:
            raise HubSpotApiError(400, "VALIDATION_ERROR", "Batch input cannot exceed 1000 inputs")
        results, errors = [], []
        singular = {"contacts": "contact", "companies": "company"}
        with self.db.read() as conn:
            for item in inputs:
                own = self.records.resolve(conn, pair[0], item["id"])
                targets = _associated(conn, pair, own, 0, 501) if own is not None else []
                if not targets:
                    errors.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                                   "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                                   "message": f"No {singular[pair[1]]} is associated with {singular[pair[0]]} "
                                              f"{item['id']}.", "context": {"fromObjectId": [str(item["id"])]}})
                    continue
                results.append({"from": {"id": str(item["id"])},
                                "to": [_v4_target(pair, t, p) for t, p in targets[:500]]})
        return _batch(results, errors)

    def associate_default(self, request: ApiRequest) -> ApiResponse:
        pair = self._pair(request)
        contact, company = _contact_company(pair, request.params["id"], request.params["to_id"])
        self.records.associate(contact, company)
        return _batch([_default_spec(pair, request.params["id"], request.params["to_id"])], [])

    def associate_default_batch(self, request: ApiRequest) -> ApiResponse:
        pair = self._pair(request)
        results = []
        with self.db.write() as conn:
            for item in (request.json() or {}).get("inputs") or []:
                source, target = str(item["from"]["id"]), str(item["to"]["id"])
                self.records.apply_associate(conn, *_contact_company(pair, source, target))
                results.append(_default_spec(pair, source, target))
        return _batch(results, [])

    # ------------------------------------------------------------ helpers

    def _pair(self, request: ApiRequest) -> tuple[str, str]:
        pair = (require_object_type(request.params["type"]), require_object_type(request.params["to"]))
        if pair not in ASSOCIATION_TYPES:
            raise HubSpotApiError(400, "VALIDATION_ERROR", f"The sandbox associates contacts and companies, "
                                                           f"not {pair[0]} with {pair[1]}")
        return pair

    def _lookup(self, conn, object_type: str, object_id: str, id_property: str | None, archived: bool):
        if id_property and id_property != "hs_object_id":
            prop = self.records.unique_property(object_type, id_property)
            found = self.records.by_unique(conn, object_type, prop, object_id)
            if found is None:
                raise HubSpotApiError(404, "OBJECT_NOT_FOUND", "resource not found")
            object_id = str(found)
        return self.records.row(conn, object_type, object_id, archived=archived)

    def _wanted(self, object_type: str, requested: list[str], defaults: bool) -> list[str]:
        """The defaults (or, with explicit properties, the always-sent system ones) plus what was asked for."""
        always = ("createdate", HUBSPOT_MODIFIED_PROPERTY[object_type], "hs_object_id")
        base = HUBSPOT_DEFAULT_PROPERTIES[object_type] if defaults or not requested else always
        return [*requested, *base]

    def _rendered(self, conn, row, request: ApiRequest, body: dict | None = None) -> dict:
        """An object as list/get/batch-read return it: requested properties (or the defaults) and associations."""
        requested = list((body or {}).get("properties") or []) if body is not None else request.args("properties")
        history = list((body or {}).get("propertiesWithHistory") or []) if body is not None else \
            request.args("propertiesWithHistory")
        result = self.records.render(row, self._wanted(row["object_type"], requested, not requested), history)
        kinds = request.args("associations") if body is None else []
        inline = {}
        for kind in kinds:
            to_type = require_object_type(kind)
            pair = (row["object_type"], to_type)
            if pair in ASSOCIATION_TYPES:
                _, _, name = ASSOCIATION_TYPES[pair]
                targets = _associated(conn, pair, row["id"], 0, 501)
                inline[to_type] = {"results": [{"id": str(t), "type": label} for t, p in targets for label in
                                               ([name] if p else []) + [f"{name}_unlabeled"]]}
        if inline:
            result["associations"] = inline
        return result

    def _associate_inputs(self, conn, object_type: str, own_id: int, associations: list[dict]) -> None:
        for item in associations:
            target = str(item["to"]["id"])
            types = {t.get("associationTypeId") for t in item.get("types") or []}
            contact, company = (own_id, target) if object_type == "contacts" else (target, own_id)
            self.records.apply_associate(conn, contact, company, primary=bool(types & {1, 2}))


def _associated(conn, pair: tuple[str, str], own_id: int, start: int, limit: int) -> list[tuple[int, bool]]:
    mine, theirs = ("contact_id", "company_id") if pair[0] == "contacts" else ("company_id", "contact_id")
    rows = conn.execute(f"SELECT {theirs} AS target, is_primary FROM hs_association WHERE {mine} = ? AND"
                        f" {theirs} >= ? ORDER BY {theirs} LIMIT ?", (own_id, start, limit)).fetchall()
    return [(r["target"], bool(r["is_primary"])) for r in rows]


def _v4_target(pair: tuple[str, str], target: int, primary: bool) -> dict:
    primary_type, unlabeled, _ = ASSOCIATION_TYPES[pair]
    types = [{"category": "HUBSPOT_DEFINED", "typeId": primary_type, "label": "Primary"}] if primary else []
    types.append({"category": "HUBSPOT_DEFINED", "typeId": unlabeled, "label": None})
    return {"toObjectId": target, "associationTypes": types}


def _default_spec(pair: tuple[str, str], source: str, target: str) -> dict:
    return {"from": {"id": source}, "to": {"id": target},
            "associationSpec": {"associationCategory": "HUBSPOT_DEFINED",
                                "associationTypeId": ASSOCIATION_TYPES[pair][1]}}


def _contact_company(pair: tuple[str, str], source: str, target: str) -> tuple[str, str]:
    return (source, target) if pair[0] == "contacts" else (target, source)


def _inputs(body: dict) -> list[dict]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise HubSpotApiError(400, "VALIDATION_ERROR", "Invalid input JSON: inputs must be a list")
    if len(inputs) > BATCH_LIMIT:
        raise HubSpotApiError(400, "VALIDATION_ERROR", f"Batch input cannot exceed {BATCH_LIMIT} inputs, "
                                                       f"{len(inputs)} provided",
                              context={"maxInputs": [str(BATCH_LIMIT)]})
    return inputs


def _batch(results: list, errors: list, ok_status: int = 200) -> ApiResponse:
    """BatchResponse...: 200/201 when every input worked, 207 with numErrors/errors otherwise."""
    now = datetime.now(timezone.utc)
    stamp = hubspot_datetime(to_ms(now))
    body = {"status": "COMPLETE", "results": results, "startedAt": stamp, "completedAt": stamp}
    if errors:
        body.update(numErrors=len(errors), errors=errors)
        return ApiResponse.of_json(207, body)
    return ApiResponse.of_json(ok_status, body)


def _batch_error(exc: HubSpotApiError, item: dict) -> dict:
    error = {"status": "error", "category": exc.category, "message": exc.message,
             "context": {"ids": [str(item.get("id", ""))]}}
    if item.get("objectWriteTraceId"):
        error["context"]["objectWriteTraceId"] = [item["objectWriteTraceId"]]
    return error


def _error(exc: HubSpotApiError) -> ApiResponse:
    return ApiResponse.of_json(exc.status, exc.body())


def _bool(value: str | None) -> bool:
    return (value or "").lower() == "true"


def _int_arg(value: str, name: str) -> int:
    if not value.lstrip("-").isdigit():
        raise HubSpotApiError(400, "VALIDATION_ERROR", f"{name} must be an integer, got {value!r}")
    return max(int(value), 1)


def _encode_after(record_id: int) -> str:
    return base64.b64encode(f"{record_id}".encode()).decode().rstrip("=")


def _decode_after(after: str | None) -> int:
    """The list cursor is opaque to clients; here it is the base64 of the next id."""
    if not after:
        return 0
    try:
        return int(base64.b64decode(after + "=" * (-len(after) % 4)).decode())
    except ValueError:
        raise HubSpotApiError(400, "VALIDATION_ERROR", f"Invalid after cursor: {after}") from None

