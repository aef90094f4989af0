"""Salesforce settings in audiences.yaml: a named connection (how to get a token) and what a source may ask.

Secrets never appear here: the connection names the environment variables that hold them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from audiences_dagster.config.models import SourceConfig

# The objects a Salesforce source reads, and the entity each one feeds.
SALESFORCE_OBJECTS: dict[str, str] = {"Contact": "people", "Lead": "people", "Account": "companies"}
# Columns the connector always selects and relies on; a subset may not filter on them.
SYSTEM_COLUMNS = ("Id", "SystemModstamp", "IsDeleted")
MODIFIED_COLUMN = "SystemModstamp"
# A record merged away in Salesforce (soft-deleted) names the survivor here; all three objects carry it.
MASTER_RECORD_COLUMN = "MasterRecordId"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
API_VERSION = re.compile(r"^\d{2,3}\.0$")
FIELD_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")

# What a WHERE clause may contain; anything else (`;`, `:bind`, `[`) is refused.
_SOQL_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<literal>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))?|-?\d+(?:\.\d+)?)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<paren>[()])
  | (?P<comma>,)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
""", re.VERBOSE)
# Words that would turn a condition into more than a condition (another clause, a second statement).
_CLAUSE_WORDS = frozenset({
    "select", "from", "where", "order", "group", "having", "limit", "offset", "for", "update", "view",
    "reference", "with", "typeof", "using", "scope", "rollup", "cube", "security_enforced", "all",
})


class SalesforceConnection(BaseModel):
    """One Salesforce org: its OAuth token endpoint, the flow, and the env vars holding the secrets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["salesforce"]
    # https://login.salesforce.com/services/oauth2/token, test.salesforce.com, or the org's My Domain
    token_url: str | None = None
    token_url_env: str | None = None
    auth: Literal["client_credentials", "jwt_bearer"] = "client_credentials"
    client_id_env: str
    client_secret_env: str | None = None      # client_credentials
    username_env: str | None = None           # jwt_bearer: the integration user
    private_key_path_env: str | None = None   # jwt_bearer: PEM key of the connected app's certificate
    jwt_audience: str = "https://login.salesforce.com"  # https://test.salesforce.com for a Salesforce sandbox org
    ca_bundle_env: str | None = None          # a private CA (e.g. the local sandbox's self-signed certificate)
    api_version: str = "59.0"
    # The org's API requests per rolling 24 hours (Setup > Company Information), for `audiences estimate`.
    daily_request_limit: int = Field(default=100_000, ge=1)

    @field_validator("client_id_env", "client_secret_env", "username_env", "private_key_path_env",
                     "ca_bundle_env", "token_url_env")
    @classmethod
    def _env_name(cls, name: str | None) -> str | None:
        if name is not None and not ENV_NAME.match(name):
            # never echo the value: it may be the secret itself, pasted in the wrong place
            raise ValueError("is not an environment variable name; put the secret in an environment variable "
                             "and write that variable's name here")
        return name

    @field_validator("api_version")
    @classmethod
    def _version(cls, version: str) -> str:
        if not API_VERSION.match(version):
            raise ValueError(f"api_version '{version}' must look like 59.0")
        return version

    @model_validator(mode="after")
    def _flow_settings(self) -> "SalesforceConnection":
        if bool(self.token_url) == bool(self.token_url_env):
            raise ValueError("set exactly one of 'token_url' or 'token_url_env'")
        if self.token_url and not self.token_url.startswith("https://"):
            raise ValueError("token_url must be an https:// URL (Salesforce only speaks TLS)")
        if self.auth == "client_credentials" and not self.client_secret_env:
            raise ValueError("auth client_credentials needs 'client_secret_env'")
        if self.auth == "jwt_bearer" and not (self.username_env and self.private_key_path_env):
            raise ValueError("auth jwt_bearer needs 'username_env' and 'private_key_path_env'")
        return self


def check_salesforce_source(source: SourceConfig) -> None:
    """A Salesforce source reads one known object into its entity, keyed by Id, with a safe subset and
    column names that are plain SOQL field names (they go into the SELECT)."""
    if not source.connection:
        raise ValueError("a salesforce source needs 'connection' (a name under connections:)")
    if source.object not in SALESFORCE_OBJECTS:
        raise ValueError(f"object must be one of {', '.join(SALESFORCE_OBJECTS)}, got {source.object!r}")
    if SALESFORCE_OBJECTS[source.object] != source.entity:
        raise ValueError(f"object {source.object} holds {SALESFORCE_OBJECTS[source.object]}, not {source.entity}")
    if source.unique_id != "Id":
        raise ValueError(f"unique_id of a Salesforce source is Id, got {source.unique_id!r}")
    if source.updated_at != MODIFIED_COLUMN:
        raise ValueError(f"updated_at of a Salesforce source is {MODIFIED_COLUMN}, got {source.updated_at!r}")
    if source.path or source.url or source.url_env or source.query:
        raise ValueError("'path', 'url', 'url_env' and 'query' do not apply to salesforce sources")
    columns = [m.column for m in source.fields.values()]
    if source.company:
        columns += [c for c in (source.company.account_id_column, source.company.domain_column) if c]
    if source.lead_conversion:
        columns.append(source.lead_conversion.column)
    for column in columns:
        if not FIELD_PATH.match(column):
            raise ValueError(f"column {column!r} is not a Salesforce field name (e.g. Email, LinkedIn__c, "
                             "Account.Name)")
    if source.where is not None:
        check_soql_condition(source.where)


def check_soql_condition(where: str) -> None:
    """The subset is one SOQL condition (a WHERE clause without the WHERE): it narrows the records but can never
    hide Id, SystemModstamp or IsDeleted, which drive incrementals and delete detection."""
    tokens = _tokens(where)
    if not tokens:
        raise ValueError("where: is empty; remove it to read every record")
    depth = 0
    for kind, text in tokens:
        word = text.lower()
        if kind == "name" and word in _CLAUSE_WORDS:
            raise ValueError(f"where: '{text}' is not allowed; write only a condition, e.g. LeadSource = 'Web'")
        if kind == "name" and word in {c.lower() for c in SYSTEM_COLUMNS}:
            raise ValueError(f"where: may not filter on {text}; {', '.join(SYSTEM_COLUMNS)} are read by the "
                             "connector itself (incrementals and delete detection)")
        if kind == "paren":
            depth += 1 if text == "(" else -1
            if depth < 0:
                raise ValueError("where: has a ')' without its '('")
    if depth:
        raise ValueError("where: has an unclosed '('")
    if not any(kind == "op" or text.lower() in ("in", "like", "includes", "excludes") for kind, text in tokens):
        raise ValueError("where: is not a condition (no comparison such as =, !=, <, IN or LIKE)")


def _tokens(where: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(where):
        match = _SOQL_TOKEN.match(where, position)
        if match is None:
            shown = where[position:position + 20]
            raise ValueError(f"where: cannot read {shown!r} at character {position + 1}; only a condition "
                             "(fields, comparisons, quoted strings, AND/OR/NOT, parentheses) is allowed")
        if match.lastgroup != "ws":
            tokens.append((match.lastgroup, match.group()))
        position = match.end()
    return tokens
