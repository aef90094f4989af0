"""What the sandbox CRMs hold: Salesforce SObject fields, HubSpot properties, and the SQLite tables behind them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class SObjectField:
    """One Salesforce field as describe() would report it; type drives SOQL literals and JSON rendering."""

    name: str
    type: str  # id, string, datetime, date, boolean, int, double, reference, picklist
    reference_to: str | None = None
    relationship: str | None = None
    updateable: bool = True
    required: bool = False
    external_id: bool = False


@dataclass(frozen=True)
class SObject:
    name: str
    key_prefix: str
    fields: tuple[SObjectField, ...]
    mergeable: bool = True

    @property
    def table(self) -> str:
        return f"sf_{self.name.lower()}"

    @cached_property
    def _fields_by_lower_name(self) -> dict[str, SObjectField]:
        return {f.name.lower(): f for f in self.fields}

    def field(self, name: str) -> SObjectField | None:
        """SOQL field names are case-insensitive; the schema's casing is the one returned."""
        return self._fields_by_lower_name.get(name.lower())

    def relationship(self, name: str) -> SObjectField | None:
        return {f.relationship.lower(): f for f in self.fields if f.relationship}.get(name.lower())


def _system_fields(name: str, mergeable: bool) -> tuple[SObjectField, ...]:
    fields = (
        SObjectField("Id", "id", updateable=False),
        SObjectField("IsDeleted", "boolean", updateable=False),
        SObjectField("CreatedDate", "datetime", updateable=False),
        SObjectField("LastModifiedDate", "datetime", updateable=False),
        SObjectField("SystemModstamp", "datetime", updateable=False),
    )
    if mergeable:
        fields += (SObjectField("MasterRecordId", "reference", name, "MasterRecord", updateable=False),)
    return fields


def _sobject(name: str, prefix: str, fields: tuple[SObjectField, ...], mergeable: bool = True) -> SObject:
    return SObject(name, prefix, _system_fields(name, mergeable) + fields, mergeable)


ACCOUNT = _sobject("Account", "001", (
    SObjectField("Name", "string", required=True),
    SObjectField("Website", "string"),
    SObjectField("LinkedIn_Company__c", "string"),
    SObjectField("NumberOfEmployees", "int"),
    SObjectField("Industry", "picklist"),
    SObjectField("Audiences_Id__c", "string", external_id=True),
))
CONTACT = _sobject("Contact", "003", (
    SObjectField("Name", "string", updateable=False),
    SObjectField("FirstName", "string"),
    SObjectField("LastName", "string", required=True),
    SObjectField("Email", "string"),
    SObjectField("Title", "string"),
    SObjectField("Phone", "string"),
    SObjectField("LinkedIn__c", "string"),
    SObjectField("AccountId", "reference", "Account", "Account"),
    SObjectField("LeadSource", "picklist"),
    SObjectField("Audiences_Id__c", "string", external_id=True),
))
LEAD = _sobject("Lead", "00Q", (
    SObjectField("Name", "string", updateable=False),
    SObjectField("FirstName", "string"),
    SObjectField("LastName", "string", required=True),
    SObjectField("Email", "string"),
    SObjectField("Title", "string"),
    SObjectField("Company", "string", required=True),
    SObjectField("Phone", "string"),
    SObjectField("LinkedIn__c", "string"),
    SObjectField("Status", "picklist"),
    SObjectField("LeadSource", "picklist"),
    SObjectField("IsConverted", "boolean", updateable=False),
    SObjectField("ConvertedDate", "date", updateable=False),
    SObjectField("ConvertedContactId", "reference", "Contact", "ConvertedContact", updateable=False),
    SObjectField("ConvertedAccountId", "reference", "Account", "ConvertedAccount", updateable=False),
    SObjectField("ConvertedOpportunityId", "reference", "Opportunity", "ConvertedOpportunity", updateable=False),
    SObjectField("Audiences_Id__c", "string", external_id=True),
))
OPPORTUNITY = _sobject("Opportunity", "006", (
    SObjectField("Name", "string", required=True),
    SObjectField("AccountId", "reference", "Account", "Account"),
    SObjectField("StageName", "picklist", required=True),
    SObjectField("CloseDate", "date", required=True),
    SObjectField("Amount", "double"),
), mergeable=False)

SOBJECTS: dict[str, SObject] = {o.name.lower(): o for o in (ACCOUNT, CONTACT, LEAD, OPPORTUNITY)}
CONVERTED_LEAD_STATUS = "Closed - Converted"


def sobject(name: str) -> SObject | None:
    return SOBJECTS.get(name.lower())


@dataclass(frozen=True)
class HubSpotProperty:
    name: str
    type: str = "string"  # string, number, datetime, enumeration
    unique: bool = False
    read_only: bool = False
    searchable: bool = False


def _hubspot_properties(*props: HubSpotProperty) -> dict[str, HubSpotProperty]:
    common = (
        HubSpotProperty("hs_object_id", "number", read_only=True),
        HubSpotProperty("createdate", "datetime", read_only=True),
        HubSpotProperty("hs_merged_object_ids", "enumeration", read_only=True),
        HubSpotProperty("audiences_id", unique=True),
    )
    return {p.name: p for p in common + props}


