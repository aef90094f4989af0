"""Salesforce records in the sandbox: ids, field values, and every write that moves SystemModstamp."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping

from audiences_dagster.sandbox.clock import SandboxClock, is_date, parse_datetime, salesforce_datetime, to_ms
from audiences_dagster.sandbox.clock import today_iso
from audiences_dagster.sandbox.database import SandboxDatabase
from audiences_dagster.sandbox.errors import SalesforceApiError, SandboxError
from audiences_dagster.sandbox.schema import (
    ACCOUNT, CONTACT, CONVERTED_LEAD_STATUS, LEAD, OPPORTUNITY, SObject, SObjectField, sobject,
)

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
NULL_MARKER = "#N/A"


def id18(id15: str) -> str:
    """Salesforce's case-safe suffix: one char per 5-char chunk encoding which chars are upper case."""
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, ch in enumerate(id15[start:start + 5]) if "A" <= ch <= "Z")
        suffix += CHECKSUM[bits]
    return id15 + suffix


def _base62(number: int, width: int) -> str:
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = BASE62[rest] + digits
    return digits.rjust(width, "0")


def require_sobject(name: str) -> SObject:
    found = sobject(name)
    if found is None:
        raise SalesforceApiError(404, "NOT_FOUND", f"The requested resource does not exist: sObject type '{name}'")
    return found


def storage_value(obj: SObject, field: SObjectField, value):
    """A JSON or CSV value in the column's storage form; None clears the field."""
    if value is None or value == NULL_MARKER:
        return None
    try:
        if field.type == "datetime":
            return value if isinstance(value, int) and not isinstance(value, bool) else \
                to_ms(parse_datetime(str(value)))
        if field.type == "date":
            if not is_date(str(value)):
                raise ValueError(value)
            return str(value)
        if field.type == "boolean":
            if isinstance(value, bool):
                return int(value)
            if str(value).lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return int(str(value).lower() in ("true", "1"))
        if field.type == "int":
            return int(float(value)) if not isinstance(value, bool) else int(value)
        if field.type == "double":
            return float(value)
    except ValueError:
        raise SalesforceApiError(400, "INVALID_TYPE_ON_FIELD_IN_RECORD",
                                 f"{field.name}: value not of required type: {value}", [field.name]) from None
    return str(value)


def json_value(field: SObjectField, value):
    """A stored value as Salesforce's REST JSON renders it."""
    if value is None:
        return None
    if field.type == "datetime":
        return salesforce_datetime(value)
    if field.type == "boolean":
        return bool(value)
    return value


