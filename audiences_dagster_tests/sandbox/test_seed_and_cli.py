"""Seeding from the demo generator, and the `audiences sandbox` command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from audiences_dagster.sandbox import running_sandbox


def _counts(sandbox) -> dict[str, int]:
    conn = sandbox.db.connection()
    return {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("sf_account", "sf_contact", "sf_lead", "hs_object", "hs_association")}


def test_seeding_is_deterministic_for_a_seed(tmp_path: Path):
    emails = []
    for name in ("a.db", "b.db"):
        with running_sandbox(tmp_path / name, seed={"contacts": 40, "companies": 10}) as sandbox:
            rows = sandbox.db.connection().execute('SELECT "Id", "Email" FROM sf_contact ORDER BY seq').fetchall()
            emails.append([tuple(r) for r in rows])
    assert emails[0] == emails[1] and len(emails[0]) == 40


def test_seeded_world_holds_both_crms_with_shared_people(tmp_path: Path):
    with running_sandbox(tmp_path / "crm.db", seed={"contacts": 100, "companies": 20}) as sandbox:
        counts = _counts(sandbox)
        conn = sandbox.db.connection()
        shared = conn.execute("SELECT COUNT(*) FROM sf_contact c JOIN hs_object h ON h.object_type = 'contacts'"
                              " AND json_extract(h.properties, '$.email') = c.\"Email\"").fetchone()[0]
        converted = conn.execute('SELECT COUNT(*) FROM sf_lead WHERE "IsConverted" = 1 AND "ConvertedContactId"'
                                 ' IN (SELECT "Id" FROM sf_contact)').fetchone()[0]
    assert counts == {"sf_account": 20, "sf_contact": 100, "sf_lead": 50, "hs_object": 120, "hs_association": 100}
    assert shared == 40 and converted == 4


def test_an_existing_database_is_not_seeded_twice(tmp_path: Path):
    with running_sandbox(tmp_path / "crm.db", seed={"contacts": 10, "companies": 5}):
        pass
    with running_sandbox(tmp_path / "crm.db", seed={"contacts": 10, "companies": 5}) as sandbox:
        assert _counts(sandbox)["sf_contact"] == 10


def test_seeding_writes_thousands_of_records_in_one_go(tmp_path: Path):
    with running_sandbox(tmp_path / "crm.db", seed={"contacts": 5_000, "leads": 0, "hubspot_contacts": 5_000,
                                                     "companies": 100}) as sandbox:
        assert _counts(sandbox)["sf_contact"] == 5_000


def test_audiences_sandbox_command_serves_until_interrupted(tmp_path: Path):
    command = [sys.executable, "-m", "audiences_dagster.cli", "sandbox", "--db", str(tmp_path / "crm.db"),
               "--contacts", "20", "--companies", "5"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        printed = {}
        for line in process.stdout:
            if line.strip().startswith("export "):
                name, _, value = line.strip().removeprefix("export ").partition("=")
                printed[name] = value
            if "HUBSPOT_ACCESS_TOKEN" in printed:
                break
        listed = requests.get(f"{printed['HUBSPOT_BASE_URL']}/crm/v3/objects/contacts", timeout=10,
                              headers={"Authorization": f"Bearer {printed['HUBSPOT_ACCESS_TOKEN']}"})
        assert listed.status_code == 200 and len(listed.json()["results"]) == 10
        assert printed["SALESFORCE_TOKEN_URL"].startswith("https://127.0.0.1:")
        assert Path(printed["SALESFORCE_CA_BUNDLE"]).exists()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_demo_world_seeds_merged_duplicates_and_converted_leads(tmp_path: Path):
    with running_sandbox(tmp_path / "crm.db", seed={"world": "demo", "people": 200, "companies": 30}) as sandbox:
        conn = sandbox.db.connection()
        merged = conn.execute('SELECT COUNT(*) FROM sf_contact WHERE "IsDeleted" = 1 AND "MasterRecordId" IN'
                              ' (SELECT "Id" FROM sf_contact WHERE "IsDeleted" = 0)').fetchone()[0]
        converted = conn.execute('SELECT COUNT(*) FROM sf_lead WHERE "IsConverted" = 1 AND "ConvertedContactId"'
                                 ' IN (SELECT "Id" FROM sf_contact)').fetchone()[0]
        linked = conn.execute("SELECT COUNT(*) FROM hs_association").fetchone()[0]
        hubspot_contacts = conn.execute("SELECT COUNT(*) FROM hs_object WHERE object_type = 'contacts'").fetchone()[0]
    assert merged >= 2 and converted >= 1 and linked == hubspot_contacts > 0
