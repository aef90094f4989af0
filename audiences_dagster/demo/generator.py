"""Deterministic, deliberately messy GTM demo data: CRM, file and warehouse sources over one world.

The demo exists to show identity resolution and cleaning at work, so every source samples the same
invented world of companies and people and then damages it the way real exports are damaged.
Only the standard library is used, and every random choice comes from a stream seeded by
``seed`` and a fixed label, so the same seed always writes byte-identical files.
"""

from __future__ import annotations

import csv
import io
import random
import sqlite3
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Collection

PEOPLE_SOURCES = ("sf_contacts", "sf_leads", "event_attendees", "product_users")
PRIMARY_WEIGHTS = (30, 25, 25, 20)
MULTI_SOURCE_SHARE = 0.40

ATTENDEE_COLUMNS = ["attendee_id", "first_name", "last_name", "email", "linkedin", "company_domain",
                    "registered_on", "opted_in"]
PRODUCT_USER_COLUMNS = ["user_id", "email", "first_name", "last_name", "job_title", "linkedin_url", "signup_date",
                        "seats", "is_paying", "updated_at"]
WAREHOUSE_ACCOUNT_COLUMNS = ["account_key", "name", "domain", "employees", "funding_stage"]

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
END = datetime(2026, 6, 30, 23, 59, 59, tzinfo=timezone.utc)

PLACEHOLDERS = ("n/a", "N/A", "none", "-", "", "unknown")
JUNK_EMAILS = ("test@test.com", "noreply@example.com")
ROLE_MAILBOXES = ("info", "sales", "hello", "contact")
BAD_SHARED_LINKEDIN = "https://www.linkedin.com/in/sarah-jennings-talent"
BAD_SHARED_COUNT = 30
ACME_WEBSITES = {0: "https://www.acme.com/", 1: "http://acme.co.uk/about"}
ACME_WAREHOUSE_DOMAINS = {0: "acme.com", 1: "www.acme.co.uk"}
BAD_DATES = ("31/02/2024", "yesterday")
TOO_LONG = 5000

FIRST_NAMES = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
    "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Christopher", "Nancy", "Daniel", "Lisa", "Matthew", "Betty", "Anthony", "Margaret", "Mark", "Sandra",
    "Steven", "Ashley", "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle", "Kevin", "Carol",
    "Brian", "Amanda", "George", "Melissa", "Timothy", "Deborah", "Ryan", "Stephanie", "Jason", "Rebecca",
    "Priya", "Arjun", "Wei", "Mei", "Hiroshi", "Yuki", "Olga", "Dmitri", "Fatima", "Omar",
    "Aisha", "Kwame", "Chidi", "Ngozi", "Lucía", "Mateo", "Sofía", "Diego", "Camila", "Santiago",
    "José", "Zoë", "Jürgen", "François", "Søren", "Łukasz", "Anaïs", "Björn", "Chloé", "Rénee",
    "Liam", "Noah", "Olivia", "Emma", "Ava", "Isabella", "Mia", "Ethan", "Lucas", "Harper",
    "Sanjay", "Deepa", "Raj", "Ananya", "Min-jun", "Seo-yeon", "Thanh", "Linh", "Mohammed", "Layla",
    "Connor", "Siobhan", "Niamh", "Declan", "Ingrid", "Lars", "Katarzyna", "Piotr", "Giulia", "Marco",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Patel", "Shah", "Kumar", "Singh", "Chen", "Wang", "Li", "Zhang", "Kim", "Park",
    "Tanaka", "Suzuki", "Ivanov", "Petrov", "Okafor", "Adeyemi", "Mensah", "Haddad", "Khan", "Ali",
    "O'Brien", "O'Connor", "McCarthy", "Murphy", "Kelly", "Müller", "Schmidt", "Schneider", "Fischer", "Weber",
    "García", "Fernández", "Núñez", "Dubois", "Lefèvre", "Rossi", "Bianchi", "Kowalski", "Nowak", "Lindqvist",
    "van der Berg", "de Vries", "Jansen", "Smith-Jones", "Hughes", "Price", "Bennett", "Wood", "Barnes", "Ross",
    "Henderson", "Coleman", "Jenkins", "Perry", "Powell", "Long", "Patterson", "Foster", "Sanders", "Bryant",
)
TITLES = (
    ("VP Sales", 3), ("Account Executive", 8), ("Senior Account Executive", 5), ("Head of RevOps", 3),
    ("CTO", 2), ("CEO", 2), ("Founder", 1), ("Co-Founder & CEO", 1), ("Sales Development Representative", 6),
    ("Business Development Representative", 4), ("Marketing Manager", 4), ("Director of Demand Generation", 2),
    ("Data Engineer", 4), ("Senior Software Engineer", 5), ("Product Manager", 4), ("Customer Success Manager", 4),
    ("CFO", 1), ("Head of Growth", 2), ("Sales Operations Manager", 3), ("RevOps Analyst", 2),
    ("Chief Revenue Officer", 1), ("VP Marketing", 2), ("Head of Partnerships", 1), ("Solutions Engineer", 3),
    ("Analytics Engineer", 2), ("Director of Sales", 2), ("Office Manager", 1), ("Head of Data", 1),
)
WAREHOUSE_TITLE_VARIANTS = {
    "Senior Account Executive": "Sr. Account Executive",
    "VP Sales": "VP of Sales",
    "Head of RevOps": "Head of Revenue Operations",
    "Sales Development Representative": "SDR",
    "Business Development Representative": "BDR",
    "Senior Software Engineer": "Sr Software Engineer",
    "CTO": "Chief Technology Officer",
}
COMPANY_PREFIXES = (
    "Northwind", "Bluebird", "Lumen", "Quantive", "Brightpath", "Cobalt", "Helix", "Ironclad", "Juniper", "Keystone",
    "Larkspur", "Meridian", "Nimbus", "Orbital", "Pinecrest", "Quill", "Redwood", "Summit", "Tidal", "Umbra",
    "Vertex", "Willow", "Xenon", "Yardstick", "Zephyr", "Aurora", "Beacon", "Cascade", "Driftwood", "Ember",
    "Foxglove", "Granite", "Harbor", "Indigo", "Jasper", "Kestrel", "Lighthouse", "Maple", "Nova", "Oakline",
    "Paragon", "Quarry", "Riverstone", "Sable", "Thistle", "Upland", "Vantage", "Wavelength", "Zenith", "Atlas",
)
COMPANY_SUFFIXES = (
    "Analytics", "Labs", "Systems", "Health", "Logistics", "Software", "Cloud", "Data", "Robotics", "Capital",
    "Energy", "Bio", "Networks", "Security", "Commerce", "Media", "Learning", "Foods", "Mobility", "AI",
)
LEGAL_SUFFIXES = {"us": ("Inc.", "Inc", "LLC", "Corp."), "uk": ("Ltd", "Limited", "plc"), "de": ("GmbH", "AG")}
INDUSTRIES = (
    "Technology", "Software", "Financial Services", "Healthcare", "Manufacturing", "Retail", "Education", "Media",
    "Consulting", "Telecommunications", "Energy", "Transportation", "Biotechnology", "Real Estate", "Insurance",
)
FUNDING_STAGES = ("Bootstrapped", "Seed", "Series A", "Series B", "Series C", "Series D+", "Public", "Private Equity")
TLDS = (("com", 70), ("io", 12), ("ai", 5), ("co", 4), ("co.uk", 5), ("de", 4))
PERSONAL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com", "proton.me")
LINKEDIN_COUNTRIES = ("uk", "de", "fr", "ca", "in", "nl")
TRACKING = ("?trk=public_profile_browsemap", "?trk=people-guest_people_search-card", "?originalSubdomain=uk")
EVENT_DAYS = (date(2024, 4, 18), date(2024, 10, 9), date(2025, 3, 27), date(2025, 9, 17), date(2026, 4, 22))