class SalesforceRecords:
    """Every change to Salesforce data goes through here, so SystemModstamp always moves with it."""

    def __init__(self, db: SandboxDatabase, clock: SandboxClock) -> None:
        self.db = db
        self.clock = clock

    # ------------------------------------------------------------ ids and reads

    def new_ids(self, conn: sqlite3.Connection, key_prefix: str, count: int) -> list[str]:
        """Fresh 18-char ids with a key prefix (001 Account, 003 Contact, 750 bulk job...), counted in the database."""
        row = conn.execute("SELECT next FROM sf_id_counter WHERE key_prefix = ?", (key_prefix,)).fetchone()
        start = row["next"] if row else 1
        conn.execute("INSERT INTO sf_id_counter (key_prefix, next) VALUES (?, ?) ON CONFLICT (key_prefix)"
                     " DO UPDATE SET next = excluded.next", (key_prefix, start + count))
        return [id18(f"{key_prefix}8d{_base62(n, 10)}") for n in range(start, start + count)]

    def get(self, sobject_name: str, record_id: str, include_deleted: bool = True) -> dict | None:
        """The stored row (storage form) or None when it does not exist (or was hard-deleted)."""
        obj = require_sobject(sobject_name)
        record_id = id18(record_id) if len(record_id) == 15 else record_id
        row = self.db.connection().execute(f'SELECT * FROM {obj.table} WHERE "Id" = ?', (record_id,)).fetchone()
        if row is None or (row["IsDeleted"] and not include_deleted):
            return None
        return dict(row)

    def find_by(self, conn: sqlite3.Connection, obj: SObject, field: str, value: str) -> list[str]:
        """Live record ids whose field equals value (external-id lookups)."""
        rows = conn.execute(f'SELECT "Id" FROM {obj.table} WHERE "{field}" = ? AND "IsDeleted" = 0 LIMIT 2',
                            (value,)).fetchall()
        return [r["Id"] for r in rows]

    # ------------------------------------------------------------ writes

    def create(self, sobject_name: str, fields: Mapping[str, object], *, system: bool = False) -> str:
        """Insert one record; system=True lets hooks set read-only fields such as CreatedDate."""
        obj = require_sobject(sobject_name)
        with self.db.write() as conn:
            return self.insert(conn, obj, [fields], system=system)[0]

    def insert(self, conn: sqlite3.Connection, obj: SObject, rows: Iterable[Mapping[str, object]],
               *, system: bool = False) -> list[str]:
        """Validated inserts in one executemany; required fields and field names are checked like the API does."""
        rows = list(rows)
        ids = self.new_ids(conn, obj.key_prefix, len(rows))
        now = self.clock.now_ms()
        columns = [f.name for f in obj.fields]
        values = []
        for record_id, given in zip(ids, rows):
            stored = self._validated(obj, given, system=system, creating=True)
            base = {"Id": record_id, "IsDeleted": 0, "CreatedDate": now, "LastModifiedDate": now,
                    "SystemModstamp": now}
            if obj.name == "Lead":
                base["IsConverted"] = 0
            base.update(stored)
            _compute_name(obj, base)
            values.append([base.get(c) for c in columns])
        quoted = ", ".join(f'"{c}"' for c in columns)
        conn.executemany(f"INSERT INTO {obj.table} ({quoted}) VALUES ({', '.join('?' * len(columns))})", values)
        return ids

    def update(self, sobject_name: str, record_id: str, fields: Mapping[str, object], *,
               system: bool = False) -> None:
        """A user edit: fields change and both LastModifiedDate and SystemModstamp move."""
        obj = require_sobject(sobject_name)
        with self.db.write() as conn:
            self.apply_update(conn, obj, record_id, fields, system=system)

    def apply_update(self, conn: sqlite3.Connection, obj: SObject, record_id: str,
                     fields: Mapping[str, object], *, system: bool = False) -> None:
        current = self._live_row(conn, obj, record_id)
        if obj.name == "Lead" and current["IsConverted"] and not system:
            raise SalesforceApiError(400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        stored = self._validated(obj, fields, system=system, creating=False)
        merged = {**current, **stored}
        _compute_name(obj, merged)
        if obj.name in ("Contact", "Lead"):
            stored["Name"] = merged["Name"]
        now = self.clock.now_ms()
        stored.setdefault("LastModifiedDate", now)
        stored.setdefault("SystemModstamp", now)
        assignments = ", ".join(f'"{k}" = ?' for k in stored)
        conn.execute(f'UPDATE {obj.table} SET {assignments} WHERE "Id" = ?', [*stored.values(), current["Id"]])

    def touch(self, conn: sqlite3.Connection, obj: SObject, record_ids: Iterable[str]) -> None:
        """An automated process changed the records: only SystemModstamp moves."""
        now = self.clock.now_ms()
        conn.executemany(f'UPDATE {obj.table} SET "SystemModstamp" = ? WHERE "Id" = ?',
                         [(now, rid) for rid in record_ids])

    def delete(self, sobject_name: str, record_id: str) -> None:
        """Soft delete: to the Recycle Bin, still visible to queryAll with IsDeleted = true."""
        obj = require_sobject(sobject_name)
        with self.db.write() as conn:
            self.soft_delete(conn, obj, record_id)

    def soft_delete(self, conn: sqlite3.Connection, obj: SObject, record_id: str) -> None:
        current = self._live_row(conn, obj, record_id)
        now = self.clock.now_ms()
        conn.execute(f'UPDATE {obj.table} SET "IsDeleted" = 1, "LastModifiedDate" = ?, "SystemModstamp" = ?'
                     f' WHERE "Id" = ?', (now, now, current["Id"]))

    def undelete(self, sobject_name: str, record_id: str) -> None:
        """Restore from the Recycle Bin; the record is live again with a new SystemModstamp."""
        obj = require_sobject(sobject_name)
        with self.db.write() as conn:
            row = self._row(conn, obj, record_id)
            if not row["IsDeleted"]:
                raise SalesforceApiError(400, "UNDELETE_FAILED", "Entity is not in the recycle bin")
            now = self.clock.now_ms()
            conn.execute(f'UPDATE {obj.table} SET "IsDeleted" = 0, "MasterRecordId" = NULL,'
                         f' "LastModifiedDate" = ?, "SystemModstamp" = ? WHERE "Id" = ?'
                         if obj.mergeable else
                         f'UPDATE {obj.table} SET "IsDeleted" = 0, "LastModifiedDate" = ?, "SystemModstamp" = ?'
                         f' WHERE "Id" = ?', (now, now, row["Id"]))

    def hard_delete(self, sobject_name: str, record_id: str) -> None:
        """Gone for good (hardDelete or a purged Recycle Bin): no query or queryAll sees it again."""
        obj = require_sobject(sobject_name)
        with self.db.write() as conn:
            row = self._row(conn, obj, record_id)
            conn.execute(f'DELETE FROM {obj.table} WHERE "Id" = ?', (row["Id"],))

    def purge_recycle_bin(self, sobject_name: str | None = None) -> int:
        """Empty the Recycle Bin (one object or all); returns how many records were purged."""
        objects = [require_sobject(sobject_name)] if sobject_name else [ACCOUNT, CONTACT, LEAD, OPPORTUNITY]
        purged = 0
        with self.db.write() as conn:
            for obj in objects:
                purged += conn.execute(f'DELETE FROM {obj.table} WHERE "IsDeleted" = 1').rowcount
        return purged

    def merge(self, sobject_name: str, master_id: str, merged_ids: list[str]) -> None:
        """Up to two records merge into the master: losers soft-deleted with MasterRecordId, winner updated."""
        obj = require_sobject(sobject_name)
        if not obj.mergeable:
            raise SalesforceApiError(400, "INVALID_TYPE", f"merge is not supported for {obj.name}")
        if not 1 <= len(merged_ids) <= 2:
            raise SalesforceApiError(400, "INVALID_OPERATION", "A merge request can merge up to 3 records")
        with self.db.write() as conn:
            master = self._live_row(conn, obj, master_id)
            now = self.clock.now_ms()
            for loser_id in merged_ids:
                loser = self._live_row(conn, obj, loser_id)
                conn.execute(f'UPDATE {obj.table} SET "IsDeleted" = 1, "MasterRecordId" = ?, "LastModifiedDate" = ?,'
                             f' "SystemModstamp" = ? WHERE "Id" = ?', (master["Id"], now, now, loser["Id"]))
            conn.execute(f'UPDATE {obj.table} SET "LastModifiedDate" = ?, "SystemModstamp" = ? WHERE "Id" = ?',
                         (now, now, master["Id"]))

    def convert_lead(self, lead_id: str, contact_id: str | None = None, account_id: str | None = None,
                     create_opportunity: bool = False) -> dict[str, str | None]:
        """convertLead(): create or fill the Contact/Account (+ Opportunity), then mark the Lead converted."""
        with self.db.write() as conn:
            lead = self._live_row(conn, LEAD, lead_id)
            if lead["IsConverted"]:
                raise SalesforceApiError(400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
            account_id = self._conversion_account(conn, lead, account_id)
            contact_id = self._conversion_contact(conn, lead, contact_id, account_id)
            opportunity_id = None
            if create_opportunity:
                opportunity_id = self.insert(conn, OPPORTUNITY, [{
                    "Name": f"{lead['Company'] or lead['LastName']}-", "AccountId": account_id,
                    "StageName": "Prospecting", "CloseDate": today_iso(self.clock.now_ms())}])[0]
            self.apply_update(conn, LEAD, lead["Id"], {
                "IsConverted": True, "ConvertedDate": today_iso(self.clock.now_ms()),
                "ConvertedContactId": contact_id, "ConvertedAccountId": account_id,
                "ConvertedOpportunityId": opportunity_id, "Status": CONVERTED_LEAD_STATUS}, system=True)
            now = self.clock.now_ms()
            conn.execute(f'UPDATE {LEAD.table} SET "LastModifiedDate" = ?, "SystemModstamp" = ? WHERE "Id" = ?',
                         (now, now, lead["Id"]))
        return {"leadId": lead["Id"], "contactId": contact_id, "accountId": account_id,
                "opportunityId": opportunity_id}

    def _conversion_account(self, conn: sqlite3.Connection, lead: dict, account_id: str | None) -> str:
        if account_id:
            account = self._live_row(conn, ACCOUNT, account_id)
            self.touch(conn, ACCOUNT, [account["Id"]])
            return account["Id"]
        return self.insert(conn, ACCOUNT, [{"Name": lead["Company"] or lead["LastName"]}])[0]

    def _conversion_contact(self, conn: sqlite3.Connection, lead: dict, contact_id: str | None,
                            account_id: str) -> str:
        """An existing Contact only gets its empty fields filled; a new one copies the Lead."""
        copied = {k: lead[k] for k in ("FirstName", "LastName", "Email", "Title", "Phone", "LinkedIn__c",
                                       "LeadSource")}
        if not contact_id:
            return self.insert(conn, CONTACT, [{**copied, "AccountId": account_id}], system=True)[0]
        contact = self._live_row(conn, CONTACT, contact_id)
        fill = {k: v for k, v in copied.items() if v not in (None, "") and contact[k] in (None, "")}
        if not contact["AccountId"]:
            fill["AccountId"] = account_id
        self.apply_update(conn, CONTACT, contact["Id"], fill, system=True)
        self.touch(conn, CONTACT, [contact["Id"]])
        return contact["Id"]

    # ------------------------------------------------------------ helpers

    def _validated(self, obj: SObject, given: Mapping[str, object], *, system: bool,
                   creating: bool) -> dict[str, object]:
        """Field names resolved case-insensitively; read-only and unknown fields refused like the REST API."""
        stored: dict[str, object] = {}
        for name, value in given.items():
            if name == "attributes":
                continue
            field = obj.field(name)
            if field is None:
                raise SalesforceApiError(400, "INVALID_FIELD",
                                         f"No such column '{name}' on sobject of type {obj.name}", [name])
            if not system and (not field.updateable):
                raise SalesforceApiError(400, "INVALID_FIELD_FOR_INSERT_UPDATE",
                                         f"Unable to create/update fields: {field.name}. Please check the security "
                                         "settings of this field and verify that it is read/write for your profile "
                                         "or permission set.", [field.name])
            stored[field.name] = storage_value(obj, field, value)
        if creating:
            missing = [f.name for f in obj.fields if f.required and stored.get(f.name) in (None, "")]
            if missing:
                raise SalesforceApiError(400, "REQUIRED_FIELD_MISSING",
                                         f"Required fields are missing: [{', '.join(missing)}]", missing)
        return stored

    def _row(self, conn: sqlite3.Connection, obj: SObject, record_id: str) -> dict:
        record_id = id18(record_id) if len(record_id or "") == 15 else record_id
        row = conn.execute(f'SELECT * FROM {obj.table} WHERE "Id" = ?', (record_id,)).fetchone()
        if row is None:
            raise SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return dict(row)

    def _live_row(self, conn: sqlite3.Connection, obj: SObject, record_id: str) -> dict:
        row = self._row(conn, obj, record_id)
        if row["IsDeleted"]:
            raise SalesforceApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
        return row


def _compute_name(obj: SObject, values: dict) -> None:
    """Contact and Lead Name is the compound of FirstName and LastName, as Salesforce derives it."""
    if obj.name in ("Contact", "Lead"):
        parts = [values.get("FirstName"), values.get("LastName")]
        values["Name"] = " ".join(p for p in parts if p) or None


def check_hook_sobject(name: str) -> SObject:
    found = sobject(name)
    if found is None:
        raise SandboxError(f"unknown Salesforce object {name!r}; the sandbox holds Account, Contact, Lead, Opportunity")
    return found
