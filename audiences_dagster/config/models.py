"""The audiences.yaml model: what a workspace declares, validated before anything is written."""

from __future__ import annotations

import codecs
import os
import re
from enum import Enum
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from audiences_dagster.config.salesforce import (
    ENV_NAME, MODIFIED_COLUMN, SalesforceConnection, check_salesforce_source,
)
from audiences_dagster.config.segments import SegmentConfig, check_segments, signals_used
from audiences_dagster.config.signals import SignalConfig, check_signals

Entity = Literal["people", "companies"]
FieldType = Literal["text", "email", "url", "phone", "number", "date", "boolean"]
KeyType = Literal["linkedin_url", "email", "domain"]

# Deterministic cross-source keys, highest priority first (PRODUCT.md §4).
ENTITY_KEYS: dict[str, tuple[str, ...]] = {
    "people": ("linkedin_url", "email"),
    "companies": ("linkedin_url", "domain"),
}

# Names the store uses for its own columns; a configured field may not take them.
RESERVED_FIELD_NAMES = frozenset(
    {
        "id", "created_at", "updated_at", "sources", "archived", "deleted_in_source",
        "company_id", "source", "object", "source_id", "tier", "source_updated_at",
        "imported_at", "run_id", "row_hash", "unified_id", "seen_pass",
        "deleted_at", "company_ref", "converted_to",
    }
)
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,50}$")


class Plan(str, Enum):
    growth = "growth"
    enterprise = "enterprise"


PLAN_RECORD_CAP = {Plan.growth: 250_000, Plan.enterprise: 25_000_000}
# How often CRM and warehouse sources are polled for changes (PRODUCT.md §2): daily, or every 15 minutes.
PLAN_REFRESH_SECONDS = {Plan.growth: 24 * 60 * 60, Plan.enterprise: 15 * 60}


class Tier(str, Enum):
    """Survivorship tiers (PRODUCT.md §4); the rank decides which source's value wins."""

    table_upsert = "table_upsert"
    enrichment = "enrichment"
    salesforce = "salesforce"
    hubspot = "hubspot"
    salesforce_lead = "salesforce_lead"
    warehouse = "warehouse"
    csv = "csv"
    prospect_search = "prospect_search"

    @property
    def rank(self) -> int:
        return TIER_RANK[self]