@dataclass(frozen=True)
class Company:
    """One real-world company; sources show it with differing names, websites and sizes."""

    idx: int
    name: str
    domain: str
    country: str
    linkedin_slug: str
    employees: int
    industry: str
    funding_stage: str


@dataclass(frozen=True)
class Person:
    """One real-world person; each source sees a noisy projection of these facts."""

    idx: int
    first: str
    last: str
    company: Company
    title: str
    work_email: str
    personal_email: str
    linkedin_slug: str | None
    phone: str


@dataclass
class World:
    """The ground truth every source samples, plus which people each source holds."""

    companies: list[Company]
    people: list[Person]
    membership: dict[str, list[Person]]
    role_emails: dict[int, str]
    bad_linkedin: frozenset[int]


def generate_demo(out_dir: Path, seed: int = 7, people: int = 3000, companies: int = 600) -> dict[str, int]:
    """Write the file and warehouse sources into out_dir and return rows written per file or table.
    The CRM sources of the same world come from demo_crm (the demo seeds the CRM sandbox with them)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    world = build_world(seed, people, companies)
    attendees, latin1_row = _attendee_rows(_rng(seed, "attendees"), world)
    users = _product_user_rows(_rng(seed, "users"), world)
    warehouse_accounts = _warehouse_account_rows(_rng(seed, "warehouse"), world)
    _write_csv(out_dir / "event_attendees.csv", ATTENDEE_COLUMNS, attendees,
               latin1_rows=() if latin1_row is None else (latin1_row,))
    _write_warehouse(out_dir / "warehouse.db", users, warehouse_accounts)
    return {
        "event_attendees.csv": len(attendees),
        "warehouse.db:product_users": len(users),
        "warehouse.db:accounts": len(warehouse_accounts),
    }


def build_world(seed: int = 7, people: int = 3000, companies: int = 600) -> World:
    """Invent the ground truth once so every source agrees on who exists."""
    company_list = _companies(_rng(seed, "companies"), companies)
    person_list = _people(_rng(seed, "people"), people, company_list)
    membership = _memberships(_rng(seed, "membership"), person_list)
    role_emails = _role_emails(_rng(seed, "roles"), membership)
    bad = _bad_linkedin_people(_rng(seed, "bad-linkedin"), membership, role_emails)
    return World(company_list, person_list, membership, role_emails, bad)


def _rng(seed: int, label: str) -> random.Random:
    """Give every part its own stream so changing one source never reshuffles another."""
    return random.Random(f"audiences-demo:{seed}:{label}")


# ---------------------------------------------------------------- the world


def _companies(rng: random.Random, count: int) -> list[Company]:
    """Unique names and domains, with acme.com and acme.co.uk planted as distinct look-alikes."""
    result = [
        Company(0, "Acme Corporation", "acme.com", "us", "acme-corp", 4200, "Manufacturing", "Public"),
        Company(1, "Acme Ltd", "acme.co.uk", "uk", "acme-ltd-uk", 180, "Consulting", "Private Equity"),
    ]
    names = [f"{p} {s}" for p in COMPANY_PREFIXES for s in COMPANY_SUFFIXES]
    rng.shuffle(names)
    tlds, weights = zip(*TLDS)
    for idx, name in enumerate(names[: max(count - len(result), 0)], start=len(result)):
        tld = rng.choices(tlds, weights)[0]
        domain = f"{_ascii_slug(name, '')}.{tld}"
        country = {"co.uk": "uk", "de": "de"}.get(tld, "us")
        employees = max(2, min(200_000, int(rng.lognormvariate(4.2, 1.6))))
        slug = _ascii_slug(name, "-") + ("" if rng.random() < 0.7 else f"-{rng.randrange(10, 99)}")
        stage = rng.choice(FUNDING_STAGES[:6]) if employees < 1000 else rng.choice(FUNDING_STAGES[5:])
        result.append(Company(idx, name, domain, country, slug, employees, rng.choice(INDUSTRIES), stage))
    return result[:count]


def _people(rng: random.Random, count: int, companies: list[Company]) -> list[Person]:
    """People cluster in a long tail of companies, as in any real CRM."""
    weights = [1 / (rank + 4) for rank in range(len(companies))]
    titles, title_weights = zip(*TITLES)
    used_emails: set[str] = set()
    used_slugs: set[str] = {BAD_SHARED_LINKEDIN.rsplit("/", 1)[-1]}
    result = []
    for idx in range(count):
        company = rng.choices(companies, weights)[0]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        work = _unique_email(rng, _work_local(rng, first, last), company.domain, used_emails)
        personal = _unique_email(rng, _personal_local(rng, first, last), rng.choice(PERSONAL_DOMAINS), used_emails)
        slug = _linkedin_slug(rng, first, last, used_slugs) if rng.random() < 0.85 else None
        title = rng.choices(titles, title_weights)[0]
        result.append(Person(idx, first, last, company, title, work, personal, slug, _phone(rng, company.country)))
    return result


def _memberships(rng: random.Random, people: list[Person]) -> dict[str, list[Person]]:
    """Each person has a home source, and about 40% also show up in one or two others."""
    membership: dict[str, list[Person]] = {name: [] for name in PEOPLE_SOURCES}
    for person in people:
        chosen = {rng.choices(PEOPLE_SOURCES, PRIMARY_WEIGHTS)[0]}
        if rng.random() < MULTI_SOURCE_SHARE:
            others = [name for name in PEOPLE_SOURCES if name not in chosen]
            chosen.update(rng.sample(others, 1 if rng.random() < 0.75 else 2))
        for name in PEOPLE_SOURCES:
            if name in chosen:
                membership[name].append(person)
    return membership


def _role_emails(rng: random.Random, membership: dict[str, list[Person]]) -> dict[int, str]:
    """Several different people register with the same info@/sales@ mailbox of their company."""
    candidates: dict[int, dict[int, Person]] = {}
    for person in membership["event_attendees"] + membership["sf_leads"]:
        candidates.setdefault(person.company.idx, {})[person.idx] = person
    busy = sorted(idx for idx, group in candidates.items() if len(group) >= 4)
    role_emails: dict[int, str] = {}
    for company_idx in rng.sample(busy, min(6, len(busy))):
        group = list(candidates[company_idx].values())
        mailbox = f"{rng.choice(ROLE_MAILBOXES)}@{group[0].company.domain}"
        for person in rng.sample(group, min(len(group), rng.randint(3, 5))):
            role_emails[person.idx] = mailbox
    return role_emails


def _bad_linkedin_people(
    rng: random.Random, membership: dict[str, list[Person]], roles: dict[int, str]
) -> frozenset[int]:
    """One recruiter's profile URL was pasted onto ~30 unrelated people (registrations and leads)."""
    pool = sorted({p.idx for p in membership["event_attendees"] + membership["sf_leads"] if p.idx not in roles})
    return frozenset(rng.sample(pool, min(BAD_SHARED_COUNT, len(pool))))


