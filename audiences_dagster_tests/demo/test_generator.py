"""The demo generator is deterministic, matches its audiences.yaml, and carries the planned mess: in the files and
warehouse it writes, and in the CRM records (demo_crm) the sandbox is seeded with."""

from __future__ import annotations

import collections
import csv
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from audiences_dagster.config import load_config
from audiences_dagster.demo import generate_demo
from audiences_dagster.demo.generator import BAD_SHARED_LINKEDIN, DemoCrm, build_world, demo_crm
from audiences_dagster.sandbox.schema import HUBSPOT_PROPERTIES, sobject

DEMO_YAML = Path(__file__).resolve().parents[2] / "audiences_dagster" / "demo" / "audiences.yaml"
FILES = ("event_attendees.csv", "warehouse.db")
# Columns the connectors add to what a CRM record holds (ids and references the sandbox assigns).
CRM_SYNTHETIC_COLUMNS = {"Id", "SystemModstamp", "AccountId", "ConvertedContactId", "id", "associations.companies"}
PLACEHOLDERS = {"", "n/a", "na", "none", "-", "unknown", "null"}
FREE_MAIL = {"gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com", "proton.me"}
ROLE = {"info", "sales", "hello", "contact", "support"}
LINKEDIN = re.compile(r"^(?:https?://)?(?:[a-z]{2,3}\.|www\.)?linkedin\.com/(in|company)/([^/?#\s]+)", re.I)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """One generated demo (default size) next to a copy of the demo config, shared by the module."""
    out = tmp_path_factory.mktemp("demo")
    counts = generate_demo(out)
    shutil.copy(DEMO_YAML, out / "audiences.yaml")
    return out, counts


@pytest.fixture(scope="module")
def crm() -> DemoCrm:
    """The default demo's CRM records, shared by the module."""
    return demo_crm()


def _fields(records) -> list[dict]:
    return [r.fields for r in records]


def _rows(path: Path) -> list[dict[str, str]]:
    """CSV rows as the importer sees them: UTF-8 with undecodable bytes kept as surrogates."""
    with path.open(encoding="utf-8", errors="surrogateescape", newline="") as handle:
        return list(csv.DictReader(handle))


def _table(out: Path, query: str) -> list[dict]:
    connection = sqlite3.connect(out / "warehouse.db")
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute(query)]
    finally:
        connection.close()


def _email(value: str | None) -> str | None:
    """The test's own minimal email cleaning: trim, drop mailto:, lower-case, blank placeholders."""
    text = (value or "").strip()
    text = re.sub(r"^mailto:\s*", "", text, flags=re.I).strip().lower()
    return text if "@" in text else None


def _usable_email(value: str | None) -> str | None:
    email = _email(value)
    if not email or email in {"test@test.com", "noreply@example.com"} or email.split("@")[0] in ROLE:
        return None
    return email


def _linkedin(value: str | None) -> str | None:
    match = LINKEDIN.match((value or "").strip())
    return f"{match.group(1).lower()}/{match.group(2).lower()}" if match else None


def _people_emails(out: Path, crm: DemoCrm) -> dict[str, list[str | None]]:
    """Usable emails per people source."""
    return {
        "event_attendees": [_usable_email(r["email"]) for r in _rows(out / "event_attendees.csv")],
        "product_users": [_usable_email(r["email"]) for r in _table(out, "SELECT email FROM product_users")],
        "sf_contacts": [_usable_email(f["Email"]) for f in _fields(crm.contacts)],
        "sf_leads": [_usable_email(f["Email"]) for f in _fields(crm.leads)],
        "hubspot_contacts": [_usable_email(f["email"]) for f in _fields(crm.hubspot_contacts)],
    }


# ---------------------------------------------------------------- determinism and shape


def test_same_seed_writes_byte_identical_files(demo: tuple[Path, dict[str, int]], tmp_path: Path) -> None:
    out, counts = demo
    again = generate_demo(tmp_path / "again")
    assert again == counts
    for name in FILES:
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), name


