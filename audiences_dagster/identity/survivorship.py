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


def _ranked_winner(config: AudiencesConfig, src: sa.Table, dirty: sa.Table, entity: str, field: str,
                   value: sa.ColumnElement, extra_from=None) -> sa.Subquery:
    """One row per unified id: the surviving value of `field` and the record it came from."""
    order = (
        src.c.deleted_in_source.asc(),
        tier_rank(config, entity, field, src.c.tier).desc(),
        sa.func.coalesce(src.c.source_updated_at, src.c.imported_at).desc(),
        src.c.id.desc(),
    )
    rn = sa.func.row_number().over(partition_by=src.c.unified_id, order_by=order)
    base = sa.select(src.c.unified_id.label("uid"), value.label("v"), src.c.id.label("rid"), rn.label("rn"))
    base = base.select_from(extra_from if extra_from is not None else src)
    base = base.join(dirty, dirty.c.uid == src.c.unified_id).where(value.is_not(None)).subquery(f"r_{field}")
    return sa.select(base.c.uid, base.c.v, base.c.rid).where(base.c.rn == 1).subquery(f"w_{field}")


def _company_value(store: Store, src: sa.Table):
    """A person's company: the account their CRM row points at, else the company owning their
    company domain."""
    companies, keys = store.tables.source("companies"), store.tables.identity_keys
    by_account = (
        sa.select(companies.c.unified_id)
        .where(companies.c.source == src.c.company_account_source,
               companies.c.source_id == src.c.company_account_id)
        .limit(1).scalar_subquery()
    )
    by_domain = (
        sa.select(sa.func.min(companies.c.unified_id))
        .select_from(keys.join(companies, companies.c.id == keys.c.record_id))
        .where(keys.c.entity == "companies", keys.c.key_type == "domain",
               keys.c.key_value == src.c.company_domain, keys.c.blocked.is_(None))
        .scalar_subquery()
    )
    return sa.func.coalesce(by_account, by_domain)


def apply_survivorship(conn: sa.Connection, store: Store, config: AudiencesConfig, entity: str,
                       dirty: sa.Table, run_id: str, now: datetime, created_event: str = CREATED) -> dict[str, int]:
    """Recompute the unified rows of the ids in `dirty` (a table with column uid) from their
    source records: update existing rows with history, insert new ones."""
    src, unified = store.tables.source(entity), store.tables.unified(entity)
    fields = config.fields(entity)
    winners_cols = [sa.Column("uid", sa.BigInteger(), primary_key=True)]
    for name in fields:
        winners_cols += [sa.Column(name, src.c[name].type), sa.Column(f"{name}__from", sa.BigInteger())]
    winners_cols += [sa.Column("sources", sa.Text()), sa.Column("deleted_in_source", sa.Boolean())]
    if entity == "people":
        winners_cols.append(sa.Column("company_id", sa.BigInteger()))
    winners = dialect.create_temp_table(conn, f"winners_{entity}", winners_cols)

    subqueries = {name: _ranked_winner(config, src, dirty, entity, name, src.c[name]) for name in fields}
    if entity == "people" and "companies" in store.fields:
        subqueries["company_id"] = _ranked_winner(config, src, dirty, entity, "company_id", _company_value(store, src))
    summary = _summary(src, dirty)
    select = sa.select(dirty.c.uid)
    columns = ["uid"]
    frm = dirty.outerjoin(summary, summary.c.uid == dirty.c.uid)
    for name, sub in subqueries.items():
        frm = frm.outerjoin(sub, sub.c.uid == dirty.c.uid)
        select = select.add_columns(sub.c.v)
        columns.append(name)
        if name != "company_id":
            select = select.add_columns(sub.c.rid)
            columns.append(f"{name}__from")
    select = select.add_columns(summary.c.sources, summary.c.deleted).select_from(frm)
    columns += ["sources", "deleted_in_source"]
    conn.execute(sa.insert(winners).from_select(columns, select))
    dialect.analyze(conn, winners)

    existing = sa.exists().where(unified.c.id == winners.c.uid)
    changes = _write_history(conn, store, entity, fields, winners, run_id, now)
    assignments = {c: winners.c[c] for c in columns if c != "uid"}
    updated = conn.execute(
        sa.update(unified).where(unified.c.id == winners.c.uid).values(**assignments, updated_at=now)
    ).rowcount
    history = store.tables.field_history
    conn.execute(sa.insert(history).from_select(
        ["entity", "unified_id", "field", "new_value", "run_id", "changed_at"],
        sa.select(sa.literal(entity), winners.c.uid, sa.literal(created_event), winners.c.sources,
                  sa.literal(run_id), sa.literal(now)).where(~existing)))
    created = conn.execute(sa.insert(unified).from_select(
        ["id", *assignments, "created_at", "updated_at"],
        sa.select(winners.c.uid, *assignments.values(), sa.literal(now), sa.literal(now)).where(~existing),
    )).rowcount
    return {"updated": updated, "created": created, "field_changes": changes}


def _summary(src: sa.Table, dirty: sa.Table) -> sa.Subquery:
    """Sources feeding each record, and whether every one of them deleted it."""
    names = (sa.select(src.c.unified_id, src.c.source).join(dirty, dirty.c.uid == src.c.unified_id).distinct()
             .order_by(src.c.unified_id, src.c.source).subquery())
    joined = sa.func.aggregate_strings(names.c.source, ",")
    listing = sa.select(names.c.unified_id.label("uid"), joined.label("sources")).group_by(names.c.unified_id).subquery()
    deleted = (
        sa.select(src.c.unified_id.label("uid"),
                  (sa.func.min(sa.case((src.c.deleted_in_source, 1), else_=0)) == 1).label("deleted"))
        .join(dirty, dirty.c.uid == src.c.unified_id).group_by(src.c.unified_id).subquery()
    )
    return sa.select(listing.c.uid, listing.c.sources, deleted.c.deleted).join(
        deleted, deleted.c.uid == listing.c.uid).subquery("summary")


def _write_history(conn: sa.Connection, store: Store, entity: str, fields: dict[str, str],
                   winners: sa.Table, run_id: str, now: datetime) -> int:
    """One history row per changed field of an existing record (old, new, source, run, time)."""
    unified, src, history = store.tables.unified(entity), store.tables.source(entity), store.tables.field_history
    total = 0
    for name in fields:
        old, new = unified.c[name], winners.c[name]
        select = (
            sa.select(sa.literal(entity), unified.c.id, sa.literal(name), sa.cast(old, sa.Text),
                      sa.cast(new, sa.Text), src.c.source, winners.c[f"{name}__from"],
                      sa.literal(run_id), sa.literal(now))
            .select_from(winners.join(unified, unified.c.id == winners.c.uid)
                         .outerjoin(src, src.c.id == winners.c[f"{name}__from"]))
            .where(old.is_distinct_from(new))
        )
        total += conn.execute(sa.insert(history).from_select(
            ["entity", "unified_id", "field", "old_value", "new_value", "source", "source_record_id",
             "run_id", "changed_at"], select)).rowcount
    return total
