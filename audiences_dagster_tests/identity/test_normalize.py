"""Key normalization: spellings of one key become one value; placeholders and junk become none."""

from __future__ import annotations

import pandas as pd
import pytest

from audiences_dagster.identity import normalize as norm


def _values(cleaned: norm.Cleaned) -> list[str | None]:
    return [None if pd.isna(v) else v for v in cleaned.values]


def _problems(cleaned: norm.Cleaned) -> list[str | None]:
    return [None if pd.isna(p) else p for p in cleaned.problems]


def test_linkedin_url_variants_give_one_canonical_url() -> None:
    variants = pd.Series([
        "https://www.linkedin.com/in/jane-doe",
        "http://linkedin.com/in/jane-doe",
        "linkedin.com/in/jane-doe/",
        "www.linkedin.com/in/jane-doe",
        "https://uk.linkedin.com/in/jane-doe/",
        "https://de.linkedin.com/in/Jane-Doe?trk=public_profile",
        "  HTTPS://WWW.LINKEDIN.COM/IN/JANE-DOE/?originalSubdomain=fr  ",
        "https://www.linkedin.com/in/jane-doe#experience",
    ])
    assert set(_values(norm.clean_linkedin(variants))) == {"https://www.linkedin.com/in/jane-doe"}


def test_any_space_ends_a_linkedin_slug_like_pythons_whitespace() -> None:
    spaced = pd.Series([f"linkedin.com/in/jane{space}doe" for space in (" ", "\t", "\u00a0", "\u2003", "\u3000", "\x1c")]
                       + ["linkedin.com/in/jane\ndoe"])  # a line break sends the batch through Python's re
    assert set(_values(norm.clean_linkedin(spaced))) == {"https://www.linkedin.com/in/jane"}


def test_linkedin_company_page_stays_apart_from_person_profile() -> None:
    cleaned = norm.clean_linkedin(pd.Series(["linkedin.com/company/acme", "linkedin.com/in/acme"]))
    assert _values(cleaned) == ["https://www.linkedin.com/company/acme", "https://www.linkedin.com/in/acme"]


def test_legacy_public_profile_urls_of_namesakes_never_share_a_key() -> None:
    cleaned = norm.clean_linkedin(pd.Series(["linkedin.com/pub/john-smith/1/a2/3b4",
                                             "https://www.linkedin.com/pub/john-smith/5/6c/78d",
                                             "https://www.linkedin.com/pub/dir/John/Smith"]))
    assert _values(cleaned) == [None, None, None]
    assert _problems(cleaned) == ["invalid_linkedin_url"] * 3


def test_non_linkedin_url_is_a_problem_not_a_key() -> None:
    cleaned = norm.clean_linkedin(pd.Series(["https://twitter.com/jane"]))
    assert _values(cleaned) == [None]
    assert _problems(cleaned) == ["invalid_linkedin_url"]


def test_domain_drops_scheme_www_subdomains_and_path() -> None:
    spellings = pd.Series(["acme.com", "www.acme.com", "https://www.acme.com/about", "http://mail.eu.acme.com",
                           "ACME.COM.", "https://user@shop.acme.com:8443/cart"])
    assert set(_values(norm.clean_domain(spellings))) == {"acme.com"}


def test_country_code_domain_stays_distinct_from_dot_com() -> None:
    cleaned = norm.clean_domain(pd.Series(["www.acme.co.uk", "shop.acme.co.uk", "acme.com"]))
    assert _values(cleaned) == ["acme.co.uk", "acme.co.uk", "acme.com"]


def test_sites_on_a_shared_host_keep_their_own_domain() -> None:
    cleaned = norm.clean_domain(pd.Series(["https://acme.myshopify.com", "www.globex.myshopify.com",
                                           "acme.github.io/docs"]))
    assert _values(cleaned) == ["acme.myshopify.com", "globex.myshopify.com", "acme.github.io"]


