"""The Data Hub's figures, exactly: which records count as live, archived or deleted in source,
what counts as a filled field, which sources a field comes from, the per-signal counts and the
text the hub renders."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from audiences_dagster.hub.report import build_data_hub
from audiences_dagster.store.api import utcnow
from audiences_dagster_tests.signals.test_detection_rules import changes_happened_at
from audiences_dagster_tests.signals.world import (
    COMPANIES, PEOPLE, PROMOTION, SOURCES, build, change, detect, edited, write,
)
from audiences_dagster_tests.support import Workspace

CHANGED = datetime(2024, 3, 10, 12, 0, 0, 123456)
TITLE_CHANGED = {"name": "title_changed", "kind": "field_change", "field": "title"}


def store_marks(ws: Workspace, entity: str, source: str, source_id: str, **values) -> None:
    """Set columns of one unified record in the store, as other parts of the product leave them."""
    unified = ws.store.tables.unified(entity)
    with ws.store.engine.begin() as conn:
        conn.execute(sa.update(unified).where(unified.c.id == ws.unified_id_of(source, source_id, entity))
                     .values(**values))


def hub(ws: Workspace, now: datetime | None = None):
    return build_data_hub(ws.store, ws.config, now)


def field_of(ws: Workspace, entity: str, name: str):
    return next(f for f in hub(ws).fields if (f.entity, f.field) == (entity, name))


def promotions_at(ws: Workspace, *moments: tuple[str, str, datetime]) -> None:
    """Each (person, new title, when) is a change of title detected as a promotion."""
    people = PEOPLE
    for person, title, moment in moments:
        people = edited(people, person, title=title)
        change(ws, people)
        changes_happened_at(ws, moment)
    detect(ws, now=max(m for _, _, m in moments))


def test_archived_records_are_counted_apart_from_live_ones(workspace: Workspace):
    build(workspace, [])
    store_marks(workspace, "people", "crm", "p3", archived=True)

    [people, companies] = hub(workspace).records

    assert ((people.live, people.archived), (companies.live, companies.archived)) == ((2, 1), (2, 0))


def test_total_records_count_live_records_only(workspace: Workspace):
    build(workspace, [])
    store_marks(workspace, "people", "crm", "p3", archived=True)

    assert hub(workspace).totals["records"] == 4


def test_live_records_deleted_in_source_are_counted(workspace: Workspace):
    build(workspace, [])
    store_marks(workspace, "people", "crm", "p2", deleted_in_source=True)

    [people, _] = hub(workspace).records

    assert (people.live, people.deleted_in_source) == (3, 1)


def test_archived_record_deleted_in_source_is_not_counted_as_deleted(workspace: Workspace):
    build(workspace, [])
    store_marks(workspace, "people", "crm", "p2", deleted_in_source=True, archived=True)

    [people, _] = hub(workspace).records

    assert (people.live, people.archived, people.deleted_in_source) == (2, 1, 0)


def test_fill_rate_counts_live_records_only(workspace: Workspace):
    build(workspace, [], people=edited(PEOPLE, "p3", title=""))
    store_marks(workspace, "people", "crm", "p1", archived=True)

    title = field_of(workspace, "people", "title")

    assert (title.filled, title.fill_rate) == (1, 0.5)


def test_empty_text_is_not_a_filled_field(workspace: Workspace):
    build(workspace, [])
    store_marks(workspace, "people", "crm", "p3", title="")

    title = field_of(workspace, "people", "title")

    assert (title.filled, title.fill_rate) == (2, 2 / 3)


def test_number_without_a_value_is_not_filled(workspace: Workspace):
    build(workspace, [], companies=edited(COMPANIES, "a1", headcount=""))

    headcount = field_of(workspace, "companies", "headcount")

    assert (headcount.filled, headcount.fill_rate) == (1, 0.5)


def test_entity_whose_source_holds_no_records_counts_zeros(workspace: Workspace):
    build(workspace, [], companies=[])

    [_, companies] = hub(workspace).records
    stage = field_of(workspace, "companies", "stage")

    assert ((companies.live, companies.archived, companies.deleted_in_source), stage.filled, stage.fill_rate) == (
        (0, 0, 0), 0, 0.0)


def test_entity_without_a_source_is_left_out_of_the_hub(workspace: Workspace):
    write(workspace)
    workspace.configure({"crm": SOURCES["crm"]})
    workspace.run()

    data_hub = hub(workspace)

    assert ([r.entity for r in data_hub.records], {f.entity for f in data_hub.fields}) == (["people"], {"people"})


def test_field_lists_every_source_that_maps_it(workspace: Workspace):
    events = {"kind": "csv", "entity": "people", "path": "events.csv", "unique_id": "id",
              "fields": {"email": {"column": "email", "type": "email"}}}
    write(workspace)
    workspace.write_csv("events.csv", [{"id": "e1", "email": "ann@acme.com"}])
    workspace.configure({**SOURCES, "events": events})
    workspace.run()

    data_hub = hub(workspace)

    assert [(f.field, f.sources) for f in data_hub.fields if f.entity == "people"] == [
        ("email", ["crm", "events"]), ("title", ["crm"])]
    assert "| people | email | email | 3 | 100.0% | crm, events |" in data_hub.fields_markdown()


def test_signal_that_never_fired_shows_zeros_and_never(workspace: Workspace):
    build(workspace, [PROMOTION])

    data_hub = hub(workspace)

    [promoted] = data_hub.signals
    assert ((promoted.events, promoted.records, promoted.fired_recently, promoted.recent_records,
             promoted.last_fired_at), data_hub.signals_markdown().splitlines()[-1]) == (
        (0, 0, 0, 0, None), "| promoted | people | promotion | 0 | 0 | 0 | never |")


def test_signal_counts_its_records_once_however_often_they_fired(workspace: Workspace):
    build(workspace, [PROMOTION])
    promotions_at(workspace, ("p1", "Sales Manager", CHANGED), ("p1", "Sales Director", CHANGED + timedelta(days=1)),
                  ("p2", "Sales Director", CHANGED + timedelta(days=2)))

    [promoted] = hub(workspace, CHANGED + timedelta(days=3)).signals

    assert (promoted.events, promoted.records, promoted.fired_recently, promoted.recent_records) == (3, 2, 3, 2)


def test_signal_counts_as_recent_what_fired_in_the_last_30_days(workspace: Workspace):
    build(workspace, [PROMOTION])
    promotions_at(workspace, ("p1", "Sales Manager", CHANGED), ("p1", "Sales Director", CHANGED + timedelta(days=1)),
                  ("p2", "Sales Director", CHANGED + timedelta(days=2)))

    [promoted] = hub(workspace, CHANGED + timedelta(days=31)).signals

    assert (promoted.events, promoted.fired_recently, promoted.recent_records) == (3, 2, 2)


def test_signal_that_fired_only_long_ago_has_nothing_recent(workspace: Workspace):
    build(workspace, [PROMOTION])
    promotions_at(workspace, ("p1", "Sales Manager", CHANGED))

    [promoted] = hub(workspace, CHANGED + timedelta(days=60)).signals

    assert (promoted.events, promoted.fired_recently, promoted.recent_records) == (1, 0, 0)


def test_event_fired_exactly_30_days_ago_is_recent(workspace: Workspace):
    build(workspace, [PROMOTION])
    promotions_at(workspace, ("p1", "Sales Manager", CHANGED))

    [promoted] = hub(workspace, CHANGED + timedelta(days=30)).signals

    assert (promoted.fired_recently, promoted.recent_records) == (1, 1)


def test_signal_shows_when_it_last_fired(workspace: Workspace):
    build(workspace, [PROMOTION])
    promotions_at(workspace, ("p1", "Sales Manager", CHANGED), ("p2", "Sales Director", CHANGED + timedelta(days=2)))

    data_hub = hub(workspace, CHANGED + timedelta(days=3))

    assert (data_hub.signals[0].last_fired_at, data_hub.signals_markdown().splitlines()[-1]) == (
        CHANGED + timedelta(days=2), "| promoted | people | promotion | 2 | 2 | 2 | 2024-03-12 12:00:00 |")


def test_hub_lists_the_declared_signals_in_order_each_with_its_own_counts(workspace: Workspace):
    build(workspace, [TITLE_CHANGED, PROMOTION])
    change(workspace, edited(edited(PEOPLE, "p1", title="Sales Manager"), "p2", title="Account Executive"))
    detect(workspace)

    data_hub = hub(workspace)

    assert [(s.signal, s.kind, s.events, s.records) for s in data_hub.signals] == [
        ("title_changed", "field_change", 2, 2), ("promoted", "promotion", 1, 1)]
    assert {k: data_hub.totals[k] for k in ("signals", "signal_events", "signals_fired_last_30_days")} == {
        "signals": 2, "signal_events": 3, "signals_fired_last_30_days": 3}


def test_signal_removed_from_the_config_leaves_the_hub(workspace: Workspace):
    build(workspace, [TITLE_CHANGED, PROMOTION])
    change(workspace, edited(PEOPLE, "p1", title="Sales Manager"))
    detect(workspace)
    workspace.configure(SOURCES, signals=[PROMOTION])

    data_hub = hub(workspace)

    assert ([s.signal for s in data_hub.signals], data_hub.totals["signal_events"]) == (["promoted"], 1)


def test_hub_without_signals_says_none_are_declared(workspace: Workspace):
    build(workspace, [])

    assert hub(workspace).signals_markdown() == "no signals declared"


def test_records_table_gives_live_archived_and_deleted_per_entity(workspace: Workspace):
    build(workspace, [])
    store_marks(workspace, "people", "crm", "p3", archived=True)
    store_marks(workspace, "companies", "accounts", "a2", deleted_in_source=True)

    assert hub(workspace).records_markdown() == (
        "| entity | records | archived | deleted in source |\n|---|---|---|---|\n"
        "| people | 2 | 1 | 0 |\n| companies | 2 | 0 | 1 |")


def test_rendered_hub_opens_with_its_time_and_totals_then_its_three_tables(workspace: Workspace):
    build(workspace, [PROMOTION])
    data_hub = hub(workspace, CHANGED)

    sections = data_hub.render().split("\n\n")

    assert sections[0] == ("Data Hub, 2024-03-10 12:00:00 UTC: records 5, fields 6, signals 1, signal events 0, "
                           "signals fired last 30 days 0")
    assert sections[1:] == ["Records\n" + data_hub.records_markdown(), "Fields\n" + data_hub.fields_markdown(),
                            "Signals (fired in the last 30 days)\n" + data_hub.signals_markdown()]


def test_signals_table_names_its_columns(workspace: Workspace):
    build(workspace, [PROMOTION])

    assert hub(workspace).signals_markdown().splitlines()[0] == (
        "| signal | entity | kind | fired last 30 days | records | events in all | last fired |")


def test_hub_is_dated_now_unless_told_otherwise(workspace: Workspace):
    build(workspace, [])
    before = utcnow()

    generated_at = hub(workspace).generated_at

    assert before <= generated_at <= utcnow()