TIER_RANK = {
    Tier.table_upsert: 60,
    Tier.enrichment: 60,
    Tier.salesforce: 50,
    Tier.hubspot: 50,
    Tier.salesforce_lead: 40,
    Tier.warehouse: 30,
    Tier.csv: 20,
    Tier.prospect_search: 10,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldMapping(_Strict):
    """One source column mapped to an audience field with a type."""

    column: str
    type: FieldType = "text"


class CompanyLink(_Strict):
    """How a person row points at its company: a CRM account id, or a company domain column."""

    account_id_column: str | None = None
    account_source: str | None = None
    domain_column: str | None = None

    @model_validator(mode="after")
    def _one_way_at_least(self) -> "CompanyLink":
        if not (self.account_id_column or self.domain_column):
            raise ValueError("set account_id_column (with account_source) or domain_column")
        if self.account_id_column and not self.account_source:
            raise ValueError("account_id_column needs account_source (the companies source it refers to)")
        return self


class LeadConversion(_Strict):
    """Salesforce Lead rows carrying ConvertedContactId merge into that Contact's person."""

    column: str = "ConvertedContactId"
    contact_source: str


# HubSpot objects a source may read, with the audience entity each one holds and its last-modified property.
HUBSPOT_OBJECTS: dict[str, tuple[str, str]] = {
    "contacts": ("people", "lastmodifieddate"),
    "companies": ("companies", "hs_lastmodifieddate"),
}


class HubSpotConnection(_Strict):
    """One HubSpot account, reached with a private-app (or OAuth) token read from the environment."""

    kind: Literal["hubspot"]
    base_url: str = "https://api.hubapi.com"
    base_url_env: str | None = None  # overrides base_url when set, e.g. the local sandbox's dynamic port
    access_token_env: str
    # The account's daily API allowance (Free/Starter private apps: 250,000), for `audiences estimate`.
    daily_request_limit: int = Field(default=250_000, ge=1)

    @field_validator("access_token_env", "base_url_env")
    @classmethod
    def _env_name(cls, name: str | None) -> str | None:
        if name is not None and not ENV_NAME.match(name):
            raise ValueError("must be the name of an environment variable (letters, digits, _) holding the token, "
                             "never the token itself")
        return name

    def api_url(self) -> str:
        """Where the account's API answers: $base_url_env when named (it must then be set), else base_url."""
        if not self.base_url_env:
            return self.base_url
        value = os.environ.get(self.base_url_env)
        if not value:
            raise EnvironmentError(f"environment variable {self.base_url_env} is not set (HubSpot API base URL)")
        return value

    def access_token(self) -> str:
        """The token itself; only ever passed to the client, never logged or stored."""
        value = os.environ.get(self.access_token_env)
        if not value:
            raise EnvironmentError(f"environment variable {self.access_token_env} is not set (HubSpot access token)")
        return value


# Named CRM accounts that sources read through, told apart by `kind`; each CRM adds its model here.
Connection = Annotated[Union[HubSpotConnection, SalesforceConnection], Field(discriminator="kind")]


class SourceConfig(_Strict):
    kind: Literal["csv", "sql", "hubspot", "salesforce"]
    entity: Entity
    unique_id: str
    fields: dict[str, FieldMapping]
    object: str | None = None
    tier: Tier | None = None
    # key type -> audience field holding it; default: the field of the same name when mapped.
    keys: dict[KeyType, str] | None = None
    company: CompanyLink | None = None
    lead_conversion: LeadConversion | None = None
    # csv
    path: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    # sql warehouse
    url: str | None = None
    url_env: str | None = None
    query: str | None = None
    updated_at: str | None = None
    full_requery_hours: int = Field(default=12, ge=1)
    # CRM sources: the name of an entry under `connections`
    connection: str | None = None
    # salesforce: an optional subset of the object, one SOQL condition (no WHERE keyword)
    where: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _hubspot_modified_date(cls, data):
        """A HubSpot source's records carry their last-modified date; it orders values across sources."""
        if isinstance(data, dict) and data.get("kind") == "hubspot" and not data.get("updated_at"):
            modified = HUBSPOT_OBJECTS.get(str(data.get("object")))
            if modified:
                data = {**data, "updated_at": modified[1]}
        return data

    @model_validator(mode="before")
    @classmethod
    def _salesforce_modstamp(cls, data):
        """A Salesforce record's SystemModstamp moves on every change; it orders values across sources."""
        if isinstance(data, dict) and data.get("kind") == "salesforce" and not data.get("updated_at"):
            data = {**data, "updated_at": MODIFIED_COLUMN}
        return data

    @model_validator(mode="after")
    def _kind_settings(self) -> "SourceConfig":
        if self.kind == "csv" and not self.path:
            raise ValueError("a csv source needs 'path'")
        if self.kind == "sql":
            if not self.query:
                raise ValueError("a sql source needs 'query' (a SELECT)")
            if not re.match(r"^\s*(select|with)\b", self.query, re.IGNORECASE):
                raise ValueError("'query' must be a SELECT (or WITH ... SELECT) statement")
            if bool(self.url) == bool(self.url_env):
                raise ValueError("a sql source needs exactly one of 'url' or 'url_env'")
        if self.kind == "csv" and (self.url or self.url_env or self.query):
            raise ValueError("'url', 'url_env' and 'query' belong to sql sources")
        if self.kind == "hubspot":
            _check_hubspot_source(self)
        if self.kind == "salesforce":
            check_salesforce_source(self)
        elif self.where is not None:
            raise ValueError("'where' belongs to salesforce sources")
        if not self.fields:
            raise ValueError("map at least one field")
        return self

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"'{encoding}' is not a known text encoding (e.g. utf-8, latin-1, cp1252)") from None
        return encoding

    @field_validator("fields")
    @classmethod
    def _field_names(cls, fields: dict[str, FieldMapping]) -> dict[str, FieldMapping]:
        for name in fields:
            if not FIELD_NAME.match(name):
                raise ValueError(f"field name '{name}' must be lower_snake_case (letters, digits, _)")
            if name in RESERVED_FIELD_NAMES or name.endswith("__from"):
                raise ValueError(f"field name '{name}' is reserved by the store")
        return fields

    @property
    def effective_tier(self) -> Tier:
        if self.tier is None and self.kind == "salesforce" and self.object == "Lead":
            return Tier.salesforce_lead
        return self.tier or DEFAULT_TIER.get(self.kind, Tier.warehouse)

    def key_fields(self) -> dict[str, str]:
        """Key type -> audience field for this source (the per-source alias)."""
        if self.keys is not None:
            return dict(self.keys)
        return {k: k for k in ENTITY_KEYS[self.entity] if k in self.fields}

    def resolved_url(self) -> str:
        """The warehouse URL; read from the environment when given as url_env (a secret)."""
        if self.url:
            return self.url
        value = os.environ.get(self.url_env or "")
        if not value:
            raise EnvironmentError(f"environment variable {self.url_env} is not set (warehouse URL)")
        return value