@lru_cache(maxsize=65536)
def _ascii_slug(text: str, joiner: str) -> str:
    """Fold accents and punctuation so names can become email locals, slugs and domains."""
    folded = unicodedata.normalize("NFKD", text.replace("ø", "o").replace("ł", "l").replace("Ł", "L"))
    words = "".join(c for c in folded if c.isalnum() or c in " -").replace("-", " ").lower().split()
    return joiner.join(words)


def _work_local(rng: random.Random, first: str, last: str) -> str:
    """Companies use different address patterns, so no single rule maps names to emails."""
    given, family = _ascii_slug(first, ""), _ascii_slug(last, "")
    return rng.choices([f"{given}.{family}", f"{given[0]}{family}", given, f"{given}_{family}", f"{given}{family[0]}"],
                       [50, 20, 10, 5, 15])[0]


def _personal_local(rng: random.Random, first: str, last: str) -> str:
    """Personal mailboxes carry birth years and nicknames rather than clean name patterns."""
    given, family = _ascii_slug(first, ""), _ascii_slug(last, "")
    suffix = rng.choice(["", str(rng.randint(70, 99)), str(rng.randint(1, 999))])
    return rng.choice([f"{given}.{family}", f"{given}{family}", f"{given[0]}{family}", f"{family}.{given}"]) + suffix


