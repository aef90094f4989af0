"""Turn one raw batch from any source into store rows, identity keys and quarantined input.

Everything here is vectorized over the batch (at most `batch_size` rows), so memory stays bounded
by a batch whatever the size of the source. A well-formed row needs nothing but its unique id: one
with no cross-source key is a record of its own, and only malformed rows are quarantined.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa

from audiences_dagster.config.models import AudiencesConfig, SourceConfig
from audiences_dagster.config.salesforce import MASTER_RECORD_COLUMN
from audiences_dagster.identity import normalize as norm

CONVERSION_KEY = "lead_conversion"
# A CRM merged records into one: every record of such a source holds "<source>:<its id>", and a
# survivor also holds "<source>:<id>" for each id merged into it, so it joins the records those ids
# were imported as, whichever arrives first.
MERGE_KEY = "crm_merge"
# Per connector kind, the column in which a record lists the ids merged into it (Salesforce works the
# other way round: the merged-away record names its survivor; the same two keys link them).
MERGED_IDS_COLUMN = {"hubspot": "hs_merged_object_ids", "salesforce": MASTER_RECORD_COLUMN}
MERGED_IDS_SEPARATOR = ";"
# Links the CRM itself asserts: merge protection never blocks them.
RECORD_LINK_KEYS = (CONVERSION_KEY, MERGE_KEY)


@dataclass
class MappedBatch:
    """Rows ready for source_<entity>, their identity keys, and what was quarantined."""

    rows: pd.DataFrame
    keys: pd.DataFrame
    quarantine: list[dict] = field(default_factory=list)


def required_columns(source: SourceConfig) -> list[str]:
    """Every column the source must provide; checked before anything is written."""
    columns = [source.unique_id] + [m.column for m in source.fields.values()]
    if source.updated_at:
        columns.append(source.updated_at)
    if source.company:
        columns += [c for c in (source.company.account_id_column, source.company.domain_column) if c]
    if source.lead_conversion:
        columns.append(source.lead_conversion.column)
    if source.kind in MERGED_IDS_COLUMN:
        columns.append(MERGED_IDS_COLUMN[source.kind])
    return list(dict.fromkeys(columns))


def map_batch(
    raw: pd.DataFrame,
    row_numbers: pd.Series,
    source_name: str,
    config: AudiencesConfig,
) -> MappedBatch:
    """Validate, type and normalize a batch of raw string rows of one source."""
    source = config.sources[source_name]
    raw = raw.reset_index(drop=True).astype("string")
    row_numbers = row_numbers.reset_index(drop=True)
    issues: list[tuple[pd.Series, str, str | None, pd.Series]] = []  # (mask, reason, column, values)

    for column in raw.columns:
        values = raw[column]
        issues.append((values.str.len().fillna(0) > config.max_text_length,  # pragma: no mutate (a missing value is never too long: the limit is 16 or more)
                       "value_too_long", column, values))
    ids = raw[source.unique_id].str.strip()
    missing_id = ids.isna() | (ids == "")
    issues.append((missing_id, "missing_unique_id", source.unique_id, raw[source.unique_id]))

    out = pd.DataFrame(index=raw.index)  # pragma: no mutate (equivalent: raw's index is 0..n-1 already)
    value_issues: list[tuple[pd.Series, str, str, pd.Series]] = []
    for name, mapping in source.fields.items():
        cleaned = _clean_field(raw[mapping.column], name, mapping.type, source, config)
        out[name] = cleaned.values
        has_problem = cleaned.problems.notna()
        for reason in cleaned.problems[has_problem].unique():
            mask = cleaned.problems == reason
            bucket = issues if reason in norm.ROW_PROBLEMS else value_issues
            bucket.append((mask, reason, mapping.column, raw[mapping.column]))

    bad_row = pd.Series(False, index=raw.index)
    quarantine: list[dict] = []
    for mask, reason, column, values in issues:
        mask = mask & ~bad_row  # one reason per row: the first found
        bad_row |= mask
        quarantine += _quarantine_rows(raw, row_numbers, ids, mask, reason, column, values, "row")

    keep = ~bad_row
    duplicate = ids.where(keep).duplicated(keep="last") & keep  # a quarantined later row never wins
    quarantine += _quarantine_rows(raw, row_numbers, ids, duplicate, "duplicate_unique_id", source.unique_id, ids, "row")
    keep &= ~duplicate
    for mask, reason, column, values in value_issues:
        quarantine += _quarantine_rows(raw, row_numbers, ids, mask & keep, reason, column, values, "value")

    out = out[keep].copy()
    out.insert(0, "source_id", ids[keep])  # pragma: no mutate (columns are loaded by name: their order is for reading)
    out = _system_columns(out, raw[keep], source, config)
    keys = _keys(out, source_name, config, _merged_ids(raw[keep], source))
    return MappedBatch(rows=out.reset_index(drop=True), keys=keys, quarantine=quarantine)


def _merged_ids(raw: pd.DataFrame, source: SourceConfig) -> pd.Series | None:
    """The ids a CRM merged into each row (separator-joined), for sources that report merges."""
    column = MERGED_IDS_COLUMN.get(source.kind)
    return raw[column].str.strip() if column else None


def _clean_field(values: pd.Series, name: str, field_type: str, source: SourceConfig,
                 config: AudiencesConfig) -> norm.Cleaned:
    extra = frozenset(v.lower() for v in config.identity.extra_placeholders)
    key_type = {f: k for k, f in source.key_fields().items()}.get(name)
    if key_type == "linkedin_url":
        return norm.clean_linkedin(values, extra)
    if key_type == "domain":
        return norm.clean_domain(values, extra)
    if field_type == "email":
        return norm.clean_email(values, extra)
    if field_type == "url":
        return norm.clean_url(values, extra)
    if field_type == "phone":
        return norm.clean_phone(values, config.identity.default_phone_region, extra)
    if field_type == "number":
        return norm.parse_number(values, extra)
    if field_type == "date":
        return norm.parse_date(values, extra)
    if field_type == "boolean":
        return norm.parse_boolean(values, extra)
    return norm.clean_text(values, extra)


def _system_columns(out: pd.DataFrame, raw: pd.DataFrame, source: SourceConfig, config: AudiencesConfig) -> pd.DataFrame:
    field_names = list(source.fields)
    out["row_hash"] = _row_hash(out, ["source_id", *field_names])
    out["source_updated_at"] = (
        norm.parse_date(raw[source.updated_at]).values if source.updated_at else pd.NaT
    )
    if source.entity == "people":
        link = source.company
        by_account = bool(link and link.account_id_column)
        out["company_account_id"] = norm.clean_text(raw[link.account_id_column]).values if by_account else pd.NA
        out["company_account_source"] = link.account_source if by_account else None
        domain = (norm.clean_domain(raw[link.domain_column]).values if link and link.domain_column
                  else pd.Series(pd.NA, index=out.index, dtype="string"))  # pragma: no mutate (all missing: typed as text on load)
        email_field = source.key_fields().get("email")
        if config.identity.link_people_by_email_domain and email_field:
            domain = domain.fillna(norm.email_domains(out[email_field]))
        out["company_domain"] = domain
        conversion = source.lead_conversion
        out["converted_to"] = norm.clean_text(raw[conversion.column]).values if conversion else pd.NA
        out["row_hash"] = _row_hash(out, ["row_hash", "company_account_id", "company_domain", "converted_to"])
    out["row_hash"] = _row_hash(out, ["row_hash", "source_updated_at"])
    return out


def _row_hash(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """A content fingerprint, so re-reading an unchanged row writes nothing."""
    values = frame[columns].copy()
    for column in columns:
        if pd.api.types.is_datetime64_any_dtype(values[column]):
            values[column] = _datetime_text(values[column])
    hashed = pd.util.hash_pandas_object(values.astype("string"), index=False).to_numpy()  # pragma: no mutate (index=None is as false)
    # Each 64-bit hash as 16 hex digits, all at once: big-endian bytes, one hex text, and that
    # text taken as it is for the column's characters, cut every 16 (no Python string per row).
    count = len(hashed)
    text = pa.py_buffer(hashed.astype(">u8").tobytes().hex().encode("ascii"))  # pragma: no mutate (hex digits are ASCII whatever the codec is spelled)
    cuts = pa.py_buffer(np.arange(0, 16 * count + 1, 16, dtype=np.int32))  # pragma: no mutate (offsets past count + 1 are never read)
    digits = pa.Array.from_buffers(pa.string(), count, [None, cuts, text])
    return pd.Series(pd.arrays.ArrowStringArray(digits), index=frame.index)


def _datetime_text(moments: pd.Series) -> pd.Series:
    """Each datetime spelled on its own (pandas renders a column by its least round value, so
    one value with milliseconds would change every other row's hash in that batch)."""
    fraction = moments.notna() & (moments.dt.microsecond != 0)
    midnight = moments == moments.dt.normalize()
    whole = moments.notna() & ~fraction & ~midnight
    text = pd.Series(pd.NA, index=moments.index, dtype="string")  # pragma: no mutate (all missing until filled; hashed as text)
    for spelled, form in ((fraction, "%Y-%m-%d %H:%M:%S.%f"), (whole, "%Y-%m-%d %H:%M:%S"), (midnight, "%Y-%m-%d")):
        if spelled.any():  # each value formatted once, in the form it needs
            text[spelled] = moments[spelled].dt.strftime(form)
    return text


def _keys(rows: pd.DataFrame, source_name: str, config: AudiencesConfig,
          merged: pd.Series | None = None) -> pd.DataFrame:
    """Identity keys of the batch's rows: the deterministic keys plus lead-conversion and CRM
    merge links."""
    source = config.sources[source_name]
    frames = []
    for key_type, field_name in source.key_fields().items():
        values = rows[field_name]
        if key_type == "email":
            values = norm.linkable_emails(values, config.identity.role_mailboxes_are_junk)
        frames.append(pd.DataFrame({"source_id": rows["source_id"], "key_type": key_type, "key_value": values}))
    if source.lead_conversion:
        target = source.lead_conversion.contact_source
        frames.append(pd.DataFrame({"source_id": rows["source_id"], "key_type": CONVERSION_KEY,
                                    "key_value": target + ":" + rows["converted_to"].astype("string")}))
    if any(s.lead_conversion and s.lead_conversion.contact_source == source_name for s in config.sources.values()):
        frames.append(pd.DataFrame({"source_id": rows["source_id"], "key_type": CONVERSION_KEY,
                                    "key_value": source_name + ":" + rows["source_id"]}))
    if merged is not None:
        frames.append(_merge_keys(rows["source_id"], merged, source_name))
    if not frames:  # typed like a batch's keys, so a bulk load of none still matches the store's columns
        return pd.DataFrame({column: pd.Series(dtype="string") for column in ("source_id", "key_type", "key_value")})
    keys = pd.concat(frames, ignore_index=True)  # pragma: no mutate (equivalent: the index is reset below)
    return keys[keys["key_value"].notna()].drop_duplicates().reset_index(drop=True)


def _merge_keys(source_ids: pd.Series, merged: pd.Series, source_name: str) -> pd.DataFrame:
    """MERGE_KEY for each row's own id and for every id merged into it."""
    ids = source_ids.reset_index(drop=True).astype("string")
    absorbed = merged.reset_index(drop=True).astype("string").str.split(MERGED_IDS_SEPARATOR)
    pairs = pd.DataFrame({"source_id": ids, "merged": absorbed}).explode("merged")
    pairs["merged"] = pairs["merged"].astype("string").str.strip()
    pairs = pairs[pairs["merged"].notna() & (pairs["merged"] != "")]
    linked = pd.concat([pd.DataFrame({"source_id": ids, "crm_id": ids}),
                        pairs.rename(columns={"merged": "crm_id"})], ignore_index=True)  # pragma: no mutate (equivalent: read by column, the index is dropped)
    return pd.DataFrame({"source_id": linked["source_id"], "key_type": MERGE_KEY,
                         "key_value": source_name + ":" + linked["crm_id"].astype("string")})


def _quarantine_rows(raw: pd.DataFrame, row_numbers: pd.Series, ids: pd.Series, mask: pd.Series,
                     reason: str, column: str | None, values: pd.Series, scope: str) -> list[dict]:
    """Quarantine entries keep the raw row (escaped, so bad bytes survive) and the reason."""
    if not mask.any():
        return []
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    picked = raw[mask]
    raws = picked.to_dict(orient="records")  # pragma: no mutate (pandas reads the orient case-blind)
    return [
        {
            "row_number": int(row_numbers[i]),
            "source_id": None if pd.isna(ids[i]) else str(ids[i]),
            "field": column,
            "scope": scope,
            "reason": reason,
            "detail": _detail(reason, column, values[i]),
            "raw": json.dumps({k: (None if pd.isna(v) else v) for k, v in row.items()}),  # pragma: no mutate (to_dict already gives None for a missing value)
            "quarantined_at": now,
        }
        for i, row in zip(picked.index, raws)
    ]


def _detail(reason: str, column: str | None, value) -> str:
    # Raw values are Arrow strings (undecodable rows were set aside by the reader), so they hold
    # no lone surrogates: the escaping only guards a value handed over from elsewhere, and a
    # missing value is only detailed for the reasons below that do not show it.
    shown = "" if pd.isna(value) else str(value).encode("utf-8", "backslashreplace").decode("utf-8")  # pragma: no mutate
    if len(shown) > 80:
        shown = shown[:77] + "..."
    if reason == "value_too_long":
        return f"column '{column}' holds {len(str(value))} characters"
    if reason == "missing_unique_id":
        return f"unique id column '{column}' is empty"
    return f"column '{column}' value {shown!r}: {reason.replace('_', ' ')}"