def test_email_ignores_case_whitespace_and_mailto() -> None:
    spellings = pd.Series(["Jane.Doe@Acme.com", "  jane.doe@acme.com\t", "mailto:jane.doe@ACME.COM",
                           "MAILTO:Jane.Doe@acme.com"])
    assert set(_values(norm.clean_email(spellings))) == {"jane.doe@acme.com"}


@pytest.mark.parametrize("placeholder", ["n/a", "N/A", "none", "None", "-", "", "   ", "null"])
def test_placeholder_text_gives_no_email(placeholder: str) -> None:
    cleaned = norm.clean_email(pd.Series([placeholder]))
    assert _values(cleaned) == [None]
    assert _problems(cleaned) == [None]


@pytest.mark.parametrize("junk", ["test@test.com", "noreply@example.com", "No-Reply@acme.com", "jane@example.org"])
def test_junk_email_gives_no_value_and_is_reported(junk: str) -> None:
    cleaned = norm.clean_email(pd.Series([junk]))
    assert _values(cleaned) == [None]
    assert _problems(cleaned) == ["placeholder_email"]


def test_invalid_email_gives_no_value_and_is_reported() -> None:
    cleaned = norm.clean_email(pd.Series(["jane at acme dot com"]))
    assert _values(cleaned) == [None]
    assert _problems(cleaned) == ["invalid_email"]


@pytest.mark.parametrize("placeholder", ["n/a", "none", "-", ""])
def test_placeholder_gives_no_linkedin_url_or_domain(placeholder: str) -> None:
    assert _values(norm.clean_linkedin(pd.Series([placeholder]))) == [None]
    assert _values(norm.clean_domain(pd.Series([placeholder]))) == [None]


def test_configured_extra_placeholder_gives_no_value() -> None:
    cleaned = norm.clean_email(pd.Series(["unknown@acme.com", "REDACTED"]), extra=frozenset({"redacted"}))
    assert _values(cleaned) == ["unknown@acme.com", None]


def test_role_mailbox_is_not_linkable_when_configured_as_junk() -> None:
    emails = norm.clean_email(pd.Series(["info@acme.com", "sales@acme.com", "jane@acme.com"])).values
    assert _values(norm.Cleaned(norm.linkable_emails(emails, True), emails)) == [None, None, "jane@acme.com"]


def test_role_mailbox_is_linkable_when_not_configured_as_junk() -> None:
    emails = norm.clean_email(pd.Series(["info@acme.com", "jane@acme.com"])).values
    assert _values(norm.Cleaned(norm.linkable_emails(emails, False), emails)) == ["info@acme.com", "jane@acme.com"]


def test_email_domain_names_the_employer_but_never_a_free_mail_provider() -> None:
    emails = pd.Series(["jane@eu.acme.com", "bob@gmail.com", "eve@acme.co.uk"], dtype="string")
    assert _values(norm.Cleaned(norm.email_domains(emails), emails)) == ["acme.com", None, "acme.co.uk"]


def test_local_part_equal_to_the_domain_name_is_a_placeholder_email() -> None:
    cleaned = norm.clean_email(pd.Series(["globex@globex.io", "jane@globex.io", "globex@globex.co.uk"]))
    assert _values(cleaned) == [None, "jane@globex.io", None]
    assert _problems(cleaned) == ["placeholder_email", None, "placeholder_email"]


def test_a_junk_local_part_alone_makes_a_placeholder_email() -> None:
    cleaned = norm.clean_email(pd.Series(["donotreply@globex.io", "asdf@globex.io"]))
    assert _values(cleaned) == [None, None]
    assert _problems(cleaned) == ["placeholder_email", "placeholder_email"]


def test_valid_email_outside_the_fast_pattern_is_checked_and_kept_normalized() -> None:
    cleaned = norm.clean_email(pd.Series(["Jane@Bücher.de", "jane..doe@acme.com"]))
    assert _values(cleaned) == ["jane@bücher.de", None]
    assert _problems(cleaned) == [None, "invalid_email"]


