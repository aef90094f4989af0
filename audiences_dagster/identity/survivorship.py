"""Field survivorship: which source record's value a unified record shows, field by field.

Live sources beat deleted ones; then the higher tier (per-field overrides honoured); then the most
recent value; then the newest record. Every change to an existing record lands in field_history.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from audiences_dagster.config.models import AudiencesConfig, Tier
from audiences_dagster.store import dialect
from audiences_dagster.store.api import Store

CREATED = "__created__"


def tier_rank(config: AudiencesConfig, entity: str, field: str, column: sa.ColumnElement) -> sa.ColumnElement:
    return sa.case({t.value: config.tier_rank(entity, field, t) for t in Tier}, value=column, else_=0)


def _base_order(config: AudiencesConfig, src: sa.Table, entity: str, field: str | None) -> tuple:
    """Live before deleted, higher tier, more recent, newer record."""
    rank = tier_rank(config, entity, field, src.c.tier) if field else sa.case(
        {t.value: t.rank for t in Tier}, value=src.c.tier, else_=0)
    return (src.c.deleted_in_source.asc(), rank.desc(),
            sa.func.coalesce(src.c.source_updated_at, src.c.imported_at).desc(), src.c.id.desc())


def _position(config: AudiencesConfig, src: sa.Table, entity: str, field: str | None,
              uid: sa.ColumnElement) -> sa.ColumnElement:
    return sa.func.row_number().over(partition_by=uid, order_by=_base_order(config, src, entity, field))


def links_companies(config: AudiencesConfig) -> bool:
    return config.identity.link_people_by_email_domain or any(
        s.company for s in config.sources_for("people").values())


def _company_domains(conn: sa.Connection, store: Store) -> sa.Table:
    """Company domain -> the unified company owning it (one lookup table, joined once)."""
    keys, companies = store.tables.identity_keys, store.tables.source("companies")
    table = dialect.create_temp_table(conn, "company_domains", [
        sa.Column("domain", sa.String(2048), primary_key=True), sa.Column("company_id", sa.BigInteger())])
    conn.execute(sa.insert(table).from_select(["domain", "company_id"], (
        sa.select(keys.c.key_value, sa.func.min(companies.c.unified_id))
        .join(companies, companies.c.id == keys.c.record_id)
        .where(keys.c.entity == "companies", keys.c.key_type == "domain", keys.c.blocked.is_(None))
        .group_by(keys.c.key_value))))
    return table


def _records(store: Store, entity: str, dirty: sa.Table, roots: sa.Table | None, domains: sa.Table | None,
             alone: bool = False) -> tuple[sa.FromClause, sa.ColumnElement, list[sa.ColumnElement]]:
    """The source records of the dirty ids, with the person's company looked up when people
    link to companies (by `domains`, see `_company_domains`): the FROM clause, each record's
    unified id (its stored one, or its root in `roots`) and the looked-up columns (none, or
    company_id). With `roots`, the one record of an `alone` id is the record of that id: it has
    no root to look up."""
    src = store.tables.source(entity)
    if roots is None:
        uid, frm = src.c.unified_id, src
    elif alone:
        uid, frm = src.c.id, src
    else:
        uid = sa.func.coalesce(roots.c.root, src.c.id)
        frm = src.outerjoin(roots, roots.c.record_id == src.c.id)
    frm = frm.join(dirty, dirty.c.uid == uid)
    if domains is None:
        return frm, uid, []
    companies = store.tables.source("companies")
    frm = frm.outerjoin(companies, sa.and_(companies.c.source == src.c.company_account_source,
                                           companies.c.source_id == src.c.company_account_id))
    frm = frm.outerjoin(domains, domains.c.domain == src.c.company_domain)
    return frm, uid, [sa.func.coalesce(companies.c.unified_id, domains.c.company_id).label("company_id")]


def _ranked(store: Store, config: AudiencesConfig, entity: str, records: sa.Select, uid: sa.ColumnElement,
            fields: dict[str, str], extra: list[str], overridden: list[str]) -> sa.Subquery:
    """Every source record of the dirty ids with its position in survivorship order (one order
    for all fields, plus one per field with a per-field tier override) and, per field, the first
    position in its order where the field has a value: the winner's. Its own columns start with
    an underscore, which no configured field name does."""
    src = store.tables.source(entity)
    values = [uid.label("_uid"), _position(config, src, entity, None, uid).label("_pos"), src.c.id.label("_rid"),
              src.c.source.label("_source"), sa.case((src.c.deleted_in_source, 1), else_=0).label("_deleted")]
    values += [_position(config, src, entity, f, uid).label(f"_pos_{f}") for f in overridden]
    values += [src.c[f] for f in fields]
    ranked = records.with_only_columns(*values, *records.selected_columns).subquery("ranked")
    firsts = [sa.func.min(sa.case((ranked.c[n].is_not(None), _at(ranked, n, overridden))))
              .over(partition_by=ranked.c._uid).label(f"_first_{n}") for n in [*fields, *extra]]
    return sa.select(*ranked.c, *firsts).subquery("placed")


def _at(ranked: sa.Subquery, name: str, overridden: list[str]) -> sa.ColumnElement:
    """A record's position in the order that decides `name`."""
    return ranked.c[f"_pos_{name}" if name in overridden else "_pos"]


