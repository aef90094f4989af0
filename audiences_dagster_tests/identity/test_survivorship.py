"""Field survivorship: a higher tier wins, then the most recent value, with per-field overrides."""

from __future__ import annotations

import sqlalchemy as sa

from audiences_dagster.identity import survivorship
from audiences_dagster_tests.identity.records import source_record_id, unified_record
from audiences_dagster_tests.support import Workspace, people_source

COLUMNS = ["id", "email", "first_name", "title", "updated"]


def _source(path: str, tier: str) -> dict:
    return {"kind": "csv", "entity": "people", "path": path, "unique_id": "id", "tier": tier,
            "updated_at": "updated",
            "fields": {"email": {"column": "email", "type": "email"}, "first_name": {"column": "first_name"},
                       "title": {"column": "title"}}}


def _row(first_name: str, title: str, updated: str) -> dict:
    return {"id": "1", "email": "jane@acme.com", "first_name": first_name, "title": title, "updated": updated}


def _two_sources(ws: Workspace, first: tuple[str, str, dict], second: tuple[str, str, dict], **settings) -> dict:
    """Two sources holding the same person; returns the unified record."""
    sources = {}
    for name, tier, row in (first, second):
        ws.write_csv(f"{name}.csv", [row], COLUMNS)
        sources[name] = _source(f"{name}.csv", tier)
    ws.configure(sources, **settings)
    ws.run()
    [person] = ws.unified()
    return person


def test_higher_tier_wins_over_a_more_recent_lower_tier_value(workspace: Workspace) -> None:
    person = _two_sources(workspace, ("crm", "salesforce", _row("Jane", "VP Sales", "2023-01-01")),
                          ("warehouse", "warehouse", _row("Janet", "Head of Sales", "2024-06-01")))
    assert (person["first_name"], person["title"]) == ("Jane", "VP Sales")


def test_most_recent_value_wins_within_a_tier(workspace: Workspace) -> None:
    person = _two_sources(workspace, ("newer", "csv", _row("Janet", "Head of Sales", "2024-06-01T09:30:00")),
                          ("older", "csv", _row("Jane", "VP Sales", "2023-01-01T09:30:00")))
    assert (person["first_name"], person["title"]) == ("Janet", "Head of Sales")


def test_empty_value_of_a_higher_tier_does_not_hide_a_lower_tier_value(workspace: Workspace) -> None:
    person = _two_sources(workspace, ("crm", "salesforce", _row("Jane", "", "2024-01-01")),
                          ("warehouse", "warehouse", _row("Janet", "Head of Sales", "2023-01-01")))
    assert (person["first_name"], person["title"]) == ("Jane", "Head of Sales")


def test_per_field_override_changes_the_winner_for_that_field_only(workspace: Workspace) -> None:
    person = _two_sources(workspace, ("crm", "salesforce", _row("Jane", "VP Sales", "2024-01-01")),
                          ("warehouse", "warehouse", _row("Janet", "Head of Sales", "2023-01-01")),
                          survivorship={"people": {"title": ["warehouse", "salesforce"]}})
    assert (person["first_name"], person["title"]) == ("Jane", "Head of Sales")


def test_from_column_points_at_the_winning_source_record(workspace: Workspace) -> None:
    person = _two_sources(workspace, ("crm", "salesforce", _row("Jane", "VP Sales", "2024-01-01")),
                          ("warehouse", "warehouse", _row("Janet", "Head of Sales", "2023-01-01")),
                          survivorship={"people": {"title": ["warehouse", "salesforce"]}})
    assert person["first_name__from"] == source_record_id(workspace, "crm", "1")
    assert person["title__from"] == source_record_id(workspace, "warehouse", "1")