@pytest.mark.parametrize(("text", "parsed"), [
    ("true", True), ("T", True), ("yes", True), ("Y", True), ("1", True), ("1.0", True),
    ("false", False), ("f", False), ("No", False), ("n", False), ("0", False), ("0.0", False),
])
def test_boolean_spellings_parse_the_way_people_write_them(text: str, parsed: bool) -> None:
    cleaned = norm.parse_boolean(pd.Series([text]))
    assert _values(cleaned) == [parsed]
    assert _problems(cleaned) == [None]


def test_boolean_placeholder_is_missing_and_other_words_are_unparsable() -> None:
    cleaned = norm.parse_boolean(pd.Series(["n/a", " ", "maybe", "unknown", "TBD"], dtype="object"))
    assert _values(cleaned) == [None, None, None, None, None]
    assert _problems(cleaned) == [None, None, "unparsable_boolean", None, None]


def test_configured_extra_placeholder_gives_no_boolean() -> None:
    cleaned = norm.parse_boolean(pd.Series(["redacted", "yes"]), extra=frozenset({"redacted"}))
    assert _values(cleaned) == [None, True]
    assert _problems(cleaned) == [None, None]


@pytest.mark.parametrize(("text", "parsed"), [
    ("1,200", 1200.0), ("$5", 5.0), ("€3", 3.0), ("£1,000.50", 1000.5), ("12 000", 12000.0),
    ("\u00a01\u00a0500", 1500.0), ("-7.25", -7.25), ("42", 42.0), ("0", 0.0), (" 0 ", 0.0), ("$0", 0.0),
])
def test_numbers_keep_their_value_through_separators_and_currency_signs(text: str, parsed: float) -> None:
    cleaned = norm.parse_number(pd.Series([text]))
    assert _values(cleaned) == [parsed]
    assert _problems(cleaned) == [None]


def test_text_that_is_no_number_is_unparsable_and_a_placeholder_is_missing() -> None:
    cleaned = norm.parse_number(pd.Series(["about ten", "n/a", "12 apples"]))
    assert _values(cleaned) == [None, None, None]
    assert _problems(cleaned) == ["unparsable_number", None, "unparsable_number"]


@pytest.mark.parametrize(("text", "cleaned_url"), [
    ("acme.com/pricing", "https://acme.com/pricing"),
    ("HTTP://Shop.ACME.com/Cart/", "http://shop.acme.com/Cart"),
    ("https://acme.com/", "https://acme.com"),
    ("https://acme.com:8443/a?b=1#c", "https://acme.com:8443/a?b=1#c"),
    ("ftp://files.acme.io/x", "ftp://files.acme.io/x"),
    ("  https://acme.com/docs//  ", "https://acme.com/docs"),
])
def test_url_gets_a_scheme_a_lowercase_host_and_no_trailing_slash(text: str, cleaned_url: str) -> None:
    cleaned = norm.clean_url(pd.Series([text]))
    assert _values(cleaned) == [cleaned_url]
    assert _problems(cleaned) == [None]


@pytest.mark.parametrize("text", ["not a url", "https://localhost/x", "https://acme/x", "https://acme.c", "https:///path"])
def test_url_without_a_real_host_is_a_problem(text: str) -> None:
    cleaned = norm.clean_url(pd.Series([text]))
    assert _values(cleaned) == [None]
    assert _problems(cleaned) == ["invalid_url"]


def test_linkedin_url_in_a_url_field_gets_its_canonical_form() -> None:
    cleaned = norm.clean_url(pd.Series(["uk.linkedin.com/in/Jane-Doe/?trk=x", "https://acme.com/team/", "n/a"]))
    assert _values(cleaned) == ["https://www.linkedin.com/in/jane-doe", "https://acme.com/team", None]
    assert _problems(cleaned) == [None, None, None]


