"""Key and value normalization, vectorized over a batch (a pandas Series), never row by row.

Each normalizer returns the cleaned values and a Series of problems (None where the value is
fine), so the caller can quarantine a value without losing the row.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import email_validator
import pandas as pd
import phonenumbers
import tldextract

PLACEHOLDERS = frozenset(
    {"", "n/a", "na", "n.a.", "none", "null", "nil", "-", "--", "---", "?", ".", "0", "unknown",
     "not available", "not provided", "tbd", "undefined", "#n/a", "xxx", "x"}
)
# In a number or boolean field "0" is a value (a headcount of none, false), not a placeholder.
VALUE_PLACEHOLDERS = PLACEHOLDERS - {"0"}
JUNK_EMAIL_DOMAINS = frozenset(
    {"example.com", "example.org", "example.net", "test.com", "test.test", "email.com",
     "domain.com", "localhost", "mailinator.com", "invalid"}
)
JUNK_EMAIL_LOCALS = frozenset({"noreply", "no-reply", "donotreply", "do-not-reply", "test", "asdf", "none"})
ROLE_MAILBOXES = frozenset(
    {"info", "sales", "support", "admin", "contact", "hello", "office", "marketing", "team", "hr",
     "billing", "careers", "jobs", "help", "service", "enquiries", "inquiries", "mail", "webmaster",
     "accounts", "finance", "press", "security", "privacy", "legal", "postmaster"}
)
FREE_MAIL_DOMAINS = frozenset(
    {"gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "hotmail.com", "outlook.com",
     "live.com", "msn.com", "aol.com", "icloud.com", "me.com", "proton.me", "protonmail.com",
     "gmx.de", "gmx.net", "web.de", "yandex.ru", "mail.ru", "qq.com", "163.com", "zoho.com"}
)

# A strict subset of valid addresses, checked in bulk; anything else goes to email-validator.
FAST_EMAIL = r"^[a-z0-9](?:[a-z0-9._%+'-]{0,62}[a-z0-9_-])?@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}$"
# Python's \s spelled out (every str.isspace() character; all are in the Basic Multilingual
# Plane). With \s in a pattern, pandas matches it with Python's re once per value, because RE2's
# \s (pyarrow's) misses some of them; spelled out, the whole column goes to pyarrow (5x faster).
WHITESPACE = "".join(c for c in map(chr, range(0x10000)) if c.isspace())
# Legacy /pub/<name>/x/y/z URLs are left out: they have no deterministic /in/ form, and the name
# part alone is shared by namesakes.
LINKEDIN_PATTERN = (r"^(?:https?://)?(?:[a-z]{2,3}\.|www\.|mobile\.)?linkedin\.com/(in|company|school)/"
                    "([^/?#" + WHITESPACE + "]+)")
URL_HOST = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:[^@/]*@)?([^/:?#\s]+)", re.IGNORECASE)

# Bundled public suffix list, offline; its private section keeps acme.github.io and
# globex.github.io (shared hosts) apart.
_TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


class Cleaned:
    """Normalized values plus, per row, the problem found (None when the value is usable)."""

    def __init__(self, values: pd.Series, problems: pd.Series):
        self.values = values
        self.problems = problems


def _blank_placeholders(series: pd.Series, extra: frozenset[str] = frozenset(),
                        placeholders: frozenset[str] = PLACEHOLDERS) -> pd.Series:
    """Strip text and turn placeholders ('n/a', '-', 'none', ...) into missing values."""
    text = series.astype("string").str.strip()
    lowered = text.str.lower()
    return text.mask(lowered.isin(placeholders | extra) | text.isna())


def _no_problems(series: pd.Series) -> pd.Series:
    return pd.Series(None, index=series.index, dtype="object")  # pragma: no mutate (equivalent: None or NaN, both "no problem")


def _map_unique(values: pd.Series, fn: Callable[[str], str | None]) -> pd.Series:
    """Apply a per-value library call once per distinct value, not once per row."""
    present = values.dropna()
    if present.empty:
        return pd.Series(pd.NA, index=values.index, dtype="string")  # pragma: no mutate (equivalent: every way of spelling "all missing")
    uniques = present.unique()
    mapping = {value: fn(value) for value in uniques}
    return values.map(mapping).astype("string")


def clean_text(series: pd.Series, extra: frozenset[str] = frozenset()) -> Cleaned:
    return Cleaned(_blank_placeholders(series, extra), _no_problems(series))


def clean_email(series: pd.Series, extra: frozenset[str] = frozenset()) -> Cleaned:
    """Lowercase, strip 'mailto:', drop placeholders and junk; invalid syntax is a problem."""
    text = _blank_placeholders(series, extra).str.replace(r"(?i)^mailto:", "", regex=True)  # inline flag: runs in pyarrow
    text = text.str.strip().str.lower()  # pragma: no mutate (equivalent: upper case misses the fast pattern and the slow check lowercases)
    # Two dots in a row pass the pattern (RE2 has no look-ahead) but no mailbox has them.
    # Mutants here only move values between the fast pattern and the full check (same result).
    fast_ok = (text.str.match(FAST_EMAIL) & ~text.str.contains("..", regex=False)).fillna(False).astype(bool)  # pragma: no mutate
    slow = text[~fast_ok & text.notna()]  # pragma: no mutate (equivalent: a valid address passes the full check too)
    checked = _map_unique(slow, _validate_email_slowly) if not slow.empty else slow  # pragma: no mutate (equivalent)
    values = text.where(fast_ok, pd.NA)  # pragma: no mutate (equivalent: None or NA, both missing)
    values.loc[checked.index] = checked
    problems = _no_problems(series)
    problems[text.notna() & values.isna()] = "invalid_email"
    local, domain = _local_part(values), _domain_part(values)
    junk = (
        domain.isin(JUNK_EMAIL_DOMAINS)
        | local.isin(JUNK_EMAIL_LOCALS)
        | (local == domain.str.replace(r"\..*$", "", regex=True))
    ).fillna(False).astype(bool)
    problems[junk] = "placeholder_email"
    return Cleaned(values.mask(junk), problems)


def _validate_email_slowly(value: str) -> str | None:
    try:
        return email_validator.validate_email(value, check_deliverability=False).normalized.lower()
    except email_validator.EmailNotValidError:
        return None


def _local_part(emails: pd.Series) -> pd.Series:
    return emails.str.replace(r"@.*$", "", regex=True)


def _domain_part(emails: pd.Series) -> pd.Series:
    return emails.str.replace(r"^[^@]*@", "", regex=True)


def linkable_emails(emails: pd.Series, role_mailboxes_are_junk: bool) -> pd.Series:
    """Emails that may link records: shared role mailboxes (info@, sales@) never do if configured."""
    if not role_mailboxes_are_junk:
        return emails
    return emails.mask(_local_part(emails).isin(ROLE_MAILBOXES).fillna(False).astype(bool))  # pragma: no mutate (equivalent: fills only missing emails)


def email_domains(emails: pd.Series) -> pd.Series:
    """Company domain from a work email; free-mail providers say nothing about the employer."""
    domains = clean_domain(_domain_part(emails)).values
    return domains.mask(domains.isin(FREE_MAIL_DOMAINS).fillna(False).astype(bool))  # pragma: no mutate (equivalent: fills only missing domains)


def clean_linkedin(series: pd.Series, extra: frozenset[str] = frozenset()) -> Cleaned:
    """Canonical https://www.linkedin.com/<in|company|school>/<slug>: scheme, www., country
    subdomain, trailing slash and query string never make two URLs differ."""
    text = _blank_placeholders(series, extra)
    lowered = text.str.lower()
    valid = lowered.str.match(LINKEDIN_PATTERN).fillna(False).astype(bool)  # pragma: no mutate (equivalent: fills only missing values)
    # The rest of the value goes, line breaks included ("(?s:.*)": a bare ".*$" stopped at a line
    # break and left the whole value in place).
    values = lowered.str.replace(LINKEDIN_PATTERN + "(?s:.*)$", r"https://www.linkedin.com/\1/\2", regex=True)
    values = values.where(valid, pd.NA).astype("string")  # pragma: no mutate (equivalent: None or NA, both missing)
    problems = _no_problems(series)
    problems[text.notna() & values.isna()] = "invalid_linkedin_url"
    return Cleaned(values, problems)


def _registered_domain(host: str) -> str | None:
    result = _TLD(host)
    return result.top_domain_under_public_suffix or None


def clean_domain(series: pd.Series, extra: frozenset[str] = frozenset()) -> Cleaned:
    """The registrable domain of a website, URL or bare host: www. and subdomains go, while
    acme.co.uk and acme.com stay distinct (public suffix list)."""
    text = _blank_placeholders(series, extra)
    host = text.str.extract(URL_HOST)[0].str.lower()  # a trailing dot (acme.com.) tldextract drops itself
    values = _map_unique(host, _registered_domain)
    problems = _no_problems(series)
    problems[text.notna() & values.isna()] = "invalid_domain"
    return Cleaned(values, problems)


def clean_url(series: pd.Series, extra: frozenset[str] = frozenset()) -> Cleaned:
    """A URL with scheme and lowercase host, no trailing slash; LinkedIn URLs get their canonical form."""
    text = _blank_placeholders(series, extra)
    is_linkedin = text.str.contains(r"linkedin\.com/", case=False, regex=True).fillna(False).astype(bool)  # pragma: no mutate (fillna: only missing values)
    # Case-blind matches (a mutant spelling the letters upper case, or case=None, is the same
    # match) and fills that touch only missing values.
    with_scheme = text.where(text.str.match(r"^[a-z][a-z0-9+.-]*://", case=False).fillna(False), "https://" + text)  # pragma: no mutate
    parts = with_scheme.str.extract(r"^([a-z][a-z0-9+.-]*)://([^/?#\s]+)(.*)$", flags=re.IGNORECASE)  # pragma: no mutate
    valid_host = parts[1].str.contains(r"^[a-z0-9.-]+\.[a-z]{2,}(?::\d+)?$", case=False).fillna(False).astype(bool)  # pragma: no mutate
    values = (parts[0].str.lower() + "://" + parts[1].str.lower() + parts[2].str.rstrip("/")).astype("string")
    values = values.where(valid_host, pd.NA)  # pragma: no mutate (equivalent: None or NA, both missing)
    if is_linkedin.any():
        values = values.mask(is_linkedin, clean_linkedin(text.where(is_linkedin)).values)
    problems = _no_problems(series)
    problems[text.notna() & values.isna()] = "invalid_url"
    return Cleaned(values, problems)


def clean_phone(series: pd.Series, region: str, extra: frozenset[str] = frozenset()) -> Cleaned:
    """E.164 through Google's libphonenumber metadata; unparsable numbers are a value problem."""
    text = _blank_placeholders(series, extra)

    def to_e164(value: str) -> str | None:
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_possible_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    values = _map_unique(text, to_e164)
    problems = _no_problems(series)
    problems[text.notna() & values.isna()] = "invalid_phone"
    return Cleaned(values, problems)