def test_fields_named_like_survivorship_work_columns_keep_their_own_values(workspace: Workspace) -> None:
    """`name` beside `first_name`, and fields called deleted, pos, rid or uid: survivorship's own
    columns never take their place."""
    names = ["name", "first_name", "deleted", "pos", "rid", "uid", "email__source"]
    rows = [{"id": "1", "email": "jane@acme.com", **{n: f"{n} value" for n in names}}]
    workspace.write_csv("crm.csv", rows)
    fields = {"email": {"column": "email", "type": "email"}, **{n: {"column": n} for n in names}}
    workspace.configure({"crm": {"kind": "csv", "entity": "people", "path": "crm.csv", "unique_id": "id",
                                 "fields": fields}})
    workspace.run()
    [person] = workspace.unified()
    assert {n: person[n] for n in names} == {n: f"{n} value" for n in names}


def test_a_first_loads_lone_records_take_their_own_values_without_ranking(workspace: Workspace, monkeypatch) -> None:
    """Most people of a first load have one source record: their values, provenance and source
    are read straight from it, and only the merged ones are ranked. Later runs rank everyone."""
    read_alone = []
    alone_select = survivorship._alone_select

    def spy(*args):
        read_alone.append(True)
        return alone_select(*args)

    monkeypatch.setattr(survivorship, "_alone_select", spy)
    bo = {"id": "2", "email": "bo@acme.com", "first_name": "Bo", "title": "", "updated": "2024-01-01"}
    workspace.write_csv("crm.csv", [_row("Jane", "VP Sales", "2024-01-01"), bo], COLUMNS)
    workspace.write_csv("warehouse.csv", [_row("Janet", "Head of Sales", "2023-01-01")], COLUMNS)
    workspace.configure({"crm": _source("crm.csv", "salesforce"), "warehouse": _source("warehouse.csv", "warehouse")})
    workspace.run()

    assert read_alone == [True]
    lone = unified_record(workspace, "crm", "2")
    assert (lone["first_name"], lone["title"], lone["sources"], lone["deleted_in_source"]) == ("Bo", None, "crm", False)
    assert (lone["first_name__from"], lone["title__from"]) == (source_record_id(workspace, "crm", "2"), None)
    merged = unified_record(workspace, "warehouse", "1")
    assert (merged["first_name"], merged["title"], merged["title__from"]) == (
        "Jane", "VP Sales", source_record_id(workspace, "crm", "1"))
    assert sorted(merged["sources"].split(",")) == ["crm", "warehouse"]

    workspace.write_csv("crm.csv", [_row("Jane", "VP Sales", "2024-01-01"), {**bo, "title": "CTO"}], COLUMNS)
    workspace.run()

    assert read_alone == [True]
    assert unified_record(workspace, "crm", "2")["title"] == "CTO"


JANE = {"id": "1", "email": "jane@acme.com", "first_name": "Jane", "title": "VP Sales", "updated": "2024-01-01"}
BO = {"id": "2", "email": "bo@acme.com", "first_name": "Bo", "title": "CTO", "updated": "2024-01-01"}


def _crm_holds(ws: Workspace, *rows: dict) -> None:
    ws.write_csv("crm.csv", list(rows), COLUMNS)


def _crm_only(ws: Workspace, *rows: dict) -> dict:
    """One CRM source holding `rows`, imported and unified once; returns the run's report."""
    _crm_holds(ws, *rows)
    ws.configure({"crm": _source("crm.csv", "salesforce")})
    return ws.run()


def _created_events(ws: Workspace) -> list[tuple[int, str]]:
    return sorted((h["unified_id"], h["new_value"]) for h in ws.rows("field_history") if h["field"] == "__created__")


def test_a_first_load_reports_every_record_created_and_none_updated(workspace: Workspace) -> None:
    report = _crm_only(workspace, JANE, BO)["people"]
    assert (report.created, report.updated, report.field_changes) == (2, 0, 0)


def test_a_run_reports_the_records_it_updated_beside_those_it_created(workspace: Workspace) -> None:
    _crm_only(workspace, JANE)
    _crm_holds(workspace, {**JANE, "first_name": "Janet"}, BO)
    report = workspace.run()["people"]
    assert (report.created, report.updated) == (1, 1)


def test_a_run_reports_one_field_change_per_changed_field(workspace: Workspace) -> None:
    _crm_only(workspace, JANE, BO)
    _crm_holds(workspace, {**JANE, "first_name": "Janet", "title": "CRO"}, BO)
    assert workspace.run()["people"].field_changes == 2


