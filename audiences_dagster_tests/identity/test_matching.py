"""Cross-source matching: shared normalized keys make one person; junk and blocked keys never do."""

from __future__ import annotations

from audiences_dagster_tests.support import Workspace, people_source


def _person(uid: str, email: str = "", linkedin: str = "", first_name: str = "") -> dict:
    return {"id": uid, "email": email, "linkedin": linkedin, "first_name": first_name}


def _merges(ws: Workspace) -> list[tuple[int, int, str, str | None]]:
    return [(m["survivor_id"], m["absorbed_id"], m["reason"], m["key_value"]) for m in ws.rows("merge_log")]


def test_same_person_in_two_sources_becomes_one_record(workspace: Workspace) -> None:
    workspace.write_csv("crm.csv", [_person("c1", "Jane.Doe@Acme.com", first_name="Jane")])
    workspace.write_csv("events.csv", [_person("e1", "  jane.doe@acme.com ", first_name="Jane")])
    workspace.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv")})
    workspace.run()
    assert len(workspace.unified()) == 1
    assert workspace.unified_id_of("crm", "c1") == workspace.unified_id_of("events", "e1")


def test_same_linkedin_profile_spelled_differently_becomes_one_record(workspace: Workspace) -> None:
    workspace.write_csv("crm.csv", [_person("c1", "jane@acme.com", "https://uk.linkedin.com/in/Jane-Doe/")])
    workspace.write_csv("events.csv", [_person("e1", "jane.doe@gmail.com", "linkedin.com/in/jane-doe?trk=x")])
    workspace.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv")})
    workspace.run()
    [record] = workspace.unified()
    assert record["linkedin_url"] == "https://www.linkedin.com/in/jane-doe"
    [merge] = _merges(workspace)
    assert merge[2:] == ("linkedin_url", "https://www.linkedin.com/in/jane-doe")


def test_different_people_stay_apart(workspace: Workspace) -> None:
    workspace.write_csv("crm.csv", [_person("c1", "jane@acme.com"), _person("c2", "bob@acme.com")])
    workspace.write_csv("events.csv", [_person("e1", "eve@acme.com", "linkedin.com/in/eve")])
    workspace.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv")})
    workspace.run()
    assert len(workspace.unified()) == 3
    assert workspace.rows("merge_log") == []


def test_matching_is_transitive_across_email_and_linkedin_url(workspace: Workspace) -> None:
    workspace.write_csv("crm.csv", [_person("a", "jane@acme.com")])
    workspace.write_csv("events.csv", [_person("b", "jane@acme.com", "linkedin.com/in/jane-doe")])
    workspace.write_csv("webinar.csv", [_person("c", "jane.doe@gmail.com", "linkedin.com/in/jane-doe")])
    workspace.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv"),
                         "webinar": people_source("webinar.csv")})
    workspace.run()
    [record] = workspace.unified()
    rows = [("crm", "a"), ("events", "b"), ("webinar", "c")]
    assert {workspace.unified_id_of(source, source_id) for source, source_id in rows} == {record["id"]}
    assert sorted((reason, key) for _, _, reason, key in _merges(workspace)) == [
        ("email", "jane@acme.com"), ("linkedin_url", "https://www.linkedin.com/in/jane-doe")]


def test_a_long_chain_of_shared_keys_becomes_one_record_with_the_oldest_id(workspace: Workspace) -> None:
    # Each record shares one key with the next; the oldest (first) record is at one end, so its id
    # has to travel five links along the chain, round after round.
    chain = [_person("r1", "ann@acme.com"),
             _person("r2", "ann@acme.com", "linkedin.com/in/ann-1"),
             _person("r3", "ann@globex.com", "linkedin.com/in/ann-1"),
             _person("r4", "ann@globex.com", "linkedin.com/in/ann-2"),
             _person("r5", "ann@initech.com", "linkedin.com/in/ann-2"),
             _person("r6", "ann@initech.com")]
    workspace.write_csv("crm.csv", chain[::2])
    workspace.write_csv("events.csv", chain[1::2])
    workspace.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv")})
    workspace.run()
    [record] = workspace.unified()
    assert record["id"] == workspace.unified_id_of("crm", "r1") == min(r["id"] for r in workspace.rows("source_people"))
    assert {workspace.unified_id_of(s, f"r{i}") for i, s in enumerate(["crm", "events"] * 3, start=1)} == {record["id"]}
    assert len(workspace.rows("merge_log")) == 5


def test_record_arriving_later_links_two_existing_people_through_a_chain(workspace: Workspace) -> None:
    workspace.write_csv("crm.csv", [_person("a", "jane@acme.com")])
    workspace.write_csv("events.csv", [_person("b", "jane@acme.com", "linkedin.com/in/jane-doe")])
    workspace.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv")})
    workspace.run()
    first = workspace.unified_id_of("crm", "a")
    workspace.write_csv("webinar.csv", [_person("c", "jane.doe@gmail.com", "uk.linkedin.com/in/jane-doe/")])
    workspace.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv"),
                         "webinar": people_source("webinar.csv")})
    workspace.run()
    assert [r["id"] for r in workspace.unified()] == [first]
    assert [m[2] for m in _merges(workspace)] == ["email", "linkedin_url"]