def test_output_does_not_depend_on_hash_randomization(demo: tuple[Path, dict[str, int]], tmp_path: Path) -> None:
    target = tmp_path / "other-hash-seed"
    code = f"from audiences_dagster.demo import generate_demo; generate_demo({str(target)!r})"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    for name in FILES:
        assert (target / name).read_bytes() == (demo[0] / name).read_bytes(), name


def test_another_seed_gives_other_data(demo: tuple[Path, dict[str, int]], crm: DemoCrm, tmp_path: Path) -> None:
    generate_demo(tmp_path / "seed8", seed=8)
    other = (tmp_path / "seed8" / "event_attendees.csv").read_bytes()
    assert other != (demo[0] / "event_attendees.csv").read_bytes()
    assert _fields(demo_crm(seed=8).contacts) != _fields(crm.contacts)


def test_the_same_seed_gives_the_same_crm_records(crm: DemoCrm) -> None:
    assert demo_crm() == crm


def test_generation_is_fast_and_rewrites_in_place(tmp_path: Path) -> None:
    started = time.perf_counter()
    generate_demo(tmp_path)
    generate_demo(tmp_path)
    assert time.perf_counter() - started < 10


def test_small_worlds_still_generate(tmp_path: Path) -> None:
    counts = generate_demo(tmp_path, people=40, companies=8)
    assert all(n > 0 for n in counts.values())
    assert all(n > 0 for n in demo_crm(people=40, companies=8).counts().values())


def test_counts_match_what_was_written(demo: tuple[Path, dict[str, int]], crm: DemoCrm) -> None:
    out, counts = demo
    assert counts["event_attendees.csv"] == len(_rows(out / "event_attendees.csv"))
    assert counts["warehouse.db:product_users"] == len(_table(out, "SELECT * FROM product_users"))
    assert counts["warehouse.db:accounts"] == len(_table(out, "SELECT * FROM accounts"))
    assert 900 <= crm.counts()["salesforce Contact"] <= 1700
    assert 250 <= crm.counts()["salesforce Account"] <= 600
    assert 500 <= crm.counts()["hubspot contacts"] <= 1500


# ---------------------------------------------------------------- the demo config


def test_demo_config_loads_and_validates(demo: tuple[Path, dict[str, int]]) -> None:
    out, _ = demo
    config = load_config(out / "audiences.yaml")
    assert config.plan.value == "growth"
    assert config.store_url() == f"sqlite:///{(out / 'store.db').resolve()}"
    assert config.identity.merge_protection == {"email": 3, "linkedin_url": 2, "domain": 3}
    assert config.identity.link_people_by_email_domain
    assert [t.value for t in config.survivorship["people"]["title"]] == ["warehouse", "salesforce"]
    assert set(config.sources) == {"sf_contacts", "sf_leads", "sf_accounts", "hubspot_contacts", "hubspot_companies",
                                   "event_attendees", "product_users", "warehouse_accounts"}
    assert {c.kind for c in config.connections.values()} == {"salesforce", "hubspot"}
    assert config.sources["sf_leads"].lead_conversion.contact_source == "sf_contacts"
    assert config.fields("people")["email"] == "email"
    assert config.fields("companies")["domain"] == "url"


def test_every_configured_column_exists_in_the_data(demo: tuple[Path, dict[str, int]]) -> None:
    out, _ = demo
    config = load_config(out / "audiences.yaml")
    for name, source in config.sources.items():
        wanted = {source.unique_id, *(m.column for m in source.fields.values())}
        wanted |= {c for c in (source.updated_at,) if c}
        if source.company:
            wanted |= {c for c in (source.company.account_id_column, source.company.domain_column) if c}
        if source.lead_conversion:
            wanted.add(source.lead_conversion.column)
        if source.kind == "salesforce":
            obj = sobject(source.object)
            columns = {f.name for f in obj.fields}
        elif source.kind == "hubspot":
            columns = set(HUBSPOT_PROPERTIES[source.object]) | CRM_SYNTHETIC_COLUMNS
        elif source.kind == "csv":
            path = config.resolve_path(source.path)
            columns = set(_rows(path)[0])
        else:
            assert source.resolved_url().startswith("sqlite:///")
            columns = set(_table(out, source.query)[0])
        assert wanted <= columns, (name, wanted - columns)