def test_a_run_that_only_adds_people_records_the_creation_of_those_alone(workspace: Workspace) -> None:
    _crm_only(workspace, JANE)
    _crm_holds(workspace, JANE, BO)
    report = workspace.run()["people"]
    assert (report.created, report.updated) == (1, 0)
    assert _created_events(workspace) == sorted(
        [(workspace.unified_id_of("crm", "1"), "crm"), (workspace.unified_id_of("crm", "2"), "crm")])


def test_a_person_added_beside_a_changed_one_gets_one_creation_in_history(workspace: Workspace) -> None:
    _crm_only(workspace, JANE)
    _crm_holds(workspace, {**JANE, "first_name": "Janet"}, BO)
    workspace.run()
    assert _created_events(workspace) == sorted(
        [(workspace.unified_id_of("crm", "1"), "crm"), (workspace.unified_id_of("crm", "2"), "crm")])


def test_people_on_their_own_take_their_new_values_when_every_record_changes(workspace: Workspace) -> None:
    _crm_only(workspace, JANE, BO)
    _crm_holds(workspace, {**JANE, "first_name": "Janet"}, {**BO, "title": "CEO"})
    workspace.run()
    jane, bo = unified_record(workspace, "crm", "1"), unified_record(workspace, "crm", "2")
    assert (jane["first_name"], jane["title"], bo["first_name"], bo["title"]) == ("Janet", "VP Sales", "Bo", "CEO")
    assert (jane["sources"], bo["deleted_in_source"]) == ("crm", False)


def test_a_field_emptied_on_a_person_on_their_own_has_no_source_record(workspace: Workspace) -> None:
    _crm_only(workspace, JANE, BO)
    _crm_holds(workspace, {**JANE, "first_name": "Janet"}, {**BO, "title": ""})
    workspace.run()
    bo = unified_record(workspace, "crm", "2")
    assert (bo["title"], bo["title__from"], bo["first_name__from"]) == (
        None, None, source_record_id(workspace, "crm", "2"))


def test_a_change_to_a_person_on_their_own_is_recorded_with_its_source_record(workspace: Workspace) -> None:
    _crm_only(workspace, JANE, BO)
    _crm_holds(workspace, {**JANE, "first_name": "Janet"}, {**BO, "title": "CEO"})
    workspace.run()
    changes = sorted((h["unified_id"], h["field"], h["old_value"], h["new_value"], h["source"], h["source_record_id"])
                     for h in workspace.rows("field_history") if not h["field"].startswith("__"))
    assert changes == sorted([
        (workspace.unified_id_of("crm", "1"), "first_name", "Jane", "Janet", "crm", source_record_id(workspace, "crm", "1")),
        (workspace.unified_id_of("crm", "2"), "title", "CTO", "CEO", "crm", source_record_id(workspace, "crm", "2")),
    ])


def test_a_record_of_a_tier_no_longer_known_loses_to_every_known_tier(workspace: Workspace) -> None:
    """A source row imported under a tier this version does not know (renamed, say) ranks below
    them all, for every field, instead of winning by accident."""
    workspace.write_csv("crm.csv", [_row("Jane", "VP Sales", "2024-06-01")], COLUMNS)
    workspace.write_csv("lists.csv", [_row("Janet", "Head of Sales", "2023-01-01")], COLUMNS)
    workspace.configure({"crm": _source("crm.csv", "salesforce"), "lists": _source("lists.csv", "prospect_search")},
                        survivorship={"people": {"title": ["salesforce", "prospect_search"]}})
    workspace.import_all()
    src = workspace.store.tables.source("people")
    with workspace.store.engine.begin() as conn:
        conn.execute(sa.update(src).where(src.c.source == "crm").values(tier="retired_tier"))
    workspace.unify_all()
    [person] = workspace.unified()
    assert (person["first_name"], person["title"]) == ("Janet", "Head of Sales")