def _winners_select(conn: sa.Connection, placed: sa.Subquery, names: list[str],
                    overridden: list[str]) -> tuple[sa.Select, list[str]]:
    """Per id, each field's value and source record at its winning position: one grouping over
    the ranked records (each field's CASE matches one record per id), no join per field."""
    values, columns = [placed.c._uid], ["_uid"]
    for n in names:
        wins = _at(placed, n, overridden) == placed.c[f"_first_{n}"]
        values.append(dialect.the_one(conn, sa.case((wins, placed.c[n]))))
        columns.append(n)
        if n != "company_id":  # the winning record, and its source for the history
            values += [sa.func.max(sa.case((wins, placed.c._rid))), sa.func.max(sa.case((wins, placed.c._source)))]
            columns += [f"{n}__from", f"_source_{n}"]
    values += [dialect.distinct_list(conn, placed.c._source), sa.func.min(placed.c._deleted) == 1]
    columns += ["sources", "deleted_in_source"]
    labelled = [value.label(name) for value, name in zip(values, columns)]
    return sa.select(*labelled).group_by(placed.c._uid), columns


def _alone_select(src: sa.Table, records: sa.Select, uid: sa.ColumnElement, names: list[str]) -> sa.Select:
    """The winners of ids with one source record: that record's values, each from it where it
    has one; the columns of `_winners_select`, without ranking or grouping anything."""
    looked_up = {c.name: c for c in records.selected_columns}
    values = [uid]
    for n in names:
        if n in looked_up:
            values.append(looked_up[n])
            continue
        has_value = src.c[n].is_not(None)
        values += [src.c[n], sa.case((has_value, src.c.id)), sa.case((has_value, src.c.source))]
    return records.with_only_columns(*values, src.c.source, src.c.deleted_in_source)


def apply_survivorship(conn: sa.Connection, store: Store, config: AudiencesConfig, entity: str,
                       dirty: sa.Table, run_id: str, now: datetime, created_event: str = CREATED,
                       roots: sa.Table | None = None, empty: bool = False) -> dict[str, int]:
    """Recompute the unified rows of the ids in `dirty` (a table with column uid) from their
    source records: update existing rows with history, insert new ones. A caller that knows
    which ids have exactly one source record marks them in a boolean column `alone` (most of a
    first load's): their values are read straight from that record, only the others are ranked.
    A caller whose merges are not yet written to the source rows gives them in `roots` (columns
    record_id and root): a record listed there belongs to its root, any other to its own id. A
    caller that found unified_<entity> empty and keeps others from writing it until it commits says
    so (`empty`): every row there is then one it created, and their history needs no lookup."""
    src, unified = store.tables.source(entity), store.tables.unified(entity)
    fields = config.fields(entity)
    overridden = [f for f in fields if config.survivorship.get(entity, {}).get(f)]
    domains = _company_domains(conn, store) if entity == "people" and links_companies(config) else None
    frm, uid, looked_up = _records(store, entity, dirty, roots, domains)
    records = sa.select(*looked_up).select_from(frm)
    extra = [c.name for c in looked_up]
    ranked = records.where(~dirty.c.alone) if "alone" in dirty.c else records
    placed = _ranked(store, config, entity, ranked, uid, fields, extra, overridden)
    select, columns = _winners_select(conn, placed, [*fields, *extra], overridden)
    if "alone" in dirty.c:
        alone, alone_uid = records, uid
        if roots is not None:
            alone_from, alone_uid, alone_looked_up = _records(store, entity, dirty, roots, domains, alone=True)
            alone = sa.select(*alone_looked_up).select_from(alone_from)
        select = sa.union_all(select, _alone_select(src, alone.where(dirty.c.alone), alone_uid, [*fields, *extra]))
    if empty or not conn.execute(sa.select(sa.exists().where(unified.c.id == dirty.c.uid))).scalar():
        return _create_every_record(conn, store, entity, select, columns, None if empty else dirty, run_id, now,
                                    created_event)

    winners_cols = [sa.Column("_uid", sa.BigInteger(), primary_key=True)]  # "_": no field name
    for name in fields:
        winners_cols += [sa.Column(name, src.c[name].type), sa.Column(f"{name}__from", sa.BigInteger()),
                         sa.Column(f"_source_{name}", sa.String(100))]
    winners_cols += [sa.Column("sources", sa.Text()), sa.Column("deleted_in_source", sa.Boolean())]
    if extra:
        winners_cols.append(sa.Column("company_id", sa.BigInteger()))
    winners = dialect.create_temp_table(conn, f"winners_{entity}", winners_cols)
    conn.execute(sa.insert(winners).from_select(columns, select))
    dialect.analyze(conn, winners)

    before = _before(conn, unified, winners, [*fields, *extra])
    changes = _write_history(conn, store, entity, [*fields, *extra], winners, before, run_id, now)
    assignments = {c: winners.c[c] for c in columns if c in unified.c}
    updated = conn.execute(
        sa.update(unified).where(unified.c.id == winners.c._uid).values(**assignments, updated_at=now)
    ).rowcount
    history = store.tables.field_history
    new = ~sa.exists().where(before.c.id == winners.c._uid)
    conn.execute(sa.insert(history).from_select(
        ["entity", "unified_id", "field", "new_value", "run_id", "changed_at"],
        sa.select(sa.literal(entity), winners.c._uid, sa.literal(created_event), winners.c.sources,
                  sa.literal(run_id), sa.literal(now)).where(new)))
    created = conn.execute(sa.insert(unified).from_select(
        ["id", *assignments, "created_at", "updated_at"],
        sa.select(winners.c._uid, *assignments.values(), sa.literal(now), sa.literal(now)).where(new),
    )).rowcount
    return {"updated": updated, "created": created, "field_changes": changes}