def test_crm_fields_are_fields_of_the_sandbox_objects(crm: DemoCrm) -> None:
    for name, records in (("Account", crm.accounts), ("Contact", crm.contacts), ("Lead", crm.leads)):
        assert {f for r in records for f in r.fields} <= {f.name for f in sobject(name).fields}, name
    assert {f for r in crm.hubspot_contacts for f in r.fields} <= set(HUBSPOT_PROPERTIES["contacts"])
    assert {f for r in crm.hubspot_companies for f in r.fields} <= set(HUBSPOT_PROPERTIES["companies"])


def test_fill_rate_thresholds_hold_on_raw_rows(demo: tuple[Path, dict[str, int]], crm: DemoCrm) -> None:
    """A row-level proxy for the unified fill rates the config demands."""
    out, _ = demo
    config = load_config(out / "audiences.yaml")
    emails = [e for values in _people_emails(out, crm).values() for e in values]
    assert sum(e is not None for e in emails) / len(emails) >= config.checks.fill_rate["people"]["email"]
    websites = [f["Website"] for f in _fields(crm.accounts)]
    websites += [r["domain"] for r in _table(out, "SELECT domain FROM accounts")]
    usable = [w for w in websites if w and w.strip().lower() not in PLACEHOLDERS]
    assert len(usable) / len(websites) >= config.checks.fill_rate["companies"]["domain"]


# ---------------------------------------------------------------- planned messiness


def test_about_forty_percent_of_people_are_in_several_sources(demo: tuple[Path, dict[str, int]],
                                                              crm: DemoCrm) -> None:
    world = build_world()
    appearances = collections.Counter(p.idx for people in world.membership.values() for p in people)
    assert len(appearances) == 3000
    assert 0.35 <= sum(n > 1 for n in appearances.values()) / len(appearances) <= 0.47
    sources_per_email: dict[str, set[str]] = collections.defaultdict(set)
    for source, values in _people_emails(demo[0], crm).items():
        for email in filter(None, values):
            sources_per_email[email].add(source)
    assert sum(len(s) > 1 for s in sources_per_email.values()) > 300


def test_converted_leads_point_at_contacts(crm: DemoCrm) -> None:
    contacts = {r.key: r.fields for r in crm.contacts if r.duplicate_of is None}
    converted = [r for r in crm.leads if r.converted_into is not None]
    assert 0.05 <= len(converted) / len(crm.leads) <= 0.11
    assert all(r.converted_into in contacts for r in converted)
    per_contact = collections.Counter(r.converted_into for r in converted)
    assert max(per_contact.values()) >= 2
    only_linked_by_conversion = [
        r for r in converted
        if not r.fields["LinkedIn__c"]
        and _usable_email(r.fields["Email"]) != _usable_email(contacts[r.converted_into]["Email"])
    ]
    assert len(only_linked_by_conversion) >= 5


def test_some_people_were_entered_twice_in_salesforce_and_merged(crm: DemoCrm) -> None:
    contacts = {r.key: r.fields for r in crm.contacts if r.duplicate_of is None}
    duplicates = [r for r in crm.contacts if r.duplicate_of is not None]
    assert len(duplicates) >= 20 and all(r.duplicate_of in contacts for r in duplicates)
    assert all(_usable_email(r.fields["Email"]) != _usable_email(contacts[r.key]["Email"]) for r in duplicates)


