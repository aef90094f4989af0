"""Test hooks over HTTP under /__sandbox__/ (not part of either CRM's API), so a test in another process can
change data, move the clock, and inject faults exactly as the Python API on the Sandbox object does."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from audiences_dagster.sandbox.clock import hubspot_datetime, parse_datetime
from audiences_dagster.sandbox.errors import HubSpotApiError, SalesforceApiError, SandboxError
from audiences_dagster.sandbox.http import ApiRequest, ApiResponse, Router
from audiences_dagster.sandbox.hubspot_records import check_hook_object_type
from audiences_dagster.sandbox.records import check_hook_sobject

if TYPE_CHECKING:
    from audiences_dagster.sandbox.server import Sandbox

SF = r"/__sandbox__/salesforce"
HS = r"/__sandbox__/hubspot"


def hook_router(sandbox: Sandbox):
    """A request handler for every /__sandbox__/ path."""
    router = Router()
    sf, hs = sandbox.salesforce, sandbox.hubspot
    add = router.add
    add("POST", SF + r"/records/(?P<sobject>\w+)",
        lambda r: _created(sf.create(check_hook_sobject(r.params["sobject"]).name, _body(r), system=True)))
    add("PATCH", SF + r"/records/(?P<sobject>\w+)/(?P<id>\w+)",
        lambda r: _done(sf.update(check_hook_sobject(r.params["sobject"]).name, r.params["id"], _body(r),
                                  system=_flag(r, "system"))))
    add("DELETE", SF + r"/records/(?P<sobject>\w+)/(?P<id>\w+)",
        lambda r: _done((sf.hard_delete if _flag(r, "hard") else sf.delete)(
            check_hook_sobject(r.params["sobject"]).name, r.params["id"])))
    add("POST", SF + r"/records/(?P<sobject>\w+)/(?P<id>\w+)/undelete",
        lambda r: _done(sf.undelete(check_hook_sobject(r.params["sobject"]).name, r.params["id"])))
    add("POST", SF + r"/convertLead", lambda r: ApiResponse.of_json(200, sf.convert_lead(
        _body(r)["leadId"], _body(r).get("contactId"), _body(r).get("accountId"),
        bool(_body(r).get("createOpportunity")))))
    add("POST", SF + r"/merge", lambda r: _done(sf.merge(
        check_hook_sobject(_body(r)["sobject"]).name, _body(r)["masterRecordId"], list(_body(r)["recordIds"]))))
    add("POST", SF + r"/purgeRecycleBin",
        lambda r: ApiResponse.of_json(200, {"purged": sf.purge_recycle_bin(_body(r).get("sobject"))}))
    add("POST", SF + r"/expireSessions", lambda r: _done(sandbox.expire_salesforce_sessions()))
    add("POST", SF + r"/token", lambda r: ApiResponse.of_json(200, {"access_token": sandbox.salesforce_access_token()}))
    add("POST", HS + r"/objects/(?P<type>[\w-]+)",
        lambda r: _created(hs.create(check_hook_object_type(r.params["type"]), _body(r), system=True)))
    add("PATCH", HS + r"/objects/(?P<type>[\w-]+)/(?P<id>\d+)",
        lambda r: _done(hs.update(check_hook_object_type(r.params["type"]), r.params["id"], _body(r))))
    add("DELETE", HS + r"/objects/(?P<type>[\w-]+)/(?P<id>\d+)",
        lambda r: _done((hs.hard_delete if _flag(r, "hard") else hs.archive)(
            check_hook_object_type(r.params["type"]), r.params["id"])))
    add("POST", HS + r"/objects/(?P<type>[\w-]+)/(?P<id>\d+)/restore",
        lambda r: _done(hs.restore(check_hook_object_type(r.params["type"]), r.params["id"])))
    add("POST", HS + r"/merge", lambda r: _created(hs.merge(
        check_hook_object_type(_body(r)["objectType"]), _body(r)["primaryObjectId"], _body(r)["objectIdToMerge"])))
    add("POST", HS + r"/associate", lambda r: _done(hs.associate(
        _body(r)["contactId"], _body(r)["companyId"], bool(_body(r).get("primary")))))
    add("GET", r"/__sandbox__/clock", lambda r: _clock(sandbox))
    add("POST", r"/__sandbox__/clock", lambda r: _set_clock(sandbox, _body(r)))
    add("POST", r"/__sandbox__/faults", lambda r: _done(sandbox.inject_fault(
        _body(r)["api"], _body(r)["kind"], int(_body(r).get("count", 1)), float(_body(r).get("delaySeconds", 0)),
        _body(r).get("policy", "TEN_SECONDLY_ROLLING"))))
    add("DELETE", r"/__sandbox__/faults", lambda r: _done(sandbox.faults.clear()))
    add("PATCH", r"/__sandbox__/settings/(?P<api>salesforce|hubspot)", lambda r: _settings(sandbox, r))
    return lambda request: _dispatch(router, request)


def _dispatch(router: Router, request: ApiRequest) -> ApiResponse:
    handler, params, _ = router.resolve(request.method, request.path.rstrip("/"))
    if handler is None:
        return ApiResponse.of_json(404, {"error": f"no sandbox hook {request.method} {request.path}"})
    request.params = params
    try:
        return handler(request)
    except (SandboxError, KeyError, ValueError, TypeError) as exc:
        return ApiResponse.of_json(400, {"error": f"{type(exc).__name__}: {exc}"})
    except SalesforceApiError as exc:
        return ApiResponse.of_json(exc.status, {"error": exc.message, "errorCode": exc.error_code})
    except HubSpotApiError as exc:
        return ApiResponse.of_json(exc.status, {"error": exc.message, "category": exc.category})


def _body(request: ApiRequest) -> dict:
    body = request.json()
    return body if isinstance(body, dict) else {}


def _flag(request: ApiRequest, name: str) -> bool:
    return (request.arg(name) or "").lower() == "true"


def _created(record_id) -> ApiResponse:
    return ApiResponse.of_json(201, {"id": str(record_id)})


def _done(_result=None) -> ApiResponse:
    return ApiResponse.empty(204)


def _clock(sandbox: Sandbox) -> ApiResponse:
    return ApiResponse.of_json(200, {"now": hubspot_datetime(sandbox.clock.now_ms())})


def _set_clock(sandbox: Sandbox, body: dict) -> ApiResponse:
    """{"now": ISO, "frozen": bool} jumps; {"advanceSeconds": n} moves time by n seconds."""
    if "now" in body:
        sandbox.set_clock(parse_datetime(body["now"]), bool(body.get("frozen")))
    if "advanceSeconds" in body:
        sandbox.advance_clock(timedelta(seconds=float(body["advanceSeconds"])))
    return _clock(sandbox)


def _settings(sandbox: Sandbox, request: ApiRequest) -> ApiResponse:
    """Change limits and page sizes at run time, e.g. {"query_page_size": 3} or {"daily_limit": 10}."""
    settings = sandbox.salesforce_settings if request.params["api"] == "salesforce" else sandbox.hubspot_settings
    for name, value in _body(request).items():
        if not hasattr(settings, name):
            raise SandboxError(f"unknown {request.params['api']} setting {name!r}")
        setattr(settings, name, value)
    return ApiResponse.of_json(200, vars(settings))
