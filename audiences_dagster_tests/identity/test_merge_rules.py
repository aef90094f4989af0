"""Splits report and block exactly what they undo; merged-away ids lead to the record that holds
them now, and a record's history covers what it absorbed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from audiences_dagster.identity.merges import MergeError, absorbed_ids, current_id, record_history, split_merge
from audiences_dagster_tests.identity.records import source_record_id, unified_record
from audiences_dagster_tests.support import Workspace, people_source

JANE = {"id": "c1", "email": "jane@acme.com", "linkedin": "", "first_name": "Jane"}
JANIE = {"id": "e1", "email": "janie@gmail.com", "linkedin": "linkedin.com/in/jane-doe", "first_name": "Janie"}
WREN = {"id": "w1", "email": "wren@initech.com", "linkedin": "", "first_name": "Wren"}
LINKED_JANE = {**JANE, "linkedin": "linkedin.com/in/jane-doe"}


def _three_apart(ws: Workspace) -> None:
    """Jane (crm), Janie (events) and Wren (list): three records after run 1."""
    ws.write_csv("crm.csv", [JANE])
    ws.write_csv("events.csv", [JANIE])
    ws.write_csv("list.csv", [WREN])
    ws.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv"),
                  "list": people_source("list.csv")})
    ws.run()


def _chain(ws: Workspace) -> tuple[int, int, int]:
    """Wren's row takes Janie's email (run 2: Wren into Janie), then Jane gains Janie's LinkedIn
    URL (run 3: Janie into Jane). Returns (Jane's, Janie's, Wren's) first ids."""
    _three_apart(ws)
    ids = tuple(ws.unified_id_of(s, i) for s, i in (("crm", "c1"), ("events", "e1"), ("list", "w1")))
    ws.write_csv("list.csv", [{**WREN, "email": "janie@gmail.com"}])
    ws.run()
    ws.write_csv("crm.csv", [LINKED_JANE])
    ws.run()
    return ids


def _merged_by_linkedin(ws: Workspace) -> dict:
    """Jane and Janie apart in run 1, merged by Janie's LinkedIn URL in run 2; returns the merge."""
    ws.write_csv("crm.csv", [JANE])
    ws.write_csv("events.csv", [JANIE])
    ws.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv")})
    ws.run()
    ws.write_csv("crm.csv", [LINKED_JANE])
    ws.run()
    [merge] = ws.rows("merge_log")
    return merge


def _split(ws: Workspace, merge: dict):
    return split_merge(ws.store, ws.config, merge["id"], "split-run")


def _blocked_keys(ws: Workspace) -> list[tuple[int, str, str]]:
    return sorted((k["record_id"], k["key_type"], k["blocked"]) for k in ws.rows("identity_keys", order_by="record_id") if k["blocked"])


def test_splitting_a_merge_that_does_not_exist_raises_merge_error(workspace: Workspace) -> None:
    _merged_by_linkedin(workspace)
    with pytest.raises(MergeError, match="merge 999 does not exist"):
        _split(workspace, {"id": 999})


def test_a_split_reports_the_records_it_moved_and_the_keys_it_blocked(workspace: Workspace) -> None:
    merge = _merged_by_linkedin(workspace)
    report = _split(workspace, merge)
    assert (report.merge_id, report.entity, report.survivor_id, report.restored_id) == (
        merge["id"], "people", merge["survivor_id"], merge["absorbed_id"])
    assert (report.records_moved, report.keys_blocked) == (1, 1)


def test_a_split_blocks_only_the_restored_records_keys_it_shared_with_the_survivor(workspace: Workspace) -> None:
    merge = _merged_by_linkedin(workspace)
    _split(workspace, merge)
    assert _blocked_keys(workspace) == [
        (source_record_id(workspace, "events", "e1"), "linkedin_url", f"split:{merge['id']}")]


def test_a_split_blocks_the_restored_records_keys_not_those_it_shared_them_with(workspace: Workspace) -> None:
    """Janie shares her LinkedIn URL with Jane and her email with Wren, all one person: splitting
    Janie off blocks both of her keys, and none of Jane's or Wren's."""
    _three_apart(workspace)
    workspace.write_csv("crm.csv", [LINKED_JANE])
    workspace.write_csv("list.csv", [{**WREN, "email": "janie@gmail.com"}])
    workspace.run()
    janie = source_record_id(workspace, "events", "e1")
    [merge] = [m for m in workspace.rows("merge_log") if m["absorbed_id"] == janie]
    _split(workspace, merge)
    assert _blocked_keys(workspace) == [(janie, "email", f"split:{merge['id']}"),
                                        (janie, "linkedin_url", f"split:{merge['id']}")]


def test_a_record_split_from_a_first_run_merge_dates_from_that_merge(workspace: Workspace) -> None:
    workspace.write_csv("crm.csv", [LINKED_JANE])
    workspace.write_csv("events.csv", [JANIE])
    workspace.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv")})
    workspace.run()
    [merge] = workspace.rows("merge_log")
    _split(workspace, merge)
    assert unified_record(workspace, "events", "e1")["created_at"] == merge["merged_at"]


def test_a_split_survivor_keeps_its_own_values_and_sources(workspace: Workspace) -> None:
    merge = _merged_by_linkedin(workspace)
    _split(workspace, merge)
    jane = unified_record(workspace, "crm", "c1")
    assert (jane["id"], jane["first_name"], jane["email"], jane["sources"]) == (
        merge["survivor_id"], "Jane", "jane@acme.com", "crm")


def test_a_merged_away_id_leads_to_the_record_that_absorbed_it_through_a_chain(workspace: Workspace) -> None:
    jane, janie, wren = _chain(workspace)
    assert (current_id(workspace.store, "people", wren), current_id(workspace.store, "people", janie)) == (jane, jane)


def test_a_live_id_leads_to_itself(workspace: Workspace) -> None:
    jane, _, _ = _chain(workspace)
    assert current_id(workspace.store, "people", jane) == jane


def test_an_id_never_issued_leads_nowhere(workspace: Workspace) -> None:
    _chain(workspace)
    assert current_id(workspace.store, "people", 999) is None


def test_a_split_off_id_leads_to_itself_again(workspace: Workspace) -> None:
    merge = _merged_by_linkedin(workspace)
    _split(workspace, merge)
    assert current_id(workspace.store, "people", merge["absorbed_id"]) == merge["absorbed_id"]


def test_a_record_holds_every_id_merged_into_it_through_a_chain(workspace: Workspace) -> None:
    jane, janie, wren = _chain(workspace)
    assert absorbed_ids(workspace.store, "people", jane) == {jane, janie, wren}


def test_a_split_off_id_is_no_longer_held_by_its_survivor(workspace: Workspace) -> None:
    merge = _merged_by_linkedin(workspace)
    _split(workspace, merge)
    assert absorbed_ids(workspace.store, "people", merge["survivor_id"]) == {merge["survivor_id"]}


def test_a_records_history_lists_the_creation_of_every_record_it_absorbed(workspace: Workspace) -> None:
    jane, janie, wren = _chain(workspace)
    history = record_history(workspace.store, "people", jane)
    created = sorted((e["record"], e["new"]) for e in history if e["event"] == "created")
    assert created == sorted([(jane, "crm"), (janie, "events"), (wren, "list")])


def test_a_records_history_lists_its_merges_oldest_first(workspace: Workspace) -> None:
    jane, janie, wren = _chain(workspace)
    merges = [(e["record"], e["new"]) for e in record_history(workspace.store, "people", jane)
              if e["event"].startswith("merge #")]
    assert merges == [(janie, f"{wren} merged into {janie} by email janie@gmail.com"),
                      (jane, f"{janie} merged into {jane} by linkedin_url https://www.linkedin.com/in/jane-doe")]


def test_a_field_change_in_history_names_its_field_values_source_and_run(workspace: Workspace) -> None:
    workspace.write_csv("crm.csv", [JANE])
    workspace.configure({"crm": people_source("crm.csv")})
    workspace.run()
    workspace.write_csv("crm.csv", [{**JANE, "first_name": "Janet"}])
    workspace.import_all("run-2")
    workspace.unify_all("run-2")
    uid = workspace.unified_id_of("crm", "c1")
    [change] = [e for e in record_history(workspace.store, "people", uid) if e["event"] == "field change"]
    assert (change["record"], change["field"], change["old"], change["new"], change["source"], change["run"]) == (
        uid, "first_name", "Jane", "Janet", "crm", "run-2")


def test_a_restored_records_history_shows_its_restoration(workspace: Workspace) -> None:
    merge = _merged_by_linkedin(workspace)
    _split(workspace, merge)
    restored = [e for e in record_history(workspace.store, "people", merge["absorbed_id"])
                if e["event"] == "restored by split"]
    assert [(e["record"], e["field"], e["new"], e["run"]) for e in restored] == [
        (merge["absorbed_id"], None, "events", "split-run")]


def test_a_restored_records_history_ends_with_its_split(workspace: Workspace) -> None:
    merge = _merged_by_linkedin(workspace)
    _split(workspace, merge)
    split = record_history(workspace.store, "people", merge["absorbed_id"])[-1]
    [undone] = workspace.rows("merge_log")
    assert (split["event"], split["record"], split["new"], split["field"], split["run"], split["at"]) == (
        f"split #{merge['id']}", merge["absorbed_id"], f"{merge['absorbed_id']} split from {merge['survivor_id']}",
        None, "split-run", undone["undone_at"])


def test_the_survivors_history_keeps_the_merge_and_its_split(workspace: Workspace) -> None:
    merge = _merged_by_linkedin(workspace)
    _split(workspace, merge)
    events = [e["event"] for e in record_history(workspace.store, "people", merge["survivor_id"])]
    assert f"merge #{merge['id']}" in events and f"split #{merge['id']}" in events


ACCOUNTS = [{"Id": "001A", "website": "acme.com", "name": "Acme"}]
HUB_COMPANIES = [{"id": "h1", "website": "https://www.acme.com", "name": "Acme Inc"}]


def _company_source(path: str, unique_id: str, tier: str) -> dict:
    return {"kind": "csv", "entity": "companies", "path": path, "unique_id": unique_id, "tier": tier,
            "fields": {"domain": {"column": "website", "type": "url"}, "name": {"column": "name"}}}


def _two_companies_merged_and_jane(ws: Workspace) -> None:
    """Acme's two company records merged in the first run, and Jane, a person with no company."""
    ws.write_csv("accounts.csv", ACCOUNTS)
    ws.write_csv("hub.csv", HUB_COMPANIES)
    ws.write_csv("people.csv", [JANE])
    ws.configure({"accounts": _company_source("accounts.csv", "Id", "salesforce"),
                  "hub": _company_source("hub.csv", "id", "hubspot"), "people": people_source("people.csv")})
    ws.run()


def test_people_of_a_split_company_follow_their_account_to_the_restored_company(workspace: Workspace) -> None:
    """Two company records merged by their domain; a person belongs to one of them by account
    id. Once the merge is split, the next run gives the person the restored company."""
    workspace.write_csv("accounts.csv", ACCOUNTS)
    workspace.write_csv("hub.csv", HUB_COMPANIES)
    workspace.write_csv("people.csv", [{**JANE, "AccountId": "h1"}])
    people = people_source("people.csv", company={"account_id_column": "AccountId", "account_source": "hub"})
    workspace.configure({"accounts": _company_source("accounts.csv", "Id", "salesforce"),
                         "hub": _company_source("hub.csv", "id", "hubspot"), "people": people})
    workspace.run()
    [merge] = workspace.rows("merge_log")
    assert unified_record(workspace, "people", "c1")["company_id"] == merge["survivor_id"]

    _split(workspace, merge)
    workspace.run()

    assert unified_record(workspace, "people", "c1")["company_id"] == merge["absorbed_id"]


def test_a_merged_away_company_id_does_not_lead_a_person_anywhere(workspace: Workspace) -> None:
    """Ids are numbered per entity: a company merged away under a number no person holds leaves
    that number unknown among people, whoever holds its survivor's number."""
    _two_companies_merged_and_jane(workspace)
    [merge] = workspace.rows("merge_log")
    jane = workspace.unified_id_of("people", "c1")
    assert jane == merge["survivor_id"] != merge["absorbed_id"]  # the person holds the surviving company's number

    assert (current_id(workspace.store, "people", merge["absorbed_id"]),
            current_id(workspace.store, "companies", merge["absorbed_id"])) == (None, merge["survivor_id"])


def test_a_history_holds_only_its_own_record_and_what_that_absorbed(workspace: Workspace) -> None:
    _three_apart(workspace)
    workspace.write_csv("crm.csv", [LINKED_JANE])  # Jane absorbs Janie; Wren stays apart
    workspace.run()
    wren = workspace.unified_id_of("list", "w1")

    history = record_history(workspace.store, "people", wren)

    assert absorbed_ids(workspace.store, "people", wren) == {wren}
    assert {e["record"] for e in history} == {wren}
    assert not [e for e in history if e["event"].startswith("merge")]


def test_a_person_history_leaves_out_the_company_of_the_same_number(workspace: Workspace) -> None:
    _two_companies_merged_and_jane(workspace)
    jane = workspace.unified_id_of("people", "c1")  # the number of the company that absorbed the other

    history = record_history(workspace.store, "people", jane)

    assert absorbed_ids(workspace.store, "people", jane) == {jane}
    assert [(e["event"], e["record"]) for e in history] == [("created", jane)]


def test_a_merge_and_its_split_read_back_as_whole_history_entries(workspace: Workspace) -> None:
    merge = _merged_by_linkedin(workspace)
    _split(workspace, merge)
    survivor, absorbed = merge["survivor_id"], merge["absorbed_id"]

    entries = [{k: v for k, v in e.items() if k != "at"} for e in record_history(workspace.store, "people", survivor)
               if e["event"].startswith(("merge", "split"))]

    assert entries == [
        {"record": survivor, "event": f"merge #{merge['id']}", "field": None, "old": None,
         "new": f"{absorbed} merged into {survivor} by linkedin_url https://www.linkedin.com/in/jane-doe",
         "source": None, "run": merge["run_id"]},
        {"record": absorbed, "event": f"split #{merge['id']}", "field": None, "old": None,
         "new": f"{absorbed} split from {survivor}", "source": None, "run": "split-run"},
    ]


def test_a_second_split_blocks_only_the_key_of_its_own_merge(workspace: Workspace) -> None:
    """Split by LinkedIn URL, merged again by email, split again: the second split blocks the
    email and leaves the LinkedIn URL's block from the first one as it was."""
    first = _merged_by_linkedin(workspace)
    _split(workspace, first)
    workspace.write_csv("crm.csv", [{**LINKED_JANE, "email": "janie@gmail.com"}])
    workspace.run()
    [second] = [m for m in workspace.rows("merge_log") if m["id"] != first["id"]]

    report = _split(workspace, second)

    janie = source_record_id(workspace, "events", "e1")
    assert report.keys_blocked == 1
    assert _blocked_keys(workspace) == [(janie, "email", f"split:{second['id']}"),
                                        (janie, "linkedin_url", f"split:{first['id']}")]


def test_splitting_a_merge_whose_records_are_gone_says_so(workspace: Workspace) -> None:
    merge = _merged_by_linkedin(workspace)
    src, members = workspace.store.tables.source("people"), workspace.store.tables.merge_members
    with workspace.store.engine.begin() as conn:  # the absorbed source records purged from the store
        conn.execute(sa.delete(src).where(src.c.id.in_(
            sa.select(members.c.record_id).where(members.c.merge_id == merge["id"]))))

    with pytest.raises(MergeError, match=rf"^merge {merge['id']}: its source records no longer exist$"):
        _split(workspace, merge)
