"""Bulk API 2.0 query jobs for full syncs: create a job, wait for it, then read its CSV result pages by locator.

The job id and the locator of the page being read are the resumable part of a full sync's cursor, so the calls
are made one by one (simple-salesforce's `bulk2.<Object>.query` hides both) through simple-salesforce's own
`call_salesforce` on the client's session.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass

import pandas as pd
from simple_salesforce import Salesforce
from simple_salesforce.util import call_salesforce

from audiences_dagster.sources.base import SourceError
from audiences_dagster.sources.salesforce_auth import SalesforceOrg

# About 50,000 records per results call (PRODUCT.md §3), the client's and Salesforce's usual page.
BULK_PAGE_RECORDS = 50_000
# Seconds between job status checks: quick for small jobs, then no faster than every 5 s (each check is a call).
POLL_DELAYS_SECONDS = (0.25, 0.5, 1.0, 2.0, 5.0)
JOB_TIMEOUT_SECONDS = 6 * 60 * 60


@dataclass
class ResultPage:
    """One page of a job's results, values as strings (Bulk CSV cannot tell null from empty: both are missing)."""

    frame: pd.DataFrame
    next_locator: str  # "" on the last page


class BulkQueryJobs:
    """Query jobs of one object through one org; every call follows the org's retry rules."""

    def __init__(self, org: SalesforceOrg, object_name: str) -> None:
        self.org = org
        self.object_name = object_name

    def start(self, soql: str) -> str:
        """A queryAll job, so records merged away (soft-deleted with MasterRecordId) come along too."""
        body = json.dumps({"operation": "queryAll", "query": soql, "contentType": "CSV",
                           "columnDelimiter": "COMMA", "lineEnding": "LF"})
        job = self.org.call(lambda sf: call_salesforce(
            url=sf.bulk2_url + "query", method="POST", session=sf.session, headers=_headers(sf),
            data=body).json(), f"creating a Bulk API query job for {self.object_name}")
        return job["id"]

    def exists(self, job_id: str) -> bool:
        """Whether a resumed sync's job is still there (Salesforce deletes finished jobs after 7 days)."""
        return self._state(job_id, missing_ok=True) is not None

    def wait(self, job_id: str) -> None:
        """Until JobComplete; a Failed or Aborted job stops the import with Salesforce's reason."""
        deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
        checks = 0
        while True:
            info = self._state(job_id)
            if info["state"] == "JobComplete":
                return
            if info["state"] in ("Failed", "Aborted"):
                raise SourceError(f"sources.{self.org.source_name}: the Bulk API query job {job_id} for "
                                  f"{self.object_name} ended {info['state']}: "
                                  f"{info.get('errorMessage') or 'no reason given'}")
            if time.monotonic() > deadline:
                raise SourceError(f"sources.{self.org.source_name}: the Bulk API query job {job_id} for "
                                  f"{self.object_name} is still {info['state']} after {JOB_TIMEOUT_SECONDS // 3600} h")
            time.sleep(POLL_DELAYS_SECONDS[min(checks, len(POLL_DELAYS_SECONDS) - 1)])
            checks += 1

    def page(self, job_id: str, locator: str, columns: list[str],
             max_records: int = BULK_PAGE_RECORDS) -> ResultPage:
        """The results page at locator ("" for the first), at most max_records long (an empty result may come
        without even a header row: then it is an empty frame of the selected columns)."""
        params = {"maxRecords": max_records}
        if locator:
            params["locator"] = locator
        response = self.org.call(lambda sf: call_salesforce(
            url=f"{sf.bulk2_url}query/{job_id}/results", method="GET", session=sf.session,
            headers=_headers(sf, accept="text/csv"), params=params),
            f"reading Bulk API results of {self.object_name}")
        next_locator = response.headers.get("Sforce-Locator") or ""
        text = response.content.decode("utf-8").replace("\x00", "")
        frame = (pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""]).astype("string")
                 if text.strip() else pd.DataFrame(columns=columns, dtype="string"))
        return ResultPage(frame=frame, next_locator="" if next_locator == "null" else next_locator)

    def _state(self, job_id: str, missing_ok: bool = False) -> dict | None:
        """Job info (None for a job that no longer exists, when missing_ok)."""
        return self.org.call(lambda sf: call_salesforce(
            url=f"{sf.bulk2_url}query/{job_id}", method="GET", session=sf.session, headers=_headers(sf)).json(),
            f"checking Bulk API job {job_id}", missing_ok=missing_ok)


def _headers(sf: Salesforce, accept: str = "application/json") -> dict[str, str]:
    return {"Authorization": f"Bearer {sf.session_id}", "Content-Type": "application/json", "Accept": accept}
