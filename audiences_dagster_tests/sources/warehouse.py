"""A warehouse for SQL-source tests: a `contacts` table with a real timestamp column."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

T0 = datetime(2024, 3, 1, 9, 30)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def contact(cid: str, minutes: int = 0, name: str | None = None, owner_id: int | None = None) -> dict:
    return {"id": cid, "email": f"{cid}@acme.com", "name": name or f"Name {cid}", "owner_id": owner_id,
            "updated_at": at(minutes)}


class Warehouse:
    """One warehouse database (SQLite file or PostgreSQL) the tests edit between imports."""

    def __init__(self, url: str, table: str = "contacts"):
        self.url = url
        self.engine = sa.create_engine(url)
        metadata = sa.MetaData()
        self.contacts = sa.Table(
            table, metadata,
            sa.Column("id", sa.String(32), primary_key=True),
            sa.Column("email", sa.String(320)),
            sa.Column("name", sa.String(200)),
            sa.Column("owner_id", sa.Integer()),
            sa.Column("updated_at", sa.DateTime()),
        )
        metadata.create_all(self.engine)

    def put(self, *rows: dict) -> None:
        """Insert or replace rows by id."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(self.contacts).where(self.contacts.c.id.in_([r["id"] for r in rows])))
            conn.execute(sa.insert(self.contacts), list(rows))

    def remove(self, *ids: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(self.contacts).where(self.contacts.c.id.in_(ids)))

    def source(self, timestamped: bool = True, **settings) -> dict:
        """The sql source reading the contacts table, incremental when `timestamped`."""
        query = f"SELECT id, email, name, owner_id, updated_at FROM {self.contacts.name}"
        source = {"kind": "sql", "entity": "people", "url": self.url, "query": query, "unique_id": "id",
                  "fields": {"email": {"column": "email", "type": "email"}, "name": {"column": "name"}}}
        if timestamped:
            source["updated_at"] = "updated_at"
        return {**source, **settings}

    def drop(self) -> None:
        self.contacts.drop(self.engine)
        self.engine.dispose()