def _create_every_record(conn: sa.Connection, store: Store, entity: str, select: sa.Select, columns: list[str],
                         dirty: sa.Table | None, run_id: str, now: datetime, created_event: str) -> dict[str, int]:
    """None of the ids has a unified row yet (a first load, say): the winners go straight into
    the unified table, with no copy to compare against, and each gets its creation history (every
    row of the table when there is no `dirty` to pick them: it was empty)."""
    unified, history = store.tables.unified(entity), store.tables.field_history
    winners = select.subquery("winners")
    assigned = [c for c in columns if c in unified.c]
    created = conn.execute(sa.insert(unified).from_select(
        ["id", *assigned, "created_at", "updated_at"],
        sa.select(winners.c._uid, *(winners.c[c] for c in assigned), sa.literal(now), sa.literal(now)),
    )).rowcount
    created_rows = sa.select(sa.literal(entity), unified.c.id, sa.literal(created_event), unified.c.sources,
                             sa.literal(run_id), sa.literal(now))
    if dirty is not None:
        created_rows = created_rows.join(dirty, dirty.c.uid == unified.c.id)
    conn.execute(sa.insert(history).from_select(
        ["entity", "unified_id", "field", "new_value", "run_id", "changed_at"], created_rows))
    return {"updated": 0, "created": created, "field_changes": 0}


def _before(conn: sa.Connection, unified: sa.Table, winners: sa.Table, names: list[str]) -> sa.Table:
    """The existing unified rows of the winners' ids as they are now, read once: the history
    compares against this copy, field by field, instead of looking each row up per field."""
    before = dialect.create_temp_table(conn, f"before_{unified.name}", [
        sa.Column("id", sa.BigInteger(), primary_key=True), *(sa.Column(n, unified.c[n].type) for n in names)])
    conn.execute(sa.insert(before).from_select(
        ["id", *names], sa.select(unified.c.id, *(unified.c[n] for n in names))
        .join(winners, winners.c._uid == unified.c.id)))
    dialect.analyze(conn, before)
    return before


def _write_history(conn: sa.Connection, store: Store, entity: str, names: list[str], winners: sa.Table,
                   before: sa.Table, run_id: str, now: datetime) -> int:
    """One history row per changed field of an existing record (old, new, source, run, time).
    A person's company link changing is history too (the job-change signal reads it); it has no
    source record of its own."""
    history = store.tables.field_history
    total = 0
    for name in names:
        old, new = before.c[name], winners.c[name]
        provenance = ([winners.c[f"_source_{name}"], winners.c[f"{name}__from"]] if f"{name}__from" in winners.c
                      else [sa.null(), sa.null()])
        select = (
            sa.select(sa.literal(entity), before.c.id, sa.literal(name), sa.cast(old, sa.Text),
                      sa.cast(new, sa.Text), *provenance, sa.literal(run_id), sa.literal(now))
            .select_from(winners.join(before, before.c.id == winners.c._uid))
            .where(old.is_distinct_from(new))
        )
        total += conn.execute(sa.insert(history).from_select(
            ["entity", "unified_id", "field", "old_value", "new_value", "source", "source_record_id",
             "run_id", "changed_at"], select)).rowcount
    return total
