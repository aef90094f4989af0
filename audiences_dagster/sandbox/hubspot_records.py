"""HubSpot contacts and companies in the sandbox: properties, unique values, archive, merges with new ids and
aliases, and contact-company associations. lastmodifieddate always comes from the sandbox clock."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Mapping

from audiences_dagster.sandbox.clock import SandboxClock, hubspot_datetime
from audiences_dagster.sandbox.database import SandboxDatabase
from audiences_dagster.sandbox.errors import HubSpotApiError, SandboxError, hubspot_not_found
from audiences_dagster.sandbox.schema import (
    HUBSPOT_MODIFIED_PROPERTY, HUBSPOT_OBJECT_NAMES, HUBSPOT_PROPERTIES, hubspot_object_type,
)

FIRST_ID = 101


def require_object_type(name: str) -> str:
    object_type = hubspot_object_type(name)
    if object_type is None:
        raise HubSpotApiError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {name}")
    return object_type


class HubSpotRecords:
    """Every HubSpot write goes through here so timestamps, unique values and aliases stay consistent."""

    def __init__(self, db: SandboxDatabase, clock: SandboxClock, merged_ids_listed_as_archived) -> None:
        self.db = db
        self.clock = clock
        self._merged_listed = merged_ids_listed_as_archived  # a callable reading the current setting

    # ------------------------------------------------------------ reads

    def resolve(self, conn: sqlite3.Connection, object_type: str, object_id) -> int | None:
        """The record id an id stands for now: merged-away ids are aliases of the merged record."""
        try:
            number = int(object_id)
        except (TypeError, ValueError):
            return None
        alias = conn.execute("SELECT new_id FROM hs_alias WHERE object_type = ? AND old_id = ?",
                             (object_type, number)).fetchone()
        return alias["new_id"] if alias else number

    def row(self, conn: sqlite3.Connection, object_type: str, object_id, archived: bool = False) -> sqlite3.Row:
        """The live (or, with archived=True, archived) record, or a 404 OBJECT_NOT_FOUND."""
        resolved = self.resolve(conn, object_type, object_id) if not archived else _int(object_id)
        found = conn.execute("SELECT * FROM hs_object WHERE id = ? AND object_type = ? AND archived = ?",
                             (resolved, object_type, int(archived))).fetchone() if resolved is not None else None
        if found is None:
            raise hubspot_not_found(object_type, object_id)
        return found

    def by_unique(self, conn: sqlite3.Connection, object_type: str, prop: str, value: str) -> int | None:
        found = conn.execute("SELECT id FROM hs_unique_value WHERE object_type = ? AND property = ? AND value = ?",
                             (object_type, prop, _unique_key(prop, value))).fetchone()
        return found["id"] if found else None

    def unique_property(self, object_type: str, prop: str) -> str:
        spec = HUBSPOT_PROPERTIES[object_type].get(prop)
        if spec is None or not spec.unique:
            raise HubSpotApiError(400, "VALIDATION_ERROR",
                                  f"{prop} is not a unique identifier property for {object_type}; use one whose "
                                  "values are unique (email, audiences_id)")
        return prop

    # ------------------------------------------------------------ writes

    def create(self, object_type: str, properties: Mapping[str, object], *, system: bool = False) -> int:
        with self.db.write() as conn:
            return self.insert(conn, object_type, [properties], system=system)[0]

    def insert(self, conn: sqlite3.Connection, object_type: str, many: Iterable[Mapping[str, object]],
               *, system: bool = False, stamps: list[tuple[int, int]] | None = None) -> list[int]:
        """New records (409 CONFLICT when a unique value is taken); stamps = (created, modified) ms for seeding."""
        now = self.clock.now_ms()
        cleaned = [self._validated(object_type, props, system) for props in many]
        start = self._next_id(conn)
        ids = list(range(start, start + len(cleaned)))
        conn.executemany(
            "INSERT INTO hs_object (id, object_type, properties, created_ms, updated_ms, indexed_wall_ms)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(i, object_type, json.dumps(p), *(stamp or (now, now)), 0 if stamps else _wall_ms())
             for i, p, stamp in zip(ids, cleaned, stamps or [None] * len(cleaned))])
        self._claim_unique(conn, object_type, list(zip(ids, cleaned)))
        return ids

    def update(self, object_type: str, object_id, properties: Mapping[str, object]) -> int:
        with self.db.write() as conn:
            return self.apply_update(conn, object_type, object_id, properties)

    def apply_update(self, conn: sqlite3.Connection, object_type: str, object_id,
                     properties: Mapping[str, object]) -> int:
        """Changed properties merge into the record; an empty string clears one; lastmodifieddate moves."""
        row = self.row(conn, object_type, object_id)
        changes = self._validated(object_type, properties, system=False, keep_empty=True)
        current = json.loads(row["properties"])
        current.update(changes)
        current = {k: v for k, v in current.items() if v not in (None, "")}
        conn.execute("DELETE FROM hs_unique_value WHERE id = ?", (row["id"],))
        self._claim_unique(conn, object_type, [(row["id"], current)])
        conn.execute("UPDATE hs_object SET properties = ?, updated_ms = ?, indexed_wall_ms = ? WHERE id = ?",
                     (json.dumps(current), self.clock.now_ms(), _wall_ms(), row["id"]))
        return row["id"]

    def archive(self, object_type: str, object_id) -> None:
        """To the recycle bin: archived, archivedAt set, gone from search and the default list."""
        with self.db.write() as conn:
            self.apply_archive(conn, object_type, object_id)

    def apply_archive(self, conn: sqlite3.Connection, object_type: str, object_id) -> None:
        row = self.row(conn, object_type, object_id)
        now = self.clock.now_ms()
        conn.execute("UPDATE hs_object SET archived = 1, archived_ms = ?, updated_ms = ?, indexed_wall_ms = ?"
                     " WHERE id = ?", (now, now, _wall_ms(), row["id"]))
        conn.execute("DELETE FROM hs_unique_value WHERE id = ?", (row["id"],))

    def restore(self, object_type: str, object_id) -> None:
        """Back from the recycle bin (a HubSpot UI action; the sandbox offers it as a hook)."""
        with self.db.write() as conn:
            row = self.row(conn, object_type, object_id, archived=True)
            self._claim_unique(conn, object_type, [(row["id"], json.loads(row["properties"]))])
            conn.execute("UPDATE hs_object SET archived = 0, archived_ms = NULL, updated_ms = ?,"
                         " indexed_wall_ms = ? WHERE id = ?", (self.clock.now_ms(), _wall_ms(), row["id"]))

    def hard_delete(self, object_type: str, object_id) -> None:
        """GDPR delete: the record, its aliases and associations are gone for good."""
        with self.db.write() as conn:
            number = self.resolve(conn, object_type, object_id)
            found = conn.execute("SELECT id FROM hs_object WHERE id = ? AND object_type = ?",
                                 (number, object_type)).fetchone()
            if found is None:
                raise hubspot_not_found(object_type, object_id)
            for sql in ("DELETE FROM hs_object WHERE id = ?", "DELETE FROM hs_unique_value WHERE id = ?",
                        "DELETE FROM hs_alias WHERE new_id = ?",
                        "DELETE FROM hs_association WHERE contact_id = ? OR company_id = ?"):
                conn.execute(sql, (number,) * sql.count("?"))

    def merge(self, object_type: str, primary_id, merged_id) -> int:
        """A new record with a new id; both old ids become aliases of it; hs_merged_object_ids lists them."""
        with self.db.write() as conn:
            primary = self.row(conn, object_type, primary_id)
            other = self.row(conn, object_type, merged_id)
            if primary["id"] == other["id"]:
                raise HubSpotApiError(400, "VALIDATION_ERROR", "Cannot merge an object with itself")
            properties = {**json.loads(other["properties"]), **json.loads(primary["properties"])}
            merged_ids = [i for r in (primary, other) for i in (r["merged_ids"] or "").split(";") if i]
            merged_ids += [str(primary["id"]), str(other["id"])]
            conn.execute("DELETE FROM hs_unique_value WHERE id IN (?, ?)", (primary["id"], other["id"]))
            now = self.clock.now_ms()
            new_id = self.insert(conn, object_type, [properties], system=True,
                                 stamps=[(min(primary["created_ms"], other["created_ms"]), now)])[0]
            conn.execute("UPDATE hs_object SET merged_ids = ?, updated_ms = ? WHERE id = ?",
                         (";".join(merged_ids), now, new_id))
            self._retire(conn, object_type, [primary["id"], other["id"]], new_id, now)
            self._move_associations(conn, object_type, [other["id"], primary["id"]], new_id)
            return new_id

    def associate(self, contact_id, company_id, primary: bool = False) -> None:
        with self.db.write() as conn:
            self.apply_associate(conn, contact_id, company_id, primary)

    def apply_associate(self, conn: sqlite3.Connection, contact_id, company_id, primary: bool = False) -> None:
        contact = self.row(conn, "contacts", contact_id)
        company = self.row(conn, "companies", company_id)
        if primary:
            conn.execute("UPDATE hs_association SET is_primary = 0 WHERE contact_id = ?", (contact["id"],))
        conn.execute("INSERT INTO hs_association (contact_id, company_id, is_primary) VALUES (?, ?, ?)"
                     " ON CONFLICT (contact_id, company_id) DO UPDATE SET is_primary = MAX(is_primary,"
                     " excluded.is_primary)", (contact["id"], company["id"], int(primary)))

    # ------------------------------------------------------------ rendering

    def render(self, row: sqlite3.Row, wanted: Iterable[str], with_history: Iterable[str] = ()) -> dict:
        """SimplePublicObject: requested properties (null when unset), timestamps, archived state."""
        object_type = row["object_type"]
        values = {**json.loads(row["properties"]), "hs_object_id": str(row["id"]),
                  "createdate": hubspot_datetime(row["created_ms"]),
                  HUBSPOT_MODIFIED_PROPERTY[object_type]: hubspot_datetime(row["updated_ms"])}
        if row["merged_ids"]:
            values["hs_merged_object_ids"] = row["merged_ids"]
        known = HUBSPOT_PROPERTIES[object_type]
        result = {"id": str(row["id"]),
                  "properties": {p: values.get(p) for p in dict.fromkeys(wanted) if p in known},
                  "createdAt": hubspot_datetime(row["created_ms"]), "updatedAt": hubspot_datetime(row["updated_ms"]),
                  "archived": bool(row["archived"])}
        if row["archived"]:
            result["archivedAt"] = hubspot_datetime(row["archived_ms"])
        history = [p for p in with_history if p in known]
        if history:
            result["propertiesWithHistory"] = {p: [] if values.get(p) is None else [{
                "value": values[p], "timestamp": hubspot_datetime(row["updated_ms"]), "sourceType": "API"}]
                for p in history}
        return result

    # ------------------------------------------------------------ helpers

    def _validated(self, object_type: str, properties: Mapping[str, object], system: bool,
                   keep_empty: bool = False) -> dict[str, str]:
        """Property values are strings; unknown or read-only properties are a 400 VALIDATION_ERROR."""
        known = HUBSPOT_PROPERTIES[object_type]
        errors, cleaned = [], {}
        for name, value in (properties or {}).items():
            spec = known.get(name)
            if spec is None:
                errors.append({"message": f'Property "{name}" does not exist', "code": "PROPERTY_DOESNT_EXIST",
                               "context": {"propertyName": [name]}, "name": name})
            elif spec.read_only and not system:
                errors.append({"message": f'"{name}" is a read only property; its value cannot be set.',
                               "code": "READ_ONLY_VALUE", "context": {"propertyName": [name]}, "name": name})
            elif not spec.read_only:
                text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
                if text or keep_empty:
                    cleaned[name] = text
        if errors:
            raise HubSpotApiError(400, "VALIDATION_ERROR",
                                  f"Property values were not valid: {json.dumps(errors)}", errors=errors)
        return cleaned

    def _claim_unique(self, conn: sqlite3.Connection, object_type: str, records: list[tuple[int, dict]]) -> None:
        """Record unique values; a value already held by another record is a 409 CONFLICT."""
        unique = [p.name for p in HUBSPOT_PROPERTIES[object_type].values() if p.unique]
        for record_id, props in records:
            for prop in unique:
                if not props.get(prop):
                    continue
                holder = self.by_unique(conn, object_type, prop, props[prop])
                if holder is not None and holder != record_id:
                    label = HUBSPOT_OBJECT_NAMES[object_type].capitalize()
                    raise HubSpotApiError(409, "CONFLICT", f"{label} already exists. Existing ID: {holder}")
                conn.execute("INSERT OR REPLACE INTO hs_unique_value (object_type, property, value, id)"
                             " VALUES (?, ?, ?, ?)", (object_type, prop, _unique_key(prop, props[prop]), record_id))

    def _retire(self, conn: sqlite3.Connection, object_type: str, old_ids: list[int], new_id: int, now: int) -> None:
        """Old ids alias the new record; their rows are archived or dropped per the (unverified) setting."""
        marks = ", ".join("?" * len(old_ids))
        conn.execute(f"UPDATE hs_alias SET new_id = ? WHERE object_type = ? AND new_id IN ({marks})",
                     (new_id, object_type, *old_ids))
        conn.executemany("INSERT OR REPLACE INTO hs_alias (object_type, old_id, new_id) VALUES (?, ?, ?)",
                         [(object_type, old, new_id) for old in old_ids])
        if self._merged_listed():
            conn.execute(f"UPDATE hs_object SET archived = 1, archived_ms = ? WHERE id IN ({marks})", (now, *old_ids))
        else:
            conn.execute(f"DELETE FROM hs_object WHERE id IN ({marks})", old_ids)

    def _move_associations(self, conn: sqlite3.Connection, object_type: str, old_ids: list[int],
                           new_id: int) -> None:
        """The merged record keeps every association; the primary's (moved last) win on conflicts."""
        mine, theirs = ("contact_id", "company_id") if object_type == "contacts" else ("company_id", "contact_id")
        for old in old_ids:
            conn.execute(f"INSERT OR REPLACE INTO hs_association ({mine}, {theirs}, is_primary)"
                         f" SELECT ?, {theirs}, is_primary FROM hs_association WHERE {mine} = ?", (new_id, old))
            conn.execute(f"DELETE FROM hs_association WHERE {mine} = ?", (old,))

    def _next_id(self, conn: sqlite3.Connection) -> int:
        top = conn.execute("SELECT MAX(id) FROM hs_object").fetchone()[0]
        aliased = conn.execute("SELECT MAX(old_id) FROM hs_alias").fetchone()[0]
        return max(top or 0, aliased or 0, FIRST_ID - 1) + 1


def check_hook_object_type(name: str) -> str:
    object_type = hubspot_object_type(name)
    if object_type is None:
        raise SandboxError(f"unknown HubSpot object type {name!r}; the sandbox holds contacts and companies")
    return object_type


def _unique_key(prop: str, value: str) -> str:
    """Emails match case-insensitively, other unique values exactly."""
    return value.strip().lower() if prop == "email" else value


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _wall_ms() -> int:
    """Search index lag is real time: a write becomes searchable index_lag_ms after it happened."""
    return int(time.time() * 1000)
