"""The demo generator is deterministic, matches its audiences.yaml, and carries the planned mess."""

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
from audiences_dagster.demo.generator import BAD_SHARED_LINKEDIN, SF_CHECKSUM, build_world

DEMO_YAML = Path(__file__).resolve().parents[2] / "audiences_dagster" / "demo" / "audiences.yaml"
FILES = ("salesforce_contacts.csv", "salesforce_leads.csv", "salesforce_accounts.csv", "event_attendees.csv",
         "warehouse.db")
PEOPLE_EMAIL_COLUMNS = {
    "salesforce_contacts.csv": "Email", "salesforce_leads.csv": "Email", "event_attendees.csv": "email",
}
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


def _people_emails(out: Path) -> dict[str, list[str | None]]:
    """Usable emails per people source."""
    result = {name: [_usable_email(r[col]) for r in _rows(out / name)] for name, col in PEOPLE_EMAIL_COLUMNS.items()}
    result["product_users"] = [_usable_email(r["email"]) for r in _table(out, "SELECT email FROM product_users")]
    return result


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


def test_another_seed_gives_other_data(demo: tuple[Path, dict[str, int]], tmp_path: Path) -> None:
    generate_demo(tmp_path / "seed8", seed=8)
    other = (tmp_path / "seed8" / "salesforce_contacts.csv").read_bytes()
    assert other != (demo[0] / "salesforce_contacts.csv").read_bytes()


def test_generation_is_fast_and_rewrites_in_place(tmp_path: Path) -> None:
    started = time.perf_counter()
    generate_demo(tmp_path)
    generate_demo(tmp_path)
    assert time.perf_counter() - started < 10


def test_small_worlds_still_generate(tmp_path: Path) -> None:
    counts = generate_demo(tmp_path, people=40, companies=8)
    assert all(n > 0 for n in counts.values())


def test_counts_match_what_was_written(demo: tuple[Path, dict[str, int]]) -> None:
    out, counts = demo
    for name in ("salesforce_contacts.csv", "salesforce_leads.csv", "salesforce_accounts.csv", "event_attendees.csv"):
        assert counts[name] == len(_rows(out / name)), name
    assert counts["warehouse.db:product_users"] == len(_table(out, "SELECT * FROM product_users"))
    assert counts["warehouse.db:accounts"] == len(_table(out, "SELECT * FROM accounts"))
    assert 900 <= counts["salesforce_contacts.csv"] <= 1700
    assert 250 <= counts["salesforce_accounts.csv"] <= 600


def test_salesforce_ids_are_18_character_ids_with_valid_checksums(demo: tuple[Path, dict[str, int]]) -> None:
    out, _ = demo
    for name, prefix in (("salesforce_contacts.csv", "003"), ("salesforce_leads.csv", "00Q"),
                         ("salesforce_accounts.csv", "001")):
        ids = [r["Id"] for r in _rows(out / name) if r["Id"]]
        assert ids and all(len(i) == 18 and i.startswith(prefix) for i in ids), name
        for sf_id in ids:
            body = sf_id[:15]
            expected = "".join(
                SF_CHECKSUM[sum(1 << k for k, ch in enumerate(body[s:s + 5]) if ch.isupper())] for s in (0, 5, 10)
            )
            assert sf_id[15:] == expected


# ---------------------------------------------------------------- the demo config


def test_demo_config_loads_and_validates(demo: tuple[Path, dict[str, int]]) -> None:
    out, _ = demo
    config = load_config(out / "audiences.yaml")
    assert config.plan.value == "growth"
    assert config.store_url() == f"sqlite:///{(out / 'store.db').resolve()}"
    assert config.identity.merge_protection == {"email": 3, "linkedin_url": 2, "domain": 3}
    assert config.identity.link_people_by_email_domain
    assert [t.value for t in config.survivorship["people"]["title"]] == ["warehouse", "salesforce"]
    assert set(config.sources) == {"sf_contacts", "sf_leads", "sf_accounts", "event_attendees", "product_users",
                                   "warehouse_accounts"}
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
        if source.kind == "csv":
            path = config.resolve_path(source.path)
            columns = set(_rows(path)[0])
        else:
            assert source.resolved_url().startswith("sqlite:///")
            columns = set(_table(out, source.query)[0])
        assert wanted <= columns, (name, wanted - columns)


def test_fill_rate_thresholds_hold_on_raw_rows(demo: tuple[Path, dict[str, int]]) -> None:
    """A row-level proxy for the unified fill rates the config demands."""
    out, _ = demo
    config = load_config(out / "audiences.yaml")
    emails = [e for values in _people_emails(out).values() for e in values]
    assert sum(e is not None for e in emails) / len(emails) >= config.checks.fill_rate["people"]["email"]
    websites = [r["Website"] for r in _rows(out / "salesforce_accounts.csv")]
    websites += [r["domain"] for r in _table(out, "SELECT domain FROM accounts")]
    usable = [w for w in websites if w and w.strip().lower() not in PLACEHOLDERS]
    assert len(usable) / len(websites) >= config.checks.fill_rate["companies"]["domain"]


# ---------------------------------------------------------------- planned messiness


def test_about_forty_percent_of_people_are_in_several_sources(demo: tuple[Path, dict[str, int]]) -> None:
    world = build_world()
    appearances = collections.Counter(p.idx for people in world.membership.values() for p in people)
    assert len(appearances) == 3000
    assert 0.35 <= sum(n > 1 for n in appearances.values()) / len(appearances) <= 0.47
    sources_per_email: dict[str, set[str]] = collections.defaultdict(set)
    for source, values in _people_emails(demo[0]).items():
        for email in filter(None, values):
            sources_per_email[email].add(source)
    assert sum(len(s) > 1 for s in sources_per_email.values()) > 300