def _unique_email(rng: random.Random, local: str, domain: str, used: set[str]) -> str:
    """Two people never share a real mailbox; a digit suffix resolves collisions."""
    email = f"{local}@{domain}"
    while email in used:
        email = f"{local}{rng.randint(2, 99)}@{domain}"
    used.add(email)
    return email


def _linkedin_slug(rng: random.Random, first: str, last: str, used: set[str]) -> str:
    """Vanity slugs first, LinkedIn's random hex suffix when the plain name is taken."""
    base = _ascii_slug(f"{first} {last}", "-")
    slug = base if rng.random() < 0.3 else f"{base}-{rng.getrandbits(24):06x}"
    while slug in used:
        slug = f"{base}-{rng.getrandbits(24):06x}"
    used.add(slug)
    return slug


def _phone(rng: random.Random, country: str) -> str:
    """Phones in the formats people actually type for their country."""
    if country == "uk":
        pattern = rng.choice(["+44 20 7946 {0:04d}", "+44 (0)20 7946 {0:04d}", "+442079460{0:03d}", "020 7946 {0:04d}"])
        return pattern.format(rng.randrange(1000))
    if country == "de":
        pattern = rng.choice(
            ["+49 30 901820{0:02d}", "+49 (0)30 901820{0:02d}", "+4930901820{0:02d}", "030 901820{0:02d}"]
        )
        return pattern.format(rng.randrange(100))
    area, line = rng.choice([212, 312, 415, 512, 617, 646, 720, 206]), rng.randrange(100, 200)
    pattern = rng.choice(["({a}) 555-0{l}", "{a}-555-0{l}", "+1 {a} 555 0{l}", "{a}.555.0{l}", "+1{a}5550{l}"])
    return pattern.format(a=area, l=line)


# ---------------------------------------------------------------- messy renderings


def _shuffled(rng: random.Random, people: list[Person]) -> list[Person]:
    """Exports are not sorted by anything meaningful, so sources must not line up row for row."""
    copy = list(people)
    rng.shuffle(copy)
    return copy


def _timestamp(rng: random.Random, after: datetime = START, before: datetime = END) -> datetime:
    """A moment inside the demo window (2024-01-01 .. 2026-06-30, UTC) unless narrowed."""
    span = int((before - after).total_seconds())
    return after + timedelta(seconds=rng.randrange(max(span, 1)))


def _picks(rng: random.Random, rows: list, count: int) -> list[int]:
    """Distinct row positions to damage; fewer when a small demo has fewer rows."""
    return rng.sample(range(len(rows)), min(count, len(rows)))


def _messy_name(rng: random.Random, name: str) -> str:
    """Hand-typed names arrive shouted, lower-cased or padded."""
    roll = rng.random()
    if roll < 0.02:
        return name.upper()
    if roll < 0.04:
        return name.lower()
    if roll < 0.06:
        return f" {name}  "
    return name


def _messy_email(rng: random.Random, email: str) -> str:
    """The same mailbox in different case, padded, or pasted as a mailto: link."""
    roll = rng.random()
    if roll < 0.05:
        return email.title()
    if roll < 0.07:
        return email.upper()
    if roll < 0.10:
        return rng.choice([f" {email}", f"{email} ", f"  {email}\t"])
    if roll < 0.115:
        return rng.choice(["mailto:", "MAILTO:", "mailto: "]) + email
    return email


def _junk_or(rng: random.Random, value: str, rate: float, junk: tuple[str, ...] = PLACEHOLDERS) -> str:
    """Replace a value with a placeholder at the given rate, as form fillers do."""
    return rng.choice(junk) if rng.random() < rate else value


def _email_value(rng: random.Random, email: str) -> str:
    """An email cell: usually the mailbox, sometimes a placeholder or a throwaway test address."""
    roll = rng.random()
    if roll < 0.02:
        return rng.choice(PLACEHOLDERS)
    if roll < 0.03:
        return rng.choice(JUNK_EMAILS)
    return _messy_email(rng, email)


def _person_linkedin(rng: random.Random, slug: str) -> str:
    """One profile written every way people copy it from a browser."""
    mixed = "-".join(part.capitalize() for part in slug.split("-"))
    variants = [
        (f"https://www.linkedin.com/in/{slug}", 40), (f"https://www.linkedin.com/in/{slug}/", 15),
        (f"linkedin.com/in/{slug}", 10), (f"http://linkedin.com/in/{slug}", 6), (f"www.linkedin.com/in/{slug}", 5),
        (f"https://{rng.choice(LINKEDIN_COUNTRIES)}.linkedin.com/in/{slug}", 8),
        (f"https://www.linkedin.com/in/{slug}{rng.choice(TRACKING)}", 8),
        (f"https://www.LinkedIn.com/in/{mixed}", 5), (f"HTTP://WWW.LINKEDIN.COM/IN/{slug.upper()}/", 3),
    ]
    urls, weights = zip(*variants)
    return rng.choices(urls, weights)[0]