DEFAULT_TIER = {"csv": Tier.csv, "hubspot": Tier.hubspot, "salesforce": Tier.salesforce}


def _check_hubspot_source(source: SourceConfig) -> None:
    """A HubSpot source names its connection and object; its unique id is HubSpot's record id."""
    if not source.connection:
        raise ValueError("a hubspot source needs 'connection' (a name under connections)")
    if source.object not in HUBSPOT_OBJECTS:
        raise ValueError(f"a hubspot source needs 'object': one of {', '.join(HUBSPOT_OBJECTS)}")
    entity = HUBSPOT_OBJECTS[source.object][0]
    if source.entity != entity:
        raise ValueError(f"HubSpot {source.object} hold {entity}, not {source.entity}")
    if source.unique_id not in ("id", "hs_object_id"):
        raise ValueError("a hubspot source's unique_id is the record id: 'id' (or 'hs_object_id')")
    if source.path or source.url or source.url_env or source.query:
        raise ValueError("'path', 'url', 'url_env' and 'query' do not apply to hubspot sources")


class StoreConfig(_Strict):
    url: str | None = None
    url_env: str | None = None

    @model_validator(mode="after")
    def _one(self) -> "StoreConfig":
        if bool(self.url) == bool(self.url_env):
            raise ValueError("set exactly one of 'url' or 'url_env'")
        return self


class IdentityConfig(_Strict):
    # Distinct values per key type one unified record may hold (merge protection).
    merge_protection: dict[KeyType, int] = Field(
        default_factory=lambda: {"email": 5, "linkedin_url": 2, "domain": 5}
    )
    extra_placeholders: list[str] = Field(default_factory=list)
    role_mailboxes_are_junk: bool = True
    link_people_by_email_domain: bool = False
    default_phone_region: str = "US"

    @field_validator("merge_protection")
    @classmethod
    def _positive(cls, limits: dict[str, int]) -> dict[str, int]:
        for key, limit in limits.items():
            if limit < 1:
                raise ValueError(f"merge_protection.{key} must be at least 1")
        return limits


Share = Annotated[float, Field(ge=0, le=1)]


class QuarantineCheck(_Strict):
    # An import warns when more than this share of the rows it read were quarantined as malformed.
    max_share: Share = 0.01
    by_source: dict[str, Share] = Field(default_factory=dict)  # per-source overrides

    def limit(self, source: str) -> float:
        return self.by_source.get(source, self.max_share)


