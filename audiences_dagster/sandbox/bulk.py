"""Bulk API 2.0: query jobs (state machine, CSV result pages behind Sforce-Locator) and ingest jobs (CSV upload,
insert/update/upsert/delete, per-row results). Jobs advance one state per poll so clients really poll."""

from __future__ import annotations

import base64
import csv
import io
import json
import sqlite3
from typing import TYPE_CHECKING

from audiences_dagster.sandbox.clock import salesforce_csv_datetime, salesforce_datetime
from audiences_dagster.sandbox.errors import SalesforceApiError
from audiences_dagster.sandbox.http import ApiRequest, ApiResponse, Router
from audiences_dagster.sandbox.ingest import DELIMITERS, IngestBatch, IngestJobFailed
from audiences_dagster.sandbox.querying import drop_cursor, open_cursor, read_page
from audiences_dagster.sandbox.schema import SObjectField, sobject
from audiences_dagster.sandbox.soql import compile_soql

if TYPE_CHECKING:
    from audiences_dagster.sandbox.salesforce import SalesforceApi

DATA = r"/services/data/v(?P<version>\d+\.\d+)"
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
TERMINAL = ("JobComplete", "Failed", "Aborted")
JOB_PREFIX = "750"


class BulkApi:
    """Bulk 2.0 endpoints; shares the Salesforce API's database, records, clock and faults."""

    def __init__(self, api: SalesforceApi) -> None:
        self.api = api
        self.db = api.db

    def add_routes(self, router: Router) -> None:
        add = router.add
        add("POST", DATA + r"/jobs/query/?", self.create_query_job)
        add("GET", DATA + r"/jobs/query/?", lambda r: self.list_jobs(r, "query"))
        add("GET", DATA + r"/jobs/query/(?P<job>\w+)/?", lambda r: self.get_job(r, "query"))
        add("PATCH", DATA + r"/jobs/query/(?P<job>\w+)/?", lambda r: self.patch_job(r, "query"))
        add("DELETE", DATA + r"/jobs/query/(?P<job>\w+)/?", lambda r: self.delete_job(r, "query"))
        add("GET", DATA + r"/jobs/query/(?P<job>\w+)/results/?", self.query_results)
        add("POST", DATA + r"/jobs/ingest/?", self.create_ingest_job)
        add("GET", DATA + r"/jobs/ingest/?", lambda r: self.list_jobs(r, "ingest"))
        add("GET", DATA + r"/jobs/ingest/(?P<job>\w+)/?", lambda r: self.get_job(r, "ingest"))
        add("PATCH", DATA + r"/jobs/ingest/(?P<job>\w+)/?", lambda r: self.patch_job(r, "ingest"))
        add("DELETE", DATA + r"/jobs/ingest/(?P<job>\w+)/?", lambda r: self.delete_job(r, "ingest"))
        add("PUT", DATA + r"/jobs/ingest/(?P<job>\w+)/batches/?", self.upload)
        for kind in ("successfulResults", "failedResults", "unprocessedRecords"):
            add("GET", DATA + rf"/jobs/ingest/(?P<job>\w+)/{kind}/?",
                lambda r, kind=kind.lower(): self.ingest_results(r, kind), ignore_case=True)

    # ------------------------------------------------------------ shared job plumbing

    def _new_job(self, conn: sqlite3.Connection, kind: str, info: dict) -> dict:
        job_id = self.api.records.new_ids(conn, JOB_PREFIX, 1)[0]
        now = salesforce_datetime(self.api.clock.now_ms())
        info = {"id": job_id, **info, "createdById": "0058d000000SBOXAA2", "createdDate": now,
                "systemModstamp": now}
        conn.execute("INSERT INTO sf_bulk_job (id, kind, info) VALUES (?, ?, ?)", (job_id, kind, json.dumps(info)))
        return info

    def _job(self, conn: sqlite3.Connection, job_id: str, kind: str) -> tuple[dict, int]:
        row = conn.execute("SELECT info, polls FROM sf_bulk_job WHERE id = ? AND kind = ?", (job_id, kind)).fetchone()
        if row is None:
            raise SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return json.loads(row["info"]), row["polls"]

    def _save(self, conn: sqlite3.Connection, info: dict, polls: int | None = None) -> None:
        info["systemModstamp"] = salesforce_datetime(self.api.clock.now_ms())
        conn.execute("UPDATE sf_bulk_job SET info = ?, polls = COALESCE(?, polls) WHERE id = ?",
                     (json.dumps(info), polls, info["id"]))

    def list_jobs(self, request: ApiRequest, kind: str) -> ApiResponse:
        with self.db.read() as conn:
            jobs = [_public(json.loads(r["info"])) for r in
                    conn.execute("SELECT info FROM sf_bulk_job WHERE kind = ? ORDER BY id", (kind,))]
        return ApiResponse.of_json(200, {"done": True, "records": jobs, "nextRecordsUrl": None})

    def get_job(self, request: ApiRequest, kind: str) -> ApiResponse:
        """Each poll moves a running job one step: UploadComplete -> InProgress -> JobComplete (or Failed)."""
        with self.db.write() as conn:
            info, polls = self._job(conn, request.params["job"], kind)
            if info["state"] in ("UploadComplete", "InProgress"):
                polls += 1
                if polls <= self.api.settings.bulk_polls_in_progress:
                    info["state"] = "InProgress"
                elif kind == "query":
                    self._finish_query(conn, info)
                else:
                    self._process_ingest(conn, info)
                self._save(conn, info, polls)
        return ApiResponse.of_json(200, _public(info))

    def patch_job(self, request: ApiRequest, kind: str) -> ApiResponse:
        """Close an ingest job (UploadComplete) or abort a job that has not finished."""
        wanted = (request.json() or {}).get("state")
        with self.db.write() as conn:
            info, _ = self._job(conn, request.params["job"], kind)
            if wanted == "Aborted" and info["state"] not in TERMINAL:
                info["state"] = "Aborted"
                info.pop("contentUrl", None)
            elif wanted == "UploadComplete" and kind == "ingest" and info["state"] == "Open":
                info["state"] = "UploadComplete"
                info.pop("contentUrl", None)
            else:
                raise SalesforceApiError(400, "INVALIDJOBSTATE",
                                         f"Invalid state transition from {info['state']} to {wanted}")
            self._save(conn, info)
        return ApiResponse.of_json(200, _public(info))

    def delete_job(self, request: ApiRequest, kind: str) -> ApiResponse:
        with self.db.write() as conn:
            info, _ = self._job(conn, request.params["job"], kind)
            drop_cursor(conn, info["id"])
            for table in ("sf_bulk_upload", "sf_bulk_result"):
                conn.execute(f"DELETE FROM {table} WHERE job_id = ?", (info["id"],))
            conn.execute("DELETE FROM sf_bulk_job WHERE id = ?", (info["id"],))
        return ApiResponse.empty(204)

    # ------------------------------------------------------------ query jobs

    def create_query_job(self, request: ApiRequest) -> ApiResponse:
        """POST jobs/query: the SOQL is checked now; results are snapshotted when the job completes."""
        body = request.json() or {}
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise SalesforceApiError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        delimiter, line_ending = _csv_format(body)
        compiled = compile_soql(body.get("query") or "")
        if compiled.count_only:
            raise SalesforceApiError(400, "INVALIDJOB", "InvalidJob : Aggregate queries are not supported")
        failed = self.api.faults.take("salesforce", ("bulk_job_failed",)) is not None
        with self.db.write() as conn:
            info = self._new_job(conn, "query", {
                "operation": operation, "object": compiled.sobject.name, "state": "UploadComplete",
                "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(request.params["version"]),
                "lineEnding": line_ending, "columnDelimiter": delimiter, "_query": compiled.soql,
                "_inject_failure": failed})
        return ApiResponse.of_json(200, _public(info))

    def _finish_query(self, conn: sqlite3.Connection, info: dict) -> None:
        if info.pop("_inject_failure", False):
            info.update(state="Failed", errorMessage="InternalServerError : the sandbox was told to fail this job",
                        numberRecordsProcessed=0)
            return
        compiled = compile_soql(info["_query"])
        _, total = _open_job_cursor(conn, compiled, info)
        info.update(state="JobComplete", jobType="V2Query", numberRecordsProcessed=total, retries=0,
                    totalProcessingTime=max(total // 100, 1), isPkChunkingSupported=True)

    def query_results(self, request: ApiRequest) -> ApiResponse:
        """GET jobs/query/<id>/results: one CSV page, Sforce-NumberOfRecords and Sforce-Locator ('null' = last)."""
        with self.db.read() as conn:
            info, _ = self._job(conn, request.params["job"], "query")
            if info["state"] != "JobComplete":
                raise SalesforceApiError(400, "INVALIDJOBSTATE", f"Job is in state {info['state']}; results are "
                                                                 "available once it is JobComplete")
            if float(request.params["version"]) != info["apiVersion"]:
                raise SalesforceApiError(409, "INVALIDJOB", "Results must be retrieved with the API version the "
                                                            f"job was created with (v{info['apiVersion']})")
            offset = _locator_offset(request.arg("locator"))
            size = _max_records(request.arg("maxRecords"), self.api.settings.bulk_default_page_size)
            compiled = compile_soql(info["_query"])
            rows = read_page(conn, compiled, info["id"], offset, size)
            total = info["numberRecordsProcessed"]
        next_locator = _encode_locator(offset + size) if offset + size < total else "null"
        body = _query_csv(compiled, rows, info)
        return ApiResponse(200, body, "text/csv", {"Sforce-NumberOfRecords": str(len(rows)),
                                                   "Sforce-Locator": next_locator})

    # ------------------------------------------------------------ ingest jobs

    def create_ingest_job(self, request: ApiRequest) -> ApiResponse:
        body = request.json() or {}
        obj = sobject(body.get("object") or "")
        if obj is None:
            raise SalesforceApiError(400, "INVALIDJOB", f"InvalidJob : Unable to find object: {body.get('object')}")
        operation = body.get("operation")
        if operation not in INGEST_OPERATIONS:
            raise SalesforceApiError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        external = body.get("externalIdFieldName")
        if operation == "upsert":
            field = obj.field(external or "")
            if field is None or not (field.external_id or field.name == "Id"):
                raise SalesforceApiError(400, "INVALIDJOB", f"InvalidJob : Field name provided, {external} is not "
                                                            f"an External ID or indexed field for {obj.name}")
            external = field.name
        delimiter, line_ending = _csv_format(body)
        version = request.params["version"]
        with self.db.write() as conn:
            info = self._new_job(conn, "ingest", {
                "operation": operation, "object": obj.name, "state": "Open", "externalIdFieldName": external,
                "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(version),
                "jobType": "V2Ingest", "lineEnding": line_ending, "columnDelimiter": delimiter,
                "numberRecordsProcessed": 0, "numberRecordsFailed": 0, "retries": 0, "totalProcessingTime": 0,
                "apiActiveProcessingTime": 0, "apexProcessingTime": 0})
            info["contentUrl"] = f"services/data/v{version}/jobs/ingest/{info['id']}/batches"
            self._save(conn, info)
        return ApiResponse.of_json(200, _public(info))

    def upload(self, request: ApiRequest) -> ApiResponse:
        """PUT jobs/ingest/<id>/batches: CSV data while the job is Open; 201 with an empty body."""
        with self.db.write() as conn:
            info, _ = self._job(conn, request.params["job"], "ingest")
            if info["state"] != "Open":
                raise SalesforceApiError(400, "INVALIDJOBSTATE", f"Job is in state {info['state']}; data can only "
                                                                 "be uploaded while it is Open")
            part = conn.execute("SELECT COUNT(*) FROM sf_bulk_upload WHERE job_id = ?", (info["id"],)).fetchone()[0]
            conn.execute("INSERT INTO sf_bulk_upload (job_id, part, body) VALUES (?, ?, ?)",
                         (info["id"], part, request.body))
        return ApiResponse(201, b"", None)

    def ingest_results(self, request: ApiRequest, kind: str) -> ApiResponse:
        with self.db.read() as conn:
            info, _ = self._job(conn, request.params["job"], "ingest")
            row = conn.execute("SELECT body FROM sf_bulk_result WHERE job_id = ? AND kind = ?",
                               (info["id"], kind)).fetchone()
        if row is None and kind == "unprocessedrecords" and info["state"] in ("Aborted", "Failed"):
            with self.db.read() as conn:
                return ApiResponse(200, _unprocessed(conn, info), "text/csv")
        return ApiResponse(200, bytes(row["body"]) if row else b"", "text/csv")

    def _process_ingest(self, conn: sqlite3.Connection, info: dict) -> None:
        """Apply every uploaded row; a bad header fails the whole job, anything else fails just that row."""
        obj = sobject(info["object"])
        parts = [bytes(r["body"]) for r in conn.execute(
            "SELECT body FROM sf_bulk_upload WHERE job_id = ? ORDER BY part", (info["id"],))]
        try:
            batch = IngestBatch.parse(obj, info, parts)
        except IngestJobFailed as exc:
            info.update(state="Failed", errorMessage=str(exc), numberRecordsProcessed=0)
            return
        successes, failures = batch.apply(conn, self.api.records)
        dialect = _dialect(info)
        results = {"successfulresults": _csv_bytes(["sf__Id", "sf__Created", *batch.header], successes, dialect),
                   "failedresults": _csv_bytes(["sf__Id", "sf__Error", *batch.header], failures, dialect)}
        for kind, body in results.items():
            conn.execute("INSERT OR REPLACE INTO sf_bulk_result (job_id, kind, body) VALUES (?, ?, ?)",
                         (info["id"], kind, body))
        info.update(state="JobComplete", numberRecordsProcessed=len(successes) + len(failures),
                    numberRecordsFailed=len(failures), totalProcessingTime=max(len(batch.rows) // 50, 1),
                    apiActiveProcessingTime=max(len(batch.rows) // 60, 1))


def _open_job_cursor(conn: sqlite3.Connection, compiled, info: dict) -> tuple[str, int]:
    """The job's result snapshot is a cursor keyed by the job id, kept until the job is deleted."""
    cursor_id, total = open_cursor(conn, compiled, info["operation"] == "queryAll", prefix="tmp")
    conn.execute("UPDATE sf_cursor_row SET cursor_id = ? WHERE cursor_id = ?", (info["id"], cursor_id))
    conn.execute("UPDATE sf_cursor SET cursor_id = ? WHERE cursor_id = ?", (info["id"], cursor_id))
    return info["id"], total


def _public(info: dict) -> dict:
    return {k: v for k, v in info.items() if not k.startswith("_")}


def _csv_format(body: dict) -> tuple[str, str]:
    delimiter = body.get("columnDelimiter") or "COMMA"
    line_ending = body.get("lineEnding") or "LF"
    if delimiter not in DELIMITERS:
        raise SalesforceApiError(400, "INVALIDJOB", f"InvalidJob : Invalid column delimiter: {delimiter}")
    if line_ending not in LINE_ENDINGS:
        raise SalesforceApiError(400, "INVALIDJOB", f"InvalidJob : Invalid line ending: {line_ending}")
    if (body.get("contentType") or "CSV") != "CSV":
        raise SalesforceApiError(400, "INVALIDJOB", "InvalidJob : Only CSV content is supported")
    return delimiter, line_ending


def _dialect(info: dict) -> dict:
    return {"delimiter": DELIMITERS[info["columnDelimiter"]], "lineterminator": LINE_ENDINGS[info["lineEnding"]]}


def _encode_locator(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")


def _locator_offset(locator: str | None) -> int:
    if not locator or locator == "null":
        return 0
    try:
        return int(base64.urlsafe_b64decode(locator + "=" * (-len(locator) % 4)).decode())
    except ValueError:
        raise SalesforceApiError(400, "INVALID_QUERY_LOCATOR", f"Invalid locator: {locator}") from None


def _max_records(value: str | None, default: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise SalesforceApiError(400, "INVALIDJOB", f"maxRecords must be a positive integer, got {value}")
    return int(value)


def _csv_cell(field: SObjectField, value) -> str:
    """Bulk 2.0 CSV rendering: nulls empty, booleans true/false, datetimes 2024-01-01T00:00:00.000Z."""
    if value is None:
        return ""
    if field.type == "datetime":
        return salesforce_csv_datetime(value)
    if field.type == "boolean":
        return "true" if value else "false"
    return str(value)


def _query_csv(compiled, rows: list[sqlite3.Row], info: dict) -> bytes:
    """Header row on every page, columns in SELECT order, every value double-quoted."""
    records = [[_csv_cell(f.field, row[f"c{i}"]) for i, f in enumerate(compiled.fields)] for row in rows]
    return _csv_bytes([f.label for f in compiled.fields], records, _dialect(info))


def _csv_bytes(header: list[str], rows: list[list[str]], dialect: dict) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, **dialect)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _unprocessed(conn: sqlite3.Connection, info: dict) -> bytes:
    """Rows never attempted because the job failed or was aborted: the uploaded data as it came."""
    parts = [bytes(r["body"]) for r in conn.execute(
        "SELECT body FROM sf_bulk_upload WHERE job_id = ? ORDER BY part", (info["id"],))]
    return parts[0] if len(parts) == 1 else b"".join(parts)