def _company_linkedin(rng: random.Random, slug: str) -> str:
    """A company page URL in the variants CRM users paste."""
    variants = [
        (f"https://www.linkedin.com/company/{slug}", 45), (f"https://www.linkedin.com/company/{slug}/", 15),
        (f"linkedin.com/company/{slug}", 12), (f"http://www.linkedin.com/company/{slug}?trk=top_nav_home", 6),
        (f"https://{rng.choice(LINKEDIN_COUNTRIES)}.linkedin.com/company/{slug}", 7),
        (f"https://www.linkedin.com/company/{slug}/about/", 8), (f"www.LinkedIn.com/company/{slug.title()}", 7),
    ]
    urls, weights = zip(*variants)
    return rng.choices(urls, weights)[0]


def _website(rng: random.Random, domain: str) -> str:
    """A website cell: bare domains, full URLs, deep links, shouting, or nothing."""
    variants = [
        (f"https://www.{domain}/", 30), (domain, 20), (f"www.{domain}", 14), (f"https://{domain}", 14),
        (f"http://{domain}/about", 8), (f"http://www.{domain}", 6), (f"HTTPS://WWW.{domain.upper()}", 2),
        ("", 3), (rng.choice(PLACEHOLDERS), 1),
    ]
    urls, weights = zip(*variants)
    return rng.choices(urls, weights)[0]


def _company_name(rng: random.Random, company: Company) -> str:
    """Names drift between systems: legal suffixes, shouting, abbreviations."""
    roll = rng.random()
    if roll < 0.25 and company.name.split()[-1] not in ("Corporation", "Ltd"):
        return f"{company.name} {rng.choice(LEGAL_SUFFIXES[company.country])}"
    if roll < 0.30:
        return company.name.upper()
    if roll < 0.33:
        return company.name.split()[0]
    return company.name


def _chosen_email(rng: random.Random, world: World, person: Person, work_share: float) -> str:
    """Which mailbox a person used for this source: role inbox, work, personal or none."""
    if person.idx in world.role_emails:
        return _messy_email(rng, world.role_emails[person.idx])
    roll = rng.random()
    if roll < work_share:
        return _email_value(rng, person.work_email)
    if roll < 0.96:
        return _email_value(rng, person.personal_email)
    return ""


def _chosen_linkedin(rng: random.Random, world: World, person: Person, share: float) -> str:
    """A LinkedIn cell: the real profile some of the time, the wrongly pasted one for the planted few."""
    if person.idx in world.bad_linkedin:
        return BAD_SHARED_LINKEDIN
    if person.linkedin_slug and rng.random() < share:
        return _junk_or(rng, _person_linkedin(rng, person.linkedin_slug), 0.02)
    return ""


# ---------------------------------------------------------------- the CRMs (served by the sandbox)


@dataclass(frozen=True)
class CrmRecord:
    """One record the demo's CRMs hold; references are world indexes, the CRM assigns its own ids."""

    key: int                            # the world index of the person or company it describes
    fields: dict[str, object]
    created: datetime
    modified: datetime
    company: int | None = None          # contacts: the world company they belong to
    converted_into: int | None = None   # leads: the person whose Contact this Lead was converted into
    duplicate_of: int | None = None     # contacts: a second entry merged into this person's Contact


@dataclass(frozen=True)
class DemoCrm:
    """The Salesforce org and HubSpot account of the demo: the same world the files sample, messy as CRMs are."""

    accounts: list[CrmRecord]
    contacts: list[CrmRecord]
    leads: list[CrmRecord]
    hubspot_companies: list[CrmRecord]
    hubspot_contacts: list[CrmRecord]

    def counts(self) -> dict[str, int]:
        """Records per CRM object, as `audiences demo` reports what it seeded."""
        return {"salesforce Account": len(self.accounts), "salesforce Contact": len(self.contacts),
                "salesforce Lead": len(self.leads), "hubspot companies": len(self.hubspot_companies),
                "hubspot contacts": len(self.hubspot_contacts)}


def demo_crm(seed: int = 7, people: int = 3000, companies: int = 600) -> DemoCrm:
    """What the CRM sandbox is seeded with for the demo: people and companies of build_world's world."""
    world = build_world(seed, people, companies)
    contacts = _contact_records(_rng(seed, "contacts"), world)
    accounts = _account_records(_rng(seed, "accounts"), world, {c.company for c in contacts} - {None})
    leads = _lead_records(_rng(seed, "leads"), world, {c.key for c in contacts if c.duplicate_of is None})
    hubspot_people = _hubspot_people(_rng(seed, "hubspot-people"), world)
    hubspot_contacts = _hubspot_contact_records(_rng(seed, "hubspot-contacts"), world, hubspot_people)
    hubspot_companies = _hubspot_company_records(_rng(seed, "hubspot-companies"), world,
                                                 {c.company for c in hubspot_contacts})
    return DemoCrm(accounts, contacts, leads, hubspot_companies, hubspot_contacts)


def _stamped(rng: random.Random) -> tuple[datetime, datetime]:
    """Created and last-modified moments inside the demo window."""
    created = _timestamp(rng)
    return created, _timestamp(rng, after=created)