def parse_number(series: pd.Series, extra: frozenset[str] = frozenset()) -> Cleaned:
    """Numbers with thousands separators and currency signs allowed; anything else is unparsable.
    "0" is a number (VALUE_PLACEHOLDERS)."""
    text = _blank_placeholders(series, extra, VALUE_PLACEHOLDERS).str.replace("[,$€£" + WHITESPACE + "]", "", regex=True)
    values = pd.to_numeric(text, errors="coerce").astype("Float64")  # pragma: no mutate (equivalent: NaN and NA both land as NULL)
    problems = _no_problems(series)
    problems[text.notna() & values.isna()] = "unparsable_number"
    return Cleaned(values, problems)


def parse_date(series: pd.Series, extra: frozenset[str] = frozenset()) -> Cleaned:
    """ISO 8601 in bulk; other spellings one distinct value at a time; stored as naive UTC."""
    text = _blank_placeholders(series, extra)
    # The bulk pass is speed only: whatever it leaves unparsed, the per-value pass below parses.
    values = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")  # pragma: no mutate
    retry = text.notna() & values.isna()  # pragma: no mutate (equivalent: retrying missing values parses nothing)
    if retry.any():
        values[retry] = pd.to_datetime(text[retry], errors="coerce", utc=True, format="mixed")
    values = values.dt.tz_convert(None)
    problems = _no_problems(series)
    problems[text.notna() & values.isna()] = "unparsable_date"
    return Cleaned(values, problems)


TRUE_WORDS = {"true": True, "t": True, "yes": True, "y": True, "1": True, "1.0": True,
              "false": False, "f": False, "no": False, "n": False, "0": False, "0.0": False}


def parse_boolean(series: pd.Series, extra: frozenset[str] = frozenset()) -> Cleaned:
    text = _blank_placeholders(series, extra, VALUE_PLACEHOLDERS).str.lower()
    values = text.map(TRUE_WORDS).astype("boolean")  # pragma: no mutate (equivalent: NA and NaN both land as NULL)
    problems = _no_problems(series)
    problems[text.notna() & values.isna()] = "unparsable_boolean"
    return Cleaned(values, problems)


# Problems that make a whole row malformed (quarantined); the others drop just the value.
ROW_PROBLEMS = frozenset({"unparsable_number", "unparsable_date", "unparsable_boolean"})