HUBSPOT_PROPERTIES: dict[str, dict[str, HubSpotProperty]] = {
    "contacts": _hubspot_properties(
        HubSpotProperty("lastmodifieddate", "datetime", read_only=True),
        HubSpotProperty("email", unique=True, searchable=True),
        HubSpotProperty("firstname", searchable=True),
        HubSpotProperty("lastname", searchable=True),
        HubSpotProperty("jobtitle"),
        HubSpotProperty("phone", searchable=True),
        HubSpotProperty("company", searchable=True),
        HubSpotProperty("website"),
        HubSpotProperty("hs_linkedin_url"),
        HubSpotProperty("lifecyclestage", "enumeration"),
        HubSpotProperty("associatedcompanyid", "number"),
    ),
    "companies": _hubspot_properties(
        HubSpotProperty("hs_lastmodifieddate", "datetime", read_only=True),
        HubSpotProperty("name", searchable=True),
        HubSpotProperty("domain", searchable=True),
        HubSpotProperty("website", searchable=True),
        HubSpotProperty("industry", "enumeration"),
        HubSpotProperty("numberofemployees", "number"),
        HubSpotProperty("linkedin_company_page"),
        HubSpotProperty("country"),
    ),
}
HUBSPOT_MODIFIED_PROPERTY = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate"}
HUBSPOT_DEFAULT_PROPERTIES = {
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
}
HUBSPOT_OBJECT_NAMES = {"contacts": "CONTACT", "companies": "COMPANY"}
HUBSPOT_OBJECT_TYPE_IDS = {"0-1": "contacts", "0-2": "companies", "contact": "contacts", "company": "companies"}


def hubspot_object_type(name: str) -> str | None:
    """contacts/companies by plural, singular or type id (0-1, 0-2), as HubSpot's paths accept."""
    name = name.lower()
    if name in HUBSPOT_PROPERTIES:
        return name
    return HUBSPOT_OBJECT_TYPE_IDS.get(name)


def _sf_table_ddl(obj: SObject) -> list[str]:
    """Timestamps are epoch ms, booleans 0/1, dates ISO text; seq gives a stable snapshot order."""
    sql_type = {"datetime": "INTEGER", "boolean": "INTEGER", "int": "INTEGER", "double": "REAL"}
    columns = ", ".join(f'"{f.name}" {sql_type.get(f.type, "TEXT")}' for f in obj.fields if f.name != "Id")
    ddl = [
        f'CREATE TABLE IF NOT EXISTS {obj.table} (seq INTEGER PRIMARY KEY, "Id" TEXT NOT NULL UNIQUE, {columns})',
        f'CREATE INDEX IF NOT EXISTS {obj.table}_modstamp ON {obj.table} ("SystemModstamp", "Id")',
        f'CREATE INDEX IF NOT EXISTS {obj.table}_deleted ON {obj.table} ("IsDeleted", "SystemModstamp")',
    ]
    for f in obj.fields:
        if f.external_id:
            ddl.append(f'CREATE INDEX IF NOT EXISTS {obj.table}_{f.name.lower()} ON {obj.table} ("{f.name}")')
        if f.type == "reference" and f.name != "MasterRecordId":
            ddl.append(f'CREATE INDEX IF NOT EXISTS {obj.table}_{f.name.lower()} ON {obj.table} ("{f.name}")')
    return ddl


SANDBOX_DDL: list[str] = [ddl for obj in SOBJECTS.values() for ddl in _sf_table_ddl(obj)] + [
    "CREATE TABLE IF NOT EXISTS sf_id_counter (key_prefix TEXT PRIMARY KEY, next INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sf_cursor (cursor_id TEXT PRIMARY KEY, sobject TEXT NOT NULL, soql TEXT NOT NULL,"
    " include_deleted INTEGER NOT NULL, total INTEGER NOT NULL, created_wall_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sf_cursor_row (cursor_id TEXT NOT NULL, position INTEGER NOT NULL,"
    " record_seq INTEGER NOT NULL, PRIMARY KEY (cursor_id, position)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS sf_bulk_job (id TEXT PRIMARY KEY, kind TEXT NOT NULL, info TEXT NOT NULL,"
    " polls INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS sf_bulk_upload (job_id TEXT NOT NULL, part INTEGER NOT NULL, body BLOB NOT NULL,"
    " PRIMARY KEY (job_id, part))",
    "CREATE TABLE IF NOT EXISTS sf_bulk_result (job_id TEXT NOT NULL, kind TEXT NOT NULL, body BLOB NOT NULL,"
    " PRIMARY KEY (job_id, kind))",
    "CREATE TABLE IF NOT EXISTS hs_object (id INTEGER PRIMARY KEY, object_type TEXT NOT NULL,"
    " properties TEXT NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
    " archived INTEGER NOT NULL DEFAULT 0, archived_ms INTEGER, merged_ids TEXT, indexed_wall_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS hs_object_list ON hs_object (object_type, archived, id)",
    "CREATE INDEX IF NOT EXISTS hs_object_modified ON hs_object (object_type, archived, updated_ms, id)",
    "CREATE INDEX IF NOT EXISTS hs_object_created ON hs_object (object_type, archived, created_ms, id)",
    "CREATE TABLE IF NOT EXISTS hs_unique_value (object_type TEXT NOT NULL, property TEXT NOT NULL,"
    " value TEXT NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (object_type, property, value)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS hs_unique_value_id ON hs_unique_value (id)",
    "CREATE TABLE IF NOT EXISTS hs_alias (object_type TEXT NOT NULL, old_id INTEGER NOT NULL,"
    " new_id INTEGER NOT NULL, PRIMARY KEY (object_type, old_id)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS hs_association (contact_id INTEGER NOT NULL, company_id INTEGER NOT NULL,"
    " is_primary INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (contact_id, company_id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS hs_association_company ON hs_association (company_id, contact_id)",
]
