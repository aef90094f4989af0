"""What one resolution decides and reports: which source records become one unified record, which
ids stay, what the merge log says, and the counts a run reports, on first loads, on runs that
bring a few records and on runs that bring more records than the store held."""

from __future__ import annotations

from audiences_dagster_tests.support import Workspace, people_source


def person(pid: str, email: str = "", linkedin: str = "", first_name: str = "") -> dict:
    return {"id": pid, "email": email, "linkedin": linkedin, "first_name": first_name or pid.upper()}


def merges(ws: Workspace) -> list[tuple[int, int, str, str | None]]:
    return [(m["survivor_id"], m["absorbed_id"], m["reason"], m["key_value"]) for m in ws.rows("merge_log")]


def two_sources(ws: Workspace, crm: list[dict], events: list[dict], **settings) -> None:
    ws.write_csv("crm.csv", crm, ["id", "email", "linkedin", "first_name"])
    ws.write_csv("events.csv", events, ["id", "email", "linkedin", "first_name"])
    ws.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv")}, **settings)


def test_a_first_load_reports_what_it_created_and_merged(workspace: Workspace) -> None:
    two_sources(workspace, [person("a", "a@acme.com"), person("b", "b@acme.com")],
                [person("e1", "A@acme.com"), person("e2", "e2@acme.com")])

    report = workspace.run()["people"]

    assert report.as_metadata() == {
        "pending_records": 4, "records_created": 3, "records_updated": 0, "merges": 1,
        "merges_by_reason": {"email": 1}, "blocked_links": 0, "blocked_links_by_key": {},
        "field_changes": report.field_changes, "propagation_rounds": report.iterations,
        "seconds": round(report.seconds, 3)}
    assert report.iterations >= 1 and report.seconds > 0


def test_a_run_reports_the_links_merge_protection_blocked(workspace: Workspace) -> None:
    two_sources(workspace, [person(f"c{i}", "pat.lee@acme.com", f"linkedin.com/in/p{i}") for i in range(3)], [],
                identity={"merge_protection": {"linkedin_url": 2}})

    metadata = workspace.run()["people"].as_metadata()

    assert (metadata["blocked_links"], metadata["blocked_links_by_key"]) == (1, {"email": 1})
    assert (metadata["merges"], metadata["records_created"]) == (0, 3)


def test_a_second_import_larger_than_the_first_joins_the_people_it_shares_keys_with(workspace: Workspace) -> None:
    two_sources(workspace, [person("a", "a@acme.com"), person("b", "b@acme.com")], [])
    workspace.run()
    a, b = workspace.unified_id_of("crm", "a"), workspace.unified_id_of("crm", "b")
    two_sources(workspace, [person("a", "a@acme.com"), person("b", "b@acme.com")],
                [person("e1", "A@acme.com"), person("e2", "e2@acme.com"), person("e3", "e3@acme.com")])

    report = workspace.run()["people"]

    assert workspace.unified_id_of("events", "e1") == a
    assert workspace.unified_id_of("crm", "b") == b
    assert len({a, b, workspace.unified_id_of("events", "e2"), workspace.unified_id_of("events", "e3")}) == 4
    [merge] = merges(workspace)
    assert merge[0] == a and merge[2:] == ("email", "a@acme.com")
    assert (report.pending, report.created, report.updated, dict(report.merges)) == (3, 2, 1, {"email": 1})


def test_new_people_sharing_either_email_of_a_merged_person_join_it(workspace: Workspace) -> None:
    """The merged person holds two emails (one per source record); a larger import brings one
    record for each: both join it."""
    two_sources(workspace, [person("a", "jane@acme.com", "linkedin.com/in/jane")],
                [person("b", "jane@gmail.com", "linkedin.com/in/jane")])
    workspace.run()
    jane = workspace.unified_id_of("crm", "a")
    two_sources(workspace, [person("a", "jane@acme.com", "linkedin.com/in/jane"),
                            person("c", "jane@acme.com"), person("d", "dan@acme.com")],
                [person("b", "jane@gmail.com", "linkedin.com/in/jane"), person("e", "jane@gmail.com")])

    workspace.run()

    assert {workspace.unified_id_of(s, i) for s, i in (("crm", "a"), ("events", "b"), ("crm", "c"), ("events", "e"))
            } == {jane}
    assert len(workspace.unified()) == 2


def test_people_blocked_from_merging_are_not_checked_again_when_none_of_them_changed(workspace: Workspace) -> None:
    """A run that brings more records than the store held, none of them holding the blocked
    email, leaves the blocked people apart without blocking their email a second time."""
    limits = {"merge_protection": {"linkedin_url": 2}}
    crew = [person(f"c{i}", "pat.lee@acme.com", f"linkedin.com/in/p{i}") for i in range(3)]
    two_sources(workspace, crew, [], identity=limits)
    workspace.run()
    two_sources(workspace, crew, [person(f"e{i}", f"e{i}@acme.com") for i in range(4)], identity=limits)

    report = workspace.run()["people"]

    assert report.blocked == {}
    assert len(workspace.rows("blocked_links")) == 1
    assert len(workspace.unified()) == 7


def test_people_never_link_through_the_domain_their_companies_share(workspace: Workspace) -> None:
    """Company records 1 and 2 share a domain (one company); people records 1 and 2 are two
    people: the company's key is not theirs."""
    workspace.write_csv("accounts.csv", [{"id": "x", "domain": "acme.com"}, {"id": "y", "domain": "www.acme.com"}])
    workspace.write_csv("crm.csv", [person("a", "jane@acme.com"), person("b", "bob@acme.com")])
    workspace.configure({"crm": people_source("crm.csv"),
                         "accounts": {"kind": "csv", "entity": "companies", "path": "accounts.csv", "unique_id": "id",
                                      "fields": {"domain": {"column": "domain", "type": "url"}}}})

    workspace.run()

    assert len(workspace.unified("companies")) == 1
    assert workspace.unified_id_of("crm", "a") != workspace.unified_id_of("crm", "b")
    assert len(workspace.unified()) == 2