def test_an_empty_value_of_the_top_source_is_filled_from_the_next_one_for_each_person(workspace: Workspace) -> None:
    workspace.write_csv("crm.csv", [{**JANE, "title": ""}, BO], COLUMNS)
    workspace.write_csv("warehouse.csv", [{**JANE, "title": "Head of Sales"}, {**BO, "title": "Founder"}], COLUMNS)
    workspace.configure({"crm": _source("crm.csv", "salesforce"), "warehouse": _source("warehouse.csv", "warehouse")})
    workspace.run()
    titles = {p["first_name"]: p["title"] for p in workspace.unified()}
    assert titles == {"Jane": "Head of Sales", "Bo": "CTO"}


def test_an_overridden_fields_empty_winner_falls_back_to_the_next_source(workspace: Workspace) -> None:
    person = _two_sources(workspace, ("crm", "salesforce", _row("Jane", "VP Sales", "2023-01-01")),
                          ("warehouse", "warehouse", _row("Janet", "", "2024-01-01")),
                          survivorship={"people": {"title": ["warehouse", "salesforce"]}})
    assert (person["first_name"], person["title"]) == ("Jane", "VP Sales")


def test_a_change_to_a_merged_person_names_the_source_it_came_from(workspace: Workspace) -> None:
    _two_sources(workspace, ("crm", "salesforce", _row("Jane", "VP Sales", "2024-01-01")),
                 ("warehouse", "warehouse", _row("Janet", "Head of Sales", "2023-01-01")))
    workspace.write_csv("crm.csv", [_row("Jane", "CRO", "2024-02-01")], COLUMNS)
    workspace.run()
    [change] = [h for h in workspace.rows("field_history") if h["field"] == "title"]
    assert (change["old_value"], change["new_value"], change["source"], change["source_record_id"]) == (
        "VP Sales", "CRO", "crm", source_record_id(workspace, "crm", "1"))


def test_an_updated_record_shows_when_it_was_last_updated(workspace: Workspace) -> None:
    _crm_only(workspace, JANE)
    _crm_holds(workspace, {**JANE, "first_name": "Janet"})
    workspace.run()
    jane = unified_record(workspace, "crm", "1")
    assert jane["updated_at"] > jane["created_at"]


def test_without_an_update_time_the_last_imported_change_is_the_most_recent(workspace: Workspace) -> None:
    """Neither source says when a row changed: the row re-imported with a change last wins, even
    though the other source's row is the newer record."""
    workspace.write_csv("crm.csv", [{"id": "c1", "email": "jane@acme.com", "linkedin": "", "first_name": "Jane"}])
    workspace.write_csv("events.csv", [{"id": "e1", "email": "jane@acme.com", "linkedin": "", "first_name": "Janie"}])
    workspace.configure({"crm": people_source("crm.csv"), "events": people_source("events.csv")})
    workspace.run()
    assert unified_record(workspace, "crm", "c1")["first_name"] == "Janie"
    workspace.write_csv("crm.csv", [{"id": "c1", "email": "jane@acme.com", "linkedin": "", "first_name": "Janet"}])
    workspace.run()
    assert unified_record(workspace, "crm", "c1")["first_name"] == "Janet"


def test_a_person_links_to_the_account_of_the_source_it_names(workspace: Workspace) -> None:
    """Two company sources use the same account id for different companies: the person's own
    account source decides which one is theirs."""
    accounts = {"kind": "csv", "entity": "companies", "unique_id": "Id",
                "fields": {"name": {"column": "name"}, "domain": {"column": "website"}}}
    workspace.write_csv("hub.csv", [{"Id": "001", "name": "Globex", "website": "globex.com"}])
    workspace.write_csv("accounts.csv", [{"Id": "001", "name": "Acme", "website": "acme.com"}])
    workspace.write_csv("people.csv", [{"id": "p1", "email": "jane@gmail.com", "linkedin": "", "first_name": "Jane",
                                        "AccountId": "001"}])
    people = people_source("people.csv", company={"account_id_column": "AccountId", "account_source": "hub"})
    workspace.configure({"hub": {**accounts, "path": "hub.csv"}, "accounts": {**accounts, "path": "accounts.csv"},
                         "people": people})
    workspace.run()
    assert unified_record(workspace, "people", "p1")["company_id"] == workspace.unified_id_of("hub", "001", "companies")