def _contact_records(rng: random.Random, world: World) -> list[CrmRecord]:
    """Contacts typed by sales reps, plus a few people entered twice and merged in Salesforce since."""
    people = _shuffled(rng, world.membership["sf_contacts"])
    records = []
    for person in people:
        records.append(CrmRecord(person.idx, {
            "FirstName": _messy_name(rng, person.first),
            "LastName": _messy_name(rng, person.last),
            "Email": _email_value(rng, person.work_email),
            "Title": _junk_or(rng, person.title, 0.03),
            "Phone": _junk_or(rng, person.phone, 0.03) if rng.random() < 0.7 else "",
            "LinkedIn__c": _chosen_linkedin(rng, world, person, 0.55),
        }, *_stamped(rng), company=person.company.idx if rng.random() > 0.01 else None))
    for person in rng.sample(people, min(len(people), max(2, len(people) // 40))):
        records.append(CrmRecord(person.idx, {
            "FirstName": person.first, "LastName": person.last, "Email": person.personal_email,
            "Title": person.title, "Phone": "", "LinkedIn__c": "",
        }, *_stamped(rng), company=person.company.idx, duplicate_of=person.idx))
    return records


def _account_records(rng: random.Random, world: World, with_contacts: set[int]) -> list[CrmRecord]:
    """Accounts for every company with contacts plus prospects without any, acme.com and acme.co.uk included."""
    wanted = with_contacts | {c.idx for c in world.companies if rng.random() < 0.35} | {0, 1}
    others = sorted(wanted - {0, 1})
    subdomain_sites = set(rng.sample(others, min(10, len(others))))
    records = []
    for company in world.companies:
        if company.idx not in wanted:
            continue
        website = _website(rng, company.domain)
        if company.idx in ACME_WEBSITES:
            website = ACME_WEBSITES[company.idx]
        elif company.idx in subdomain_sites:
            website = rng.choice(["https://www2.{d}/", "https://shop.{d}", "http://www2.{d}/home", "shop.{d}"]).format(
                d=company.domain)
        records.append(CrmRecord(company.idx, {
            "Name": _company_name(rng, company),
            "Website": website,
            "LinkedIn_Company__c": _company_linkedin(rng, company.linkedin_slug) if rng.random() < 0.6 else "",
            "NumberOfEmployees": _drift(rng, company.employees) if rng.random() < 0.8 else None,
            "Industry": _junk_or(rng, company.industry, 0.03) if rng.random() < 0.85 else "",
        }, *_stamped(rng)))
    return records


def _drift(rng: random.Random, employees: int) -> int:
    """Headcounts disagree between systems by a few percent."""
    return max(1, round(employees * rng.uniform(0.85, 1.15)))


def _lead_records(rng: random.Random, world: World, contact_people: set[int]) -> list[CrmRecord]:
    """Leads, ~8% converted into a Contact (several Leads into one, some linked by nothing else)."""
    people = _shuffled(rng, world.membership["sf_leads"])
    both = [p for p in people if p.idx in contact_people]
    converted = set(p.idx for p in rng.sample(both, min(len(both), round(len(people) * 0.065))))
    repeated = set(rng.sample(sorted(converted), len(converted) // 5))
    records = []
    for person in people:
        copies = 1 + (rng.randint(1, 2) if person.idx in repeated else 0)
        for _ in range(copies):
            into = person.idx if person.idx in converted else None
            records.append(CrmRecord(person.idx, _lead_fields(rng, world, person, into is not None), *_stamped(rng),
                                     converted_into=into))
    return records


def _lead_fields(rng: random.Random, world: World, person: Person, converted: bool) -> dict[str, object]:
    """One lead; a converted one often carries a personal or blank email and no LinkedIn."""
    email, linkedin = _chosen_email(rng, world, person, 0.85), _chosen_linkedin(rng, world, person, 0.45)
    if converted and rng.random() < 0.45:
        email, linkedin = rng.choice([person.personal_email, "", rng.choice(PLACEHOLDERS)]), ""
    return {
        "FirstName": _messy_name(rng, person.first) if rng.random() > 0.03 else "",
        "LastName": _messy_name(rng, person.last),
        "Email": email,
        "Title": _junk_or(rng, person.title, 0.04) if rng.random() < 0.8 else "",
        "Company": _company_name(rng, person.company),
        "LinkedIn__c": linkedin,
    }


def _hubspot_people(rng: random.Random, world: World) -> list[Person]:
    """Marketing's HubSpot holds event registrants above all, and some of sales' and the product's people."""
    share = {"sf_contacts": 0.3, "sf_leads": 0.25, "event_attendees": 0.45, "product_users": 0.15}
    chosen: dict[int, Person] = {}
    for source, people in world.membership.items():
        for person in people:
            if rng.random() < share[source]:
                chosen[person.idx] = person
    return _shuffled(rng, [chosen[idx] for idx in sorted(chosen)])


def _hubspot_contact_records(rng: random.Random, world: World, people: list[Person]) -> list[CrmRecord]:
    """HubSpot contacts; HubSpot keeps one contact per email, so a mailbox already taken is left blank."""
    taken: set[str] = set()
    records = []
    for person in people:
        email = _hubspot_email(_chosen_email(rng, world, person, 0.7), taken)
        records.append(CrmRecord(person.idx, {
            "email": email,
            "firstname": _messy_name(rng, person.first),
            "lastname": _messy_name(rng, person.last) if rng.random() > 0.02 else "",
            "jobtitle": _junk_or(rng, person.title, 0.03) if rng.random() < 0.75 else "",
            "company": _company_name(rng, person.company),
            "hs_linkedin_url": _chosen_linkedin(rng, world, person, 0.5),
            "lifecyclestage": rng.choice(("subscriber", "lead", "marketingqualifiedlead", "customer")),
        }, *_stamped(rng), company=person.company.idx))
    return records


def _hubspot_email(value: str, taken: set[str]) -> str:
    """HubSpot validates and lower-cases emails: padding and mailto: are gone, placeholders never stored."""
    email = value.strip()
    if email.lower().startswith("mailto:"):
        email = email[len("mailto:"):].strip()
    email = email.lower()
    if "@" not in email or email in taken:
        return ""
    taken.add(email)
    return email


def _hubspot_company_records(rng: random.Random, world: World, with_contacts: set[int | None]) -> list[CrmRecord]:
    """Companies of HubSpot's contacts plus a few target accounts without any."""
    records = []
    for company in world.companies:
        if company.idx not in with_contacts and rng.random() >= 0.1:
            continue
        records.append(CrmRecord(company.idx, {
            "name": _company_name(rng, company),
            "domain": company.domain if rng.random() < 0.9 else f"www.{company.domain}",
            "website": _website(rng, company.domain),
            "industry": company.industry if rng.random() < 0.8 else "",
            "numberofemployees": str(_drift(rng, company.employees)) if rng.random() < 0.7 else "",
            "linkedin_company_page": _company_linkedin(rng, company.linkedin_slug) if rng.random() < 0.5 else "",
            "country": company.country.upper(),
        }, *_stamped(rng)))
    return records


# ---------------------------------------------------------------- event csv


def _attendee_rows(rng: random.Random, world: World) -> tuple[list[dict[str, str]], int | None]:
    """Event registrations (hand-typed, personal emails, domains in every shape) and the Latin-1 row."""
    people = _shuffled(rng, world.membership["event_attendees"])
    rows = [_attendee_row(rng, world, person, n) for n, person in enumerate(people)]
    picks = _picks(rng, rows, 8)
    for i in picks[:3]:
        rows[i]["attendee_id"] = ""
    for i, bad in zip(picks[3:6], BAD_DATES + ("2025-02-30",)):
        rows[i]["registered_on"] = bad
    repeats = []
    for i in picks[6:8]:
        later = dict(rows[i])
        later["opted_in"] = "no" if later["opted_in"] in ("yes", "true", "1") else "yes"
        repeats.append(later)
    return rows + repeats, _latin1_row(rng, rows, set(picks))


def _attendee_row(rng: random.Random, world: World, person: Person, n: int) -> dict[str, str]:
    """One registration for one of the company events."""
    event_day = rng.choice(EVENT_DAYS)
    domain = person.company.domain
    company_domain = rng.choices(
        [domain, f"www.{domain}", f"https://{domain}", f"https://www.{domain}/", domain.upper(), "",
         rng.choice(PLACEHOLDERS)],
        [78, 7, 4, 3, 2, 4, 2],
    )[0]
    return {
        "attendee_id": f"A{240000 + n * 7 + rng.randrange(7):07d}",
        "first_name": _messy_name(rng, person.first),
        "last_name": _messy_name(rng, person.last),
        "email": _chosen_email(rng, world, person, 0.75),
        "linkedin": _chosen_linkedin(rng, world, person, 0.5),
        "company_domain": company_domain,
        "registered_on": (event_day - timedelta(days=rng.randrange(1, 60))).isoformat(),
        "opted_in": rng.choices(["true", "false", "yes", "no", "1", "0", ""], [20, 12, 20, 10, 10, 8, 20])[0],
    }


def _latin1_row(rng: random.Random, rows: list[dict[str, str]], damaged: set[int]) -> int | None:
    """The one registration an old kiosk exported in Latin-1 (José as b'Jos\\xe9': not valid UTF-8)."""
    candidates = [
        i for i, row in enumerate(rows)
        if i not in damaged and _latin1_only(row["first_name"] + row["last_name"])
    ]
    return rng.choice(candidates) if candidates else None


def _latin1_only(text: str) -> bool:
    """Accented text that Latin-1 can encode, so the row differs from UTF-8 and still round-trips."""
    return not text.isascii() and all(ord(ch) < 256 for ch in text)


# ---------------------------------------------------------------- warehouse


def _product_user_rows(rng: random.Random, world: World) -> list[tuple]:
    """Product sign-ups: names often missing, titles phrased differently from the CRM."""
    rows = []
    for n, person in enumerate(_shuffled(rng, world.membership["product_users"])):
        signup = _timestamp(rng)
        rows.append([
            10_000 + n,
            _chosen_email(rng, world, person, 0.75),
            _messy_name(rng, person.first) if rng.random() < 0.85 else None,
            _messy_name(rng, person.last) if rng.random() < 0.85 else None,
            _warehouse_title(rng, person.title) if rng.random() < 0.5 else None,
            _chosen_linkedin(rng, world, person, 0.3) or None,
            signup.date().isoformat(),
            rng.choices([1, 1, 2, 3, 5, 10, 25, 50], [30, 10, 15, 10, 12, 10, 8, 5])[0],
            int(rng.random() < 0.35),
            _sql_time(_timestamp(rng, after=signup)),
        ])
    return _damage_product_users(rng, rows)


def _damage_product_users(rng: random.Random, rows: list[list]) -> list[tuple]:
    """NULL keys, text in an integer column, bad dates, a pasted bio as title and a user id repeated by a replica."""
    picks = _picks(rng, rows, 10)
    for i in picks[:2]:
        rows[i][0] = None
    for i in picks[2:5]:
        rows[i][7] = "ten"
    for i, bad in zip(picks[5:7], BAD_DATES):
        rows[i][6] = bad
    if len(picks) > 9:
        rows[picks[9]][4] = ("Head of RevOps | GTM systems | Salesforce admin | " * 120)[:TOO_LONG]
    repeats = []
    for i in picks[7:9]:
        later = list(rows[i])
        later[7], later[8] = 12, 1
        later[9] = _sql_time(datetime.fromisoformat(rows[i][9]) + timedelta(hours=rng.randint(1, 240)))
        repeats.append(later)
    return [tuple(row) for row in rows + repeats]


def _warehouse_title(rng: random.Random, title: str) -> str:
    """The product asks for a job title in free text, so the wording differs from Salesforce."""
    if title in WAREHOUSE_TITLE_VARIANTS and rng.random() < 0.6:
        return WAREHOUSE_TITLE_VARIANTS[title]
    return _junk_or(rng, title, 0.03)


def _sql_time(moment: datetime) -> str:
    """SQLite's own timestamp text, which sorts correctly as a string."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _warehouse_account_rows(rng: random.Random, world: World) -> list[tuple]:
    """Warehouse accounts overlap Salesforce accounts by about half and name them differently."""
    rows = []
    for company in world.companies:
        if company.idx > 1 and rng.random() >= 0.55:
            continue
        domain = rng.choices([company.domain, f"www.{company.domain}", f"https://{company.domain}/", None, "unknown"],
                             [85, 6, 4, 3, 2])[0]
        domain = ACME_WAREHOUSE_DOMAINS.get(company.idx, domain)
        rows.append((
            f"acct_{company.idx:05d}",
            _company_name(rng, company),
            domain,
            _drift(rng, company.employees) if rng.random() < 0.9 else None,
            company.funding_stage if rng.random() < 0.85 else rng.choice([None, "unknown", "n/a"]),
        ))
    return rows


def _write_warehouse(path: Path, users: list[tuple], accounts: list[tuple]) -> None:
    """A fresh SQLite file; no primary keys, because the demo warehouse has duplicates and NULL ids."""
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path)
    try:
        connection.execute(
            "CREATE TABLE product_users (user_id INTEGER, email TEXT, first_name TEXT, last_name TEXT, job_title TEXT,"
            " linkedin_url TEXT, signup_date TEXT, seats INTEGER, is_paying INTEGER, updated_at TEXT)"
        )
        connection.execute(
            "CREATE TABLE accounts (account_key TEXT, name TEXT, domain TEXT, employees INTEGER, funding_stage TEXT)"
        )
        connection.executemany(_insert("product_users", PRODUCT_USER_COLUMNS), users)
        connection.executemany(_insert("accounts", WAREHOUSE_ACCOUNT_COLUMNS), accounts)
        connection.commit()
    finally:
        connection.close()


def _insert(table: str, columns: list[str]) -> str:
    """A positional INSERT for one table, so row tuples stay in column order."""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


# ---------------------------------------------------------------- csv output


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, str]], latin1_rows: Collection[int] = ()) -> None:
    """UTF-8 CSV, except rows listed in latin1_rows, which are encoded as Latin-1 bytes."""
    with path.open("wb") as out:
        out.write(_csv_line(columns).encode("utf-8"))
        for i, row in enumerate(rows):
            out.write(_csv_line([row[c] for c in columns]).encode("latin-1" if i in latin1_rows else "utf-8"))


def _csv_line(values: list[str]) -> str:
    """One CSV record with standard quoting and a newline terminator."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


# ---------------------------------------------------------------- CRM sandbox (benchmark-sized worlds)


def crm_companies(seed: int = 7, count: int = 600) -> list[Company]:
    """The same invented companies the demo uses (at most 1,000 distinct names), for the CRM sandbox."""
    return _companies(_rng(seed, "companies"), count)


def crm_people(seed: int, count: int, companies: list[Company]) -> list[Person]:
    """People like build_world's, drawn fast enough for 250,000-record sandboxes (weights accumulated once)."""
    rng = _rng(seed, "crm-people")
    cumulative = list(accumulate(1 / (rank + 4) for rank in range(len(companies))))
    titles, title_weights = zip(*TITLES)
    title_cumulative = list(accumulate(title_weights))
    used_emails: set[str] = set()
    used_slugs: set[str] = {BAD_SHARED_LINKEDIN.rsplit("/", 1)[-1]}
    people = []
    for idx in range(count):
        company = rng.choices(companies, cum_weights=cumulative)[0]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        work = _unique_email(rng, _work_local(rng, first, last), company.domain, used_emails)
        personal = _unique_email(rng, _personal_local(rng, first, last), rng.choice(PERSONAL_DOMAINS), used_emails)
        slug = _linkedin_slug(rng, first, last, used_slugs) if rng.random() < 0.85 else None
        title = rng.choices(titles, cum_weights=title_cumulative)[0]
        people.append(Person(idx, first, last, company, title, work, personal, slug, _phone(rng, company.country)))
    return people


def crm_moment(rng: random.Random, after: datetime = START, before: datetime = END) -> datetime:
    """A moment in the demo window, for CRM created/modified stamps."""
    return _timestamp(rng, after, before)