def test_hubspot_holds_one_contact_per_email_and_shares_people_with_salesforce(crm: DemoCrm) -> None:
    emails = [f["email"] for f in _fields(crm.hubspot_contacts) if f["email"]]
    assert len(emails) == len(set(emails)) and all(e == e.strip().lower() for e in emails)
    shared = {r.key for r in crm.hubspot_contacts} & {r.key for r in crm.contacts}
    assert len(shared) >= 100


def test_email_variants_placeholders_and_role_mailboxes(demo: tuple[Path, dict[str, int]], crm: DemoCrm) -> None:
    out, _ = demo
    raw = [r["email"] for r in _rows(out / "event_attendees.csv")]
    raw += [f["Email"] for f in _fields(crm.contacts) + _fields(crm.leads)]
    raw += [r["email"] or "" for r in _table(out, "SELECT email FROM product_users")]
    assert sum(v.lower().startswith("mailto:") for v in raw) >= 10
    assert sum(v != v.strip() and "@" in v for v in raw) >= 30
    assert sum(v.strip() != v.strip().lower() and "@" in v for v in raw) >= 50
    assert {"n/a", "N/A", "none", "-", "", "unknown", "test@test.com", "noreply@example.com"} <= set(raw)
    names_per_role_mailbox: dict[str, set[str]] = collections.defaultdict(set)
    for rows in (_fields(crm.leads), _rows(out / "event_attendees.csv")):
        for r in rows:
            email = _email(r.get("Email", r.get("email")))
            if email and email.split("@")[0] in ROLE and email.split("@")[1] not in FREE_MAIL:
                names_per_role_mailbox[email].add((r.get("LastName") or r.get("last_name")).strip().lower())
    assert max(len(names) for names in names_per_role_mailbox.values()) >= 3


def test_one_linkedin_url_is_pasted_onto_about_thirty_people(demo: tuple[Path, dict[str, int]],
                                                              crm: DemoCrm) -> None:
    out, _ = demo
    people = set()
    for rows, url_col in ((_fields(crm.leads), "LinkedIn__c"), (_rows(out / "event_attendees.csv"), "linkedin"),
                          (_fields(crm.contacts), "LinkedIn__c")):
        for r in rows:
            if r[url_col] == BAD_SHARED_LINKEDIN:
                people.add((r.get("FirstName", r.get("first_name")).strip().lower(),
                            (r.get("LastName") or r.get("last_name")).strip().lower()))
    assert 25 <= len(people) <= 30


def test_linkedin_urls_come_in_variants(demo: tuple[Path, dict[str, int]], crm: DemoCrm) -> None:
    out, _ = demo
    urls = [f["LinkedIn__c"] for f in _fields(crm.contacts) + _fields(crm.leads)]
    urls += [r["linkedin"] for r in _rows(out / "event_attendees.csv")]
    urls += [r["linkedin_url"] or "" for r in _table(out, "SELECT linkedin_url FROM product_users")]
    urls = [u for u in urls if "linkedin" in u.lower()]
    checks = {
        "http": lambda u: u.lower().startswith("http://"),
        "no scheme": lambda u: u.lower().startswith(("linkedin.com", "www.linkedin.com")),
        "country": lambda u: re.match(r"https?://(uk|de|fr|ca|in|nl)\.linkedin", u) is not None,
        "slash": lambda u: u.endswith("/"),
        "query": lambda u: "?trk=" in u,
        "mixed case": lambda u: u != u.lower(),
    }
    for label, check in checks.items():
        assert sum(check(u) for u in urls) >= 10, label
    by_profile = collections.defaultdict(set)
    for url in urls:
        by_profile[_linkedin(url)].add(url)
    assert sum(len(v) > 1 for v in by_profile.values()) > 50


