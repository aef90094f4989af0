"""Build the code location for a test workspace and materialize parts of it in-process."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from audiences_dagster.defs import build_definitions
from audiences_dagster.store.api import utcnow
from audiences_dagster_tests.support import Workspace, people_source

# Failures still reach the captured log; DEBUG step events would only bury them.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

IMPORT_CRM = dg.AssetKey("import_crm")
IMPORT_ACCOUNTS = dg.AssetKey("import_accounts")
UNIFIED_PEOPLE = dg.AssetKey("unified_people")
UNIFIED_COMPANIES = dg.AssetKey("unified_companies")

CONTACTS = [
    {"id": "c1", "email": "ann@acme.com", "linkedin": "", "first_name": "Ann"},
    {"id": "c2", "email": "ANN@Acme.com", "linkedin": "", "first_name": "Ann"},
    {"id": "c3", "email": "bob@globex.com", "linkedin": "https://www.linkedin.com/in/bob-stone", "first_name": "Bob"},
]
MALFORMED_CONTACT = {"id": "", "email": "carol@initech.com", "linkedin": "", "first_name": "Carol"}
ACCOUNTS = [
    {"id": "a1", "domain": "acme.com", "name": "Acme"},
    {"id": "a2", "domain": "https://www.acme.com/", "name": "ACME Inc"},
    {"id": "a3", "domain": "globex.com", "name": "Globex"},
]


def configure_crm(ws: Workspace, contacts: list[dict] = CONTACTS, **settings) -> dg.Definitions:
    """A CRM contacts export and an accounts export, and the code location built from them."""
    ws.write_csv("contacts.csv", contacts, columns=["id", "email", "linkedin", "first_name"])
    ws.write_csv("accounts.csv", ACCOUNTS)
    config = ws.configure({
        "crm": people_source("contacts.csv"),
        "accounts": {"kind": "csv", "entity": "companies", "path": "accounts.csv", "unique_id": "id",
                     "fields": {"domain": {"column": "domain", "type": "url"}, "name": {"column": "name"}}},
    }, **settings)
    return build_definitions(config, str(ws.config_path.resolve()))


def materialize(defs: dg.Definitions, instance: dg.DagsterInstance,
                *keys: dg.AssetKey) -> dg.ExecuteInProcessResult:
    """Run the given assets (all of them when none are named) with their checks; never raises."""
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(instance=instance, run_config=QUIET, raise_on_error=False,
                                  asset_selection=list(keys) or None)


def insert_unified(ws: Workspace, entity: str, **values) -> None:
    """Write a row straight into a unified table, the way a bad manual fix or a bug would."""
    table = ws.store.tables.unified(entity)
    now = utcnow()
    with ws.store.engine.begin() as conn:
        conn.execute(sa.insert(table).values(id=10**9, created_at=now, updated_at=now, sources="manual", **values))


def metadata_of(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return {name: getattr(value, "value", value) for name, value in event.materialization.metadata.items()}


def check_evaluation(result: dg.ExecuteInProcessResult, key: dg.AssetKey, check: str):
    [evaluation] = [e for e in result.get_asset_check_evaluations()
                    if e.asset_key == key and e.check_name == check]
    return evaluation