def test_placeholder_email_never_links_records(workspace: Workspace) -> None:
    workspace.write_csv("crm.csv", [_person("c1", "n/a", "linkedin.com/in/jane"),
                                    _person("c2", "test@test.com", "linkedin.com/in/bob")])
    workspace.write_csv("events.csv", [_person("e1", "n/a", "linkedin.com/in/eve"),
                                       _person("e2", "test@test.com", "linkedin.com/in/dan"),
                                       _person("e3", "noreply@example.com", "linkedin.com/in/ann")])
    workspace.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv")})
    workspace.run()
    assert len(workspace.unified()) == 5
    assert all(r["email"] is None for r in workspace.unified())


def test_role_mailbox_links_records_when_not_configured_as_junk(workspace: Workspace) -> None:
    workspace.write_csv("crm.csv", [_person("c1", "info@acme.com", "linkedin.com/in/jane")])
    workspace.write_csv("events.csv", [_person("e1", "Info@Acme.com")])
    workspace.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv")},
                        identity={"role_mailboxes_are_junk": False})
    workspace.run()
    [merge] = _merges(workspace)
    assert merge[2:] == ("email", "info@acme.com")


def test_linkedin_url_pasted_on_many_people_does_not_collapse_them(workspace: Workspace) -> None:
    shared = "linkedin.com/in/recruiter"
    workspace.write_csv("crm.csv", [_person(f"c{i}", f"person{i}@acme.com", shared) for i in range(4)])
    workspace.write_csv("events.csv", [_person("e1", "jane@acme.com", "linkedin.com/in/jane"),
                                       _person("e2", "jane.doe@gmail.com", "linkedin.com/in/jane")])
    workspace.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv")},
                        identity={"merge_protection": {"email": 2, "linkedin_url": 2}})
    report = workspace.run()
    assert len(workspace.unified()) == 5
    [blocked] = workspace.rows("blocked_links")
    assert (blocked["key_type"], blocked["key_value"], blocked["reason"]) == (
        "linkedin_url", "https://www.linkedin.com/in/recruiter", "merge_protection")
    assert report["people"].blocked == {"linkedin_url": 1}
    assert workspace.unified_id_of("events", "e1") == workspace.unified_id_of("events", "e2")


def test_email_pasted_on_many_people_does_not_collapse_them(workspace: Workspace) -> None:
    workspace.write_csv("crm.csv", [_person(f"c{i}", "team.lead@acme.com", f"linkedin.com/in/person{i}")
                                    for i in range(3)])
    workspace.configure({"crm": people_source("crm.csv")}, identity={"merge_protection": {"linkedin_url": 2}})
    workspace.run()
    assert len(workspace.unified()) == 3
    assert [(b["key_type"], b["key_value"]) for b in workspace.rows("blocked_links")] == [
        ("email", "team.lead@acme.com")]


def test_one_person_in_three_sources_merges_even_when_the_records_outnumber_the_limit(workspace: Workspace) -> None:
    """Three records share a LinkedIn URL under a limit of 2: they hold one URL between them, so
    the link stands (counting records instead of distinct values would block it)."""
    for name in ("crm", "events", "webinar"):
        workspace.write_csv(f"{name}.csv", [_person(f"{name}1", "jane@acme.com", "linkedin.com/in/jane")])
    workspace.configure({name: people_source(f"{name}.csv") for name in ("crm", "events", "webinar")},
                        identity={"merge_protection": {"email": 2, "linkedin_url": 2}})
    report = workspace.run()
    assert len(workspace.unified()) == 1
    assert workspace.rows("blocked_links") == []
    assert report["people"].blocked == {}


def test_an_email_pasted_on_people_arriving_later_does_not_collapse_the_existing_ones(workspace: Workspace) -> None:
    """An incremental run (few records pending among many) checks the limit too."""
    workspace.write_csv("crm.csv", [_person(f"c{i}", f"person{i}@acme.com", f"linkedin.com/in/person{i}")
                                    for i in range(10)])
    limits = {"merge_protection": {"linkedin_url": 2}}
    workspace.configure({"crm": people_source("crm.csv")}, identity=limits)
    workspace.run()
    workspace.write_csv("events.csv", [_person(f"e{i}", "team.lead@acme.com", f"linkedin.com/in/person{i}")
                                       for i in range(3)])
    workspace.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv")}, identity=limits)
    report = workspace.run()
    assert len(workspace.unified()) == 10
    assert [(b["key_type"], b["key_value"]) for b in workspace.rows("blocked_links")] == [
        ("email", "team.lead@acme.com")]
    assert report["people"].blocked == {"email": 1}
    for i in range(3):
        assert workspace.unified_id_of("events", f"e{i}") == workspace.unified_id_of("crm", f"c{i}")