def test_converted_leads_point_at_contacts(demo: tuple[Path, dict[str, int]]) -> None:
    out, _ = demo
    contacts = {r["Id"]: r for r in _rows(out / "salesforce_contacts.csv")}
    leads = _rows(out / "salesforce_leads.csv")
    converted = [r for r in leads if r["ConvertedContactId"]]
    assert 0.05 <= len(converted) / len(leads) <= 0.11
    assert all(r["ConvertedContactId"] in contacts for r in converted)
    per_contact = collections.Counter(r["ConvertedContactId"] for r in converted)
    assert max(per_contact.values()) >= 2
    only_linked_by_conversion = [
        r for r in converted
        if not r["LinkedIn__c"]
        and _usable_email(r["Email"]) != _usable_email(contacts[r["ConvertedContactId"]]["Email"])
    ]
    assert len(only_linked_by_conversion) >= 5


def test_email_variants_placeholders_and_role_mailboxes(demo: tuple[Path, dict[str, int]]) -> None:
    out, _ = demo
    raw = [r[col] for name, col in PEOPLE_EMAIL_COLUMNS.items() for r in _rows(out / name)]
    raw += [r["email"] or "" for r in _table(out, "SELECT email FROM product_users")]
    assert sum(v.lower().startswith("mailto:") for v in raw) >= 10
    assert sum(v != v.strip() and "@" in v for v in raw) >= 30
    assert sum(v.strip() != v.strip().lower() and "@" in v for v in raw) >= 50
    assert {"n/a", "N/A", "none", "-", "", "unknown", "test@test.com", "noreply@example.com"} <= set(raw)
    names_per_role_mailbox: dict[str, set[str]] = collections.defaultdict(set)
    for name in ("salesforce_leads.csv", "event_attendees.csv"):
        for r in _rows(out / name):
            email = _email(r.get("Email", r.get("email")))
            if email and email.split("@")[0] in ROLE and email.split("@")[1] not in FREE_MAIL:
                names_per_role_mailbox[email].add((r.get("LastName") or r.get("last_name")).strip().lower())
    assert max(len(names) for names in names_per_role_mailbox.values()) >= 3


def test_one_linkedin_url_is_pasted_onto_about_thirty_people(demo: tuple[Path, dict[str, int]]) -> None:
    out, _ = demo
    people = set()
    for name, url_col, email_col in (("salesforce_leads.csv", "LinkedIn__c", "Email"),
                                     ("event_attendees.csv", "linkedin", "email"),
                                     ("salesforce_contacts.csv", "LinkedIn__c", "Email")):
        for r in _rows(out / name):
            if r[url_col] == BAD_SHARED_LINKEDIN:
                people.add((r.get("FirstName", r.get("first_name")).strip().lower(),
                            (r.get("LastName") or r.get("last_name")).strip().lower()))
    assert 25 <= len(people) <= 30


def test_linkedin_urls_come_in_variants(demo: tuple[Path, dict[str, int]]) -> None:
    out, _ = demo
    urls = [r["LinkedIn__c"] for r in _rows(out / "salesforce_contacts.csv") + _rows(out / "salesforce_leads.csv")]
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


def test_companies_acme_lookalikes_and_website_variants(demo: tuple[Path, dict[str, int]]) -> None:
    out, _ = demo
    accounts = _rows(out / "salesforce_accounts.csv")
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


def test_malformed_rows_are_planted(demo: tuple[Path, dict[str, int]]) -> None:
    out, _ = demo
    contacts = _rows(out / "salesforce_contacts.csv")
    leads = _rows(out / "salesforce_leads.csv")
    attendees = _rows(out / "event_attendees.csv")
    accounts = _rows(out / "salesforce_accounts.csv")
    users = _table(out, "SELECT * FROM product_users")
    assert sum(not r["Id"] for r in contacts) >= 2 and sum(not r["Id"] for r in leads) >= 2
    assert sum(not r["attendee_id"] for r in attendees) >= 2 and sum(r["user_id"] is None for r in users) >= 2
    assert {"31/02/2024", "yesterday"} <= {r["registered_on"] for r in attendees}
    assert {"31/02/2024", "yesterday"} <= {r["signup_date"] for r in users}
    assert {"31/02/2024", "yesterday"} <= {r["LastModifiedDate"] for r in contacts}
    assert "ten" in {r["NumberOfEmployees"] for r in accounts}
    assert "ten" in {r["seats"] for r in users}
    assert max(len(r["Title"]) for r in contacts) == 5000


def test_exactly_one_row_is_not_utf8(demo: tuple[Path, dict[str, int]]) -> None:
    out, _ = demo
    for name in ("salesforce_contacts.csv", "salesforce_leads.csv", "salesforce_accounts.csv"):
        (out / name).read_bytes().decode("utf-8")
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
    contacts = [r for r in _rows(out / "salesforce_contacts.csv") if r["Id"]]
    seen: dict[str, dict[str, str]] = {}
    repeated = 0
    for row in contacts:
        if row["Id"] in seen:
            repeated += 1
            assert row["LastModifiedDate"] > seen[row["Id"]]["LastModifiedDate"]
        seen[row["Id"]] = row
    assert repeated >= 2
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


def test_timestamps_fall_in_2024_to_2026(demo: tuple[Path, dict[str, int]]) -> None:
    out, _ = demo
    values = [r["LastModifiedDate"] for name in ("salesforce_contacts.csv", "salesforce_leads.csv",
                                                 "salesforce_accounts.csv") for r in _rows(out / name)]
    values += [r["updated_at"] for r in _table(out, "SELECT updated_at FROM product_users")]
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