class ChecksConfig(_Strict):
    # entity -> field -> minimum share of records with a value (0..1)
    fill_rate: dict[Entity, dict[str, float]] = Field(default_factory=dict)
    # entity -> minimum share of live records holding a cross-source key (email / LinkedIn URL /
    # domain). A keyless record is still a record; a share far below this means lost keys.
    identity_key_coverage: dict[Entity, Share] = Field(default_factory=lambda: {"people": 0.5, "companies": 0.5})
    # Share of held emails, domains and LinkedIn URLs allowed outside their canonical form (blocking).
    max_invalid_share: Share = 0.0
    quarantine: QuarantineCheck = Field(default_factory=QuarantineCheck)

    @field_validator("fill_rate")
    @classmethod
    def _shares(cls, rates: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for entity, fields in rates.items():
            for name, share in fields.items():
                if not 0 <= share <= 1:
                    raise ValueError(f"fill_rate.{entity}.{name} must be between 0 and 1, got {share}")
        return rates


class AudiencesConfig(_Strict):
    plan: Plan = Plan.growth
    store: StoreConfig
    batch_size: int = Field(default=50_000, ge=1, le=1_000_000)
    max_text_length: int = Field(default=2048, ge=16)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    # entity -> field -> tiers, highest first; tiers not listed keep their default order below.
    survivorship: dict[Entity, dict[str, list[Tier]]] = Field(default_factory=dict)
    checks: ChecksConfig = Field(default_factory=ChecksConfig)
    # Named CRM accounts (credentials by environment variable name), referenced by sources.
    connections: dict[str, Connection] = Field(default_factory=dict)
    sources: dict[str, SourceConfig]
    segments: list[SegmentConfig] = Field(default_factory=list)
    signals: list[SignalConfig] = Field(default_factory=list)
    # Where the file was read from; relative paths in it resolve against this folder.
    base_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("sources")
    @classmethod
    def _source_names(cls, sources: dict[str, SourceConfig]) -> dict[str, SourceConfig]:
        if not sources:
            raise ValueError("declare at least one source")
        for name in sources:
            if not FIELD_NAME.match(name):
                raise ValueError(f"source name '{name}' must be lower_snake_case")
        return sources

    @model_validator(mode="after")
    def _cross_checks(self) -> "AudiencesConfig":
        for entity in ("people", "companies"):
            self.fields(entity)  # raises on conflicting types
        for name, source in self.sources.items():
            mapped = set(source.fields)
            for key, field in source.key_fields().items():
                if key not in ENTITY_KEYS[source.entity]:
                    raise ValueError(f"sources.{name}.keys: '{key}' is not a {source.entity} key")
                if field not in mapped:
                    raise ValueError(f"sources.{name}.keys.{key}: field '{field}' is not mapped")
            if source.company:
                if source.entity != "people":
                    raise ValueError(f"sources.{name}.company: only people sources link to companies")
                target = source.company.account_source
                if target and (target not in self.sources or self.sources[target].entity != "companies"):
                    raise ValueError(f"sources.{name}.company.account_source: '{target}' is not a companies source")
            if source.kind in ("hubspot", "salesforce"):
                _check_connection(self.connections, name, source.connection, source.kind)
            if source.lead_conversion:
                target = source.lead_conversion.contact_source
                if target not in self.sources or self.sources[target].entity != "people":
                    raise ValueError(
                        f"sources.{name}.lead_conversion.contact_source: '{target}' is not a people source"
                    )
        for entity, overrides in self.survivorship.items():
            known = self.fields(entity)
            for field in overrides:
                if field not in known:
                    raise ValueError(f"survivorship.{entity}.{field}: not an imported {entity} field")
        for entity, rates in self.checks.fill_rate.items():
            known = self.fields(entity)
            for field in rates:
                if field not in known:
                    raise ValueError(f"checks.fill_rate.{entity}.{field}: not an imported {entity} field")
        for name in self.checks.quarantine.by_source:
            if name not in self.sources:
                raise ValueError(f"checks.quarantine.by_source.{name}: not a declared source")
        check_segments(self.segments, self.fields, lambda e: list(self.sources_for(e)),
                       {s.name: s.entity for s in self.signals})
        check_signals(self.signals, self.fields, {s.name: s.entity for s in self.segments},
                      signals_used(self.segments))
        return self

    def fields(self, entity: str) -> dict[str, str]:
        """Audience field -> type for one entity, the union over its sources."""
        types: dict[str, str] = {}
        owner: dict[str, str] = {}
        for name, source in self.sources.items():
            if source.entity != entity:
                continue
            for field, mapping in source.fields.items():
                if field in types and types[field] != mapping.type:
                    raise ValueError(
                        f"sources.{name}.fields.{field}: type '{mapping.type}' conflicts with "
                        f"'{types[field]}' in sources.{owner[field]}"
                    )
                types.setdefault(field, mapping.type)
                owner.setdefault(field, name)
        return dict(sorted(types.items()))

    def sources_for(self, entity: str) -> dict[str, SourceConfig]:
        return {n: s for n, s in self.sources.items() if s.entity == entity}

    def store_url(self) -> str:
        url = self.store.url or os.environ.get(self.store.url_env or "")
        if not url:
            raise EnvironmentError(f"environment variable {self.store.url_env} is not set (store URL)")
        return resolve_sqlite_url(url, self.base_dir)

    def resolve_path(self, path: str) -> Path:
        candidate = Path(path)
        return candidate if candidate.is_absolute() else (self.base_dir / candidate)

    def tier_rank(self, entity: str, field: str, tier: Tier) -> int:
        """Rank of a tier for one field, honouring per-field survivorship overrides."""
        order = self.survivorship.get(entity, {}).get(field)
        if not order:
            return tier.rank
        if tier in order:
            return 1000 - order.index(tier)
        return tier.rank

    @property
    def record_cap(self) -> int:
        return PLAN_RECORD_CAP[self.plan]

    @property
    def refresh_seconds(self) -> int:
        return PLAN_REFRESH_SECONDS[self.plan]


def _check_connection(connections: dict, source: str, name: str, kind: str) -> None:
    """A CRM source must name a declared connection of its own kind."""
    if name not in connections:
        declared = ", ".join(connections) or "none declared"
        raise ValueError(f"sources.{source}.connection: '{name}' is not a connection under connections ({declared})")
    if connections[name].kind != kind:
        raise ValueError(f"sources.{source}.connection: '{name}' is a {connections[name].kind} connection; "
                         f"a {kind} source needs a {kind} connection")


def resolve_sqlite_url(url: str, base_dir: Path) -> str:
    """Relative SQLite file URLs resolve against the config file's folder, not the cwd."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str((base_dir / url[len(prefix):]).resolve())
    return url