def test_companies_acme_lookalikes_and_website_variants(demo: tuple[Path, dict[str, int]], crm: DemoCrm) -> None:
    out, _ = demo
    accounts = _fields(crm.accounts)
    websites = [r["Website"] for r in accounts]
    assert "https://www.acme.com/" in websites and "http://acme.co.uk/about" in websites
    assert {"acme.com", "www.acme.co.uk"} <= {r["domain"] for r in _table(out, "SELECT domain FROM accounts")}
    assert any("://www2." in w or w.startswith("www2.") for w in websites)
    assert any("shop." in w for w in websites)
    assert any(w.startswith("https://www.") and w.endswith("/") for w in websites)
    assert any(re.fullmatch(r"[a-z0-9]+\.[a-z.]+", w) for w in websites)
    assert any(w.endswith("/about") for w in websites)
    company_urls = [r["LinkedIn_Company__c"] for r in accounts if r["LinkedIn_Company__c"]]
    assert any(u.startswith("linkedin.com/company/") for u in company_urls)
    assert any("?trk=" in u for u in company_urls)


def test_malformed_rows_are_planted_in_the_files_and_warehouse(demo: tuple[Path, dict[str, int]]) -> None:
    out, _ = demo
    attendees = _rows(out / "event_attendees.csv")
    users = _table(out, "SELECT * FROM product_users")
    assert sum(not r["attendee_id"] for r in attendees) >= 2 and sum(r["user_id"] is None for r in users) >= 2
    assert {"31/02/2024", "yesterday"} <= {r["registered_on"] for r in attendees}
    assert {"31/02/2024", "yesterday"} <= {r["signup_date"] for r in users}
    assert "ten" in {r["seats"] for r in users}
    assert max(len(r["job_title"] or "") for r in users) == 5000


def test_exactly_one_row_is_not_utf8(demo: tuple[Path, dict[str, int]]) -> None:
    out, _ = demo
    lines = (out / "event_attendees.csv").read_bytes().split(b"\n")
    bad = []
    for line in lines:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(line)
    assert len(bad) == 1
    assert bad[0].decode("latin-1").isprintable()


def test_duplicate_ids_inside_a_file_have_the_newest_row_last(demo: tuple[Path, dict[str, int]]) -> None:
    out, _ = demo
    ids = [r["attendee_id"] for r in _rows(out / "event_attendees.csv") if r["attendee_id"]]
    assert len(ids) - len(set(ids)) >= 2
    users = [r for r in _table(out, "SELECT user_id, updated_at FROM product_users") if r["user_id"] is not None]
    newest: dict[int, str] = {}
    dupes = 0
    for row in users:
        if row["user_id"] in newest:
            dupes += 1
            assert row["updated_at"] > newest[row["user_id"]]
        newest[row["user_id"]] = row["updated_at"]
    assert dupes >= 2


def test_timestamps_fall_in_2024_to_2026(demo: tuple[Path, dict[str, int]], crm: DemoCrm) -> None:
    out, _ = demo
    records = crm.accounts + crm.contacts + crm.leads + crm.hubspot_companies + crm.hubspot_contacts
    assert all(2024 <= r.created.year <= r.modified.year <= 2026 and r.created <= r.modified for r in records)
    values = [r["updated_at"] for r in _table(out, "SELECT updated_at FROM product_users")]
    values += [r["signup_date"] for r in _table(out, "SELECT signup_date FROM product_users")]
    values += [r["registered_on"] for r in _rows(out / "event_attendees.csv")]
    parsed = []
    for value in values:
        try:
            parsed.append(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            continue
    assert len(parsed) >= len(values) - 20
    assert all(2024 <= moment.year <= 2026 for moment in parsed)


def test_booleans_use_parser_friendly_spellings(demo: tuple[Path, dict[str, int]]) -> None:
    out, _ = demo
    assert {r["opted_in"] for r in _rows(out / "event_attendees.csv")} <= {"true", "false", "yes", "no", "1", "0", ""}
    assert {r["is_paying"] for r in _table(out, "SELECT is_paying FROM product_users")} == {0, 1}
