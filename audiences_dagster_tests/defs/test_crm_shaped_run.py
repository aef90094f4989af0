"""A run over CRM-shaped exports in which about 12 % of the rows carry no email or LinkedIn URL:
it ends SUCCESS with every blocking check passed, and a planted real problem still fails its check."""

from __future__ import annotations

import random

import dagster as dg
import sqlalchemy as sa

from audiences_dagster.defs import build_definitions
from audiences_dagster.defs.assets import QUARANTINE_CHECK
from audiences_dagster.defs.checks import GX_CHECK, RESOLVED_CHECK
from audiences_dagster_tests.defs.graph import check_evaluation, materialize, metadata_of
from audiences_dagster_tests.support import Workspace, people_source

CONTACT_COLUMNS = ["Id", "email", "linkedin", "first_name", "phone"]
LEAD_COLUMNS = [*CONTACT_COLUMNS, "ConvertedContactId"]
KEYLESS_SHARE = 0.12


def _person(rng: random.Random, uid: str, n: int) -> dict:
    keyless = rng.random() < KEYLESS_SHARE
    return {"Id": uid, "email": "" if keyless else f"person{n}@acme{n % 40}.com",
            "linkedin": "" if keyless or rng.random() < 0.5 else f"https://uk.linkedin.com/in/person-{n}/",
            "first_name": f"Person {n}", "phone": f"+1 415 555 {n:04d}"}


def _exports(ws: Workspace, duplicate_ids: int = 0) -> dg.Definitions:
    rng = random.Random(16)
    contacts = [_person(rng, f"003{n:05d}", n) for n in range(400)]
    leads = [{**_person(rng, f"00Q{n:05d}", n + 300), "ConvertedContactId": f"003{n:05d}" if n % 5 == 0 else ""}
             for n in range(300)]  # people 300..399 are both a contact and a lead; every fifth lead converted
    contacts += [{**contacts[i], "first_name": "Repeated"} for i in range(duplicate_ids)]
    ws.write_csv("contacts.csv", contacts, CONTACT_COLUMNS)
    ws.write_csv("leads.csv", leads, LEAD_COLUMNS)
    phone = {"phone": {"column": "phone", "type": "phone"}}
    contact_source = people_source("contacts.csv", unique_id="Id", tier="salesforce")
    lead_source = people_source("leads.csv", unique_id="Id", tier="salesforce_lead",
                                lead_conversion={"column": "ConvertedContactId", "contact_source": "sf_contacts"})
    contact_source["fields"] |= phone
    lead_source["fields"] |= phone
    config = ws.configure({"sf_contacts": contact_source, "sf_leads": lead_source})
    return build_definitions(config, str(ws.config_path.resolve()))


def test_crm_exports_with_keyless_rows_end_in_success_with_every_blocking_check_passed(workspace: Workspace):
    result = materialize(_exports(workspace), dg.DagsterInstance.ephemeral())

    assert result.success
    failed = [(e.asset_key.to_user_string(), e.check_name) for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed == []
    for source in ("sf_contacts", "sf_leads"):
        m = metadata_of(result, dg.AssetKey(f"import_{source}"))
        assert m["rows_read"] == m["records_kept"] and m["quarantined_rows"] == 0
    people = metadata_of(result, dg.AssetKey("unified_people"))
    assert people["source_records"] == 700
    assert people["merges_by_reason"]["lead_conversion"] > 0
    src = workspace.store.tables.source("people")
    with workspace.store.engine.connect() as conn:
        keyless = conn.execute(sa.select(sa.func.count()).where(src.c.email.is_(None), src.c.linkedin_url.is_(None))
                               ).scalar_one()
    assert 0.08 * 700 < keyless < 0.16 * 700


def test_repeated_ids_above_the_limit_warn_on_the_import(workspace: Workspace):
    result = materialize(_exports(workspace, duplicate_ids=12), dg.DagsterInstance.ephemeral())

    check = check_evaluation(result, dg.AssetKey("import_sf_contacts"), QUARANTINE_CHECK)
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert check.metadata["by_reason"].value == {"duplicate_unique_id": 12}


def test_malformed_emails_above_the_threshold_still_fail_the_blocking_suite(workspace: Workspace):
    defs = _exports(workspace)
    instance = dg.DagsterInstance.ephemeral()
    assert materialize(defs, instance).success
    unified = workspace.store.tables.unified("people")
    with workspace.store.engine.begin() as conn:  # what a bug or a manual fix could leave behind
        ids = conn.execute(sa.select(unified.c.id).where(unified.c.email.is_not(None)).limit(5)).scalars().all()
        conn.execute(sa.update(unified).where(unified.c.id.in_(ids)).values(email="Not An Email"))

    result = materialize(defs, instance, dg.AssetKey("unified_people"))

    assert not result.success
    suite = check_evaluation(result, dg.AssetKey("unified_people"), GX_CHECK)
    assert (suite.passed, suite.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert "expect_column_values_to_match_regex(email): 5 unexpected" in suite.metadata["failures"].value
    assert check_evaluation(result, dg.AssetKey("unified_people"), RESOLVED_CHECK).passed