def test_configured_extra_placeholder_gives_no_url() -> None:
    cleaned = norm.clean_url(pd.Series(["redacted", "acme.com"]), extra=frozenset({"redacted"}))
    assert _values(cleaned) == [None, "https://acme.com"]


@pytest.mark.parametrize("clean", [norm.clean_text, norm.clean_email, norm.clean_linkedin, norm.clean_domain,
                                   norm.clean_url, norm.parse_number, norm.parse_date,
                                   lambda series, extra: norm.clean_phone(series, "US", extra)])
def test_a_configured_extra_placeholder_is_missing_in_every_field_type(clean) -> None:
    cleaned = clean(pd.Series(["REDACTED", " redacted "]), extra=frozenset({"redacted"}))
    assert _values(cleaned) == [None, None]
    assert _problems(cleaned) == [None, None]


def test_text_is_stripped_and_placeholders_are_missing() -> None:
    cleaned = norm.clean_text(pd.Series(["  VP Sales ", "N/A", "--", None]))
    assert _values(cleaned) == ["VP Sales", None, None, None]


def test_a_value_with_no_registrable_domain_is_an_invalid_domain() -> None:
    cleaned = norm.clean_domain(pd.Series(["not a domain", "co.uk", "n/a", "acme.com"]))
    assert _values(cleaned) == [None, None, None, "acme.com"]
    assert _problems(cleaned) == ["invalid_domain", "invalid_domain", None, None]


def test_an_upper_case_linkedin_url_in_a_url_field_gets_its_canonical_form() -> None:
    cleaned = norm.clean_url(pd.Series(["HTTPS://WWW.LINKEDIN.COM/IN/JANE-DOE/"]))
    assert _values(cleaned) == ["https://www.linkedin.com/in/jane-doe"]


def test_a_url_path_keeps_its_case_and_loses_only_trailing_slashes() -> None:
    cleaned = norm.clean_url(pd.Series(["https://acme.com/FAQ/INDEX/", "https://acme.com/a/X"]))
    assert _values(cleaned) == ["https://acme.com/FAQ/INDEX", "https://acme.com/a/X"]


@pytest.mark.parametrize(("text", "region", "e164"), [
    ("+1 (415) 555-2671", "US", "+14155552671"),
    ("415.555.2671", "US", "+14155552671"),
    ("020 7946 0958", "GB", "+442079460958"),
    ("+44 20 7946 0958", "US", "+442079460958"),
    ("0049 30 901820", "DE", "+4930901820"),
])
def test_phone_numbers_become_e164_in_the_configured_region(text: str, region: str, e164: str) -> None:
    cleaned = norm.clean_phone(pd.Series([text]), region)
    assert _values(cleaned) == [e164]
    assert _problems(cleaned) == [None]


@pytest.mark.parametrize("text", ["12", "call me", "+1 555"])
def test_a_phone_that_is_no_possible_number_is_invalid(text: str) -> None:
    cleaned = norm.clean_phone(pd.Series([text, "n/a"]), "US")
    assert _values(cleaned) == [None, None]
    assert _problems(cleaned) == ["invalid_phone", None]


def test_dates_in_iso_and_other_spellings_parse_to_naive_utc() -> None:
    cleaned = norm.parse_date(pd.Series(["2024-03-05T10:00:00+02:00", "March 5, 2024", "05/03/2024 10:00",
                                         "5 Mar 2024", "n/a"]))
    assert _values(cleaned) == [pd.Timestamp("2024-03-05 08:00"), pd.Timestamp("2024-03-05"),
                                pd.Timestamp("2024-05-03 10:00"), pd.Timestamp("2024-03-05"), None]
    assert _problems(cleaned) == [None, None, None, None, None]


def test_a_date_nobody_can_read_is_unparsable() -> None:
    cleaned = norm.parse_date(pd.Series(["sometime soon", "2024-02-30", "2024-03-05"]))
    assert _values(cleaned) == [None, None, pd.Timestamp("2024-03-05")]
    assert _problems(cleaned) == ["unparsable_date", "unparsable_date", None]

