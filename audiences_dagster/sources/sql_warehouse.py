"""SQL warehouses: any SQLAlchemy URL and a SELECT, read with keyset paging so a killed run
resumes where the last committed batch ended.

With an updated-at column the read is incremental by watermark; without one every run is a
full pass and rows missing from it are marked deleted in source.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa

from audiences_dagster.config.models import AudiencesConfig, resolve_sqlite_url
from audiences_dagster.sources.base import (
    PollResult, RawBatch, ReadPlan, SourceError, mapping_fingerprint, require_columns,
)
from audiences_dagster.store.api import utcnow


class SqlSource:
    def __init__(self, name: str, config: AudiencesConfig):
        self.name = name
        self.source = config.sources[name]
        self.batch_size = config.batch_size
        self._config = config
        self._engine: sa.Engine | None = None

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            try:
                url = resolve_sqlite_url(self.source.resolved_url(), self._config.base_dir)
                self._engine = sa.create_engine(url, pool_pre_ping=True)
            except (EnvironmentError, sa.exc.ArgumentError) as exc:
                raise SourceError(f"sources.{self.name}: {exc}") from None
            except ModuleNotFoundError as exc:
                raise SourceError(f"sources.{self.name}: the URL's database driver is not installed ({exc.name})") from None
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def check(self) -> list[str]:
        """Connect and run the query with no rows: unreachable databases and missing columns
        fail here, before anything is written."""
        query = self._query()[0].limit(0)
        try:
            conn = self.engine.connect()
        except sa.exc.DBAPIError as exc:
            url = self.engine.url.render_as_string(hide_password=True)
            raise SourceError(f"sources.{self.name}: cannot reach the warehouse at {url}: {exc.orig}") from None
        try:
            with conn:
                columns = list(conn.execute(query).keys())
        except sa.exc.DBAPIError as exc:  # SQLite raises OperationalError for a bad query too
            raise SourceError(f"sources.{self.name}: the query failed: {exc.orig}") from None
        require_columns(self.name, self.source, columns, "the query")
        return columns

    def plan(self, cursor: dict | None, full: bool = False, pass_open: bool = False) -> tuple[ReadPlan, dict]:
        mapping = mapping_fingerprint(self.source)
        fresh = not cursor or cursor.get("mapping") != mapping
        if self.source.updated_at and not full and not (pass_open and cursor and cursor.get("mode") == "full"):
            if fresh:
                return ReadPlan(full_pass=False, resumed=False, description="first read of the source"), \
                    {"mode": "incremental", "mapping": mapping, "after": None}
            if cursor.get("mode") == "incremental":
                after = cursor["after"][0] if cursor["after"] else "the start"
                return ReadPlan(full_pass=False, resumed=False, description=f"rows updated after {after}"), cursor
        if pass_open and not fresh and cursor.get("mode") == "full" and not full:
            return ReadPlan(full_pass=True, resumed=True,
                            description=f"resuming the full pass after id {cursor['after']!r}"), cursor
        return ReadPlan(full_pass=True, resumed=False, description="full pass over the query"), \
            {"mode": "full", "mapping": mapping, "after": None, "watermark": None}

    def batches(self, cursor: dict) -> Iterator[RawBatch]:
        query = self._paged(cursor)
        uid, updated = self.source.unique_id, self.source.updated_at
        with self.engine.connect().execution_options(stream_results=True, yield_per=self.batch_size) as conn:
            result = conn.execute(query)
            columns = list(result.keys())
            position = 0
            watermark = cursor.get("watermark")
            for rows in result.partitions(self.batch_size):
                # Plain tuples, object dtype (no int -> float for NULLs): given SQLAlchemy Rows, pandas
                # asks each one for attributes it lacks, an exception per row (10x slower).
                frame = pd.DataFrame(list(map(tuple, rows)), columns=columns, dtype=object)
                last = frame.iloc[-1]
                numbers = pd.Series(range(position + 1, position + len(frame) + 1), dtype="int64")
                position += len(frame)
                if cursor["mode"] == "incremental":
                    after = [_jsonable(last[updated]), _jsonable(last[uid])]
                    next_cursor = {**cursor, "after": after}
                else:
                    if updated:
                        top = frame[updated].dropna().max() if frame[updated].notna().any() else None
                        watermark = max(filter(None, [watermark, _jsonable(top)]), default=None, key=_sort_key)
                    next_cursor = {**cursor, "after": _jsonable(last[uid]), "watermark": watermark}
                yield RawBatch(frame=_as_strings(frame), row_numbers=numbers, cursor=next_cursor)

    def closing_cursor(self, cursor: dict) -> dict:
        """After a full pass of a timestamped source, continue incrementally from its watermark."""
        if self.source.updated_at:
            watermark = cursor.get("watermark")
            return {"mode": "incremental", "mapping": cursor["mapping"],
                    "after": [watermark, None] if watermark is not None else None}
        return {**cursor, "after": None}

    def poll(self, state: dict) -> PollResult:
        """With updated_at: one indexed query for the newest row past the (updated_at, id) cursor.
        Without: due when the last full re-query is older than `full_requery_hours`."""
        cursor = state.get("cursor")
        if state.get("pass_open") and cursor and cursor.get("mode") == "full":
            return PollResult(changed=True, detail=f"full pass stopped after id {cursor.get('after')!r}")
        fresh = not cursor or cursor.get("mapping") != mapping_fingerprint(self.source)
        if not self.source.updated_at:
            return self._requery_due(state["last_full_sync_at"] if not fresh else None)
        if not fresh and cursor.get("mode") != "incremental":
            return PollResult(changed=True, detail="a full pass is due before reading incrementally")
        newest = self._newest_past(None if fresh else cursor.get("after"))
        if newest is None:
            return PollResult(changed=False, detail="no row updated past the last import" if not fresh
                              else "the query returns no rows")
        seen = f"newest row {newest[1]!r} updated at {_to_text(newest[0]) if newest[0] is not None else 'no time'}"
        return PollResult(changed=True, detail=f"{seen}, {'never imported' if fresh else 'past the last import'}")

    def count_records(self) -> int:
        """COUNT(*) over the configured query, for `audiences estimate`."""
        _, inner = self._query()
        try:
            with self.engine.connect() as conn:
                return conn.execute(sa.select(sa.func.count()).select_from(inner)).scalar_one()
        except sa.exc.DBAPIError as exc:
            raise SourceError(f"sources.{self.name}: counting the query's rows failed: {exc.orig}") from None

    def _requery_due(self, last_full: datetime | None) -> PollResult:
        """A source without a timestamp is re-read in full every `full_requery_hours`."""
        hours = self.source.full_requery_hours
        if last_full is None:
            return PollResult(changed=True, detail="never read in full with this mapping")
        due = last_full + timedelta(hours=hours)
        if utcnow() >= due:
            return PollResult(changed=True, detail=f"last full re-query at {last_full:%Y-%m-%d %H:%M:%S} UTC, "
                                                   f"older than {hours} h")
        return PollResult(changed=False, detail=f"last full re-query at {last_full:%Y-%m-%d %H:%M:%S} UTC; "
                                                f"the next is due at {due:%Y-%m-%d %H:%M:%S} UTC (every {hours} h)")

    def _newest_past(self, after: list | None) -> tuple | None:
        """(updated_at, id) of the newest row past the cursor, or None: bounded below by the
        watermark so an (updated_at) index serves it however large the table."""
        _, inner = self._query()
        ts, uid = inner.c[self.source.updated_at], inner.c[self.source.unique_id]
        stmt = sa.select(ts, uid).select_from(inner)
        at = _from_json(after[0]) if after else None
        if at is not None:
            last_id = _from_json(after[1])
            newer = ts > at if last_id is None else sa.or_(ts > at, sa.and_(ts == at, uid > last_id))
            stmt = stmt.where(ts >= at, newer).order_by(ts.desc(), uid.desc())
        else:
            if after:  # stopped among the rows without a timestamp, which are read first
                stmt = stmt.where(sa.or_(ts.is_not(None), uid > _from_json(after[1])))
            stmt = stmt.order_by(ts.desc().nulls_last(), uid.desc())
        try:
            with self.engine.connect() as conn:
                row = conn.execute(stmt.limit(1)).first()
        except sa.exc.DBAPIError as exc:
            raise SourceError(f"sources.{self.name}: polling the warehouse failed: {exc.orig}") from None
        return tuple(row) if row is not None else None

    def _query(self) -> tuple[sa.Select, sa.Subquery]:
        columns = [sa.column(self.source.unique_id)]
        if self.source.updated_at:
            columns.append(sa.column(self.source.updated_at))
        inner = sa.text(self.source.query.strip().rstrip(";")).columns(*columns).subquery("q")
        return sa.select(sa.literal_column("*")).select_from(inner), inner

    def _paged(self, cursor: dict) -> sa.Select:
        query, inner = self._query()
        uid = inner.c[self.source.unique_id]
        after = cursor.get("after")
        if cursor["mode"] == "incremental":
            ts = inner.c[self.source.updated_at]
            at = _from_json(after[0]) if after else None
            if at is not None:  # past the rows without a timestamp: a plain (ts, id) index scan
                last_id = _from_json(after[1])
                newer = ts > at if last_id is None else sa.or_(ts > at, sa.and_(ts == at, uid > last_id))
                return query.where(newer).order_by(ts, uid)
            if after:  # stopped among the rows without a timestamp, which come first
                query = query.where(sa.or_(ts.is_not(None), uid > _from_json(after[1])))
            # Rows without a timestamp first on every database (PostgreSQL sorts NULL last).
            return query.order_by(sa.case((ts.is_(None), 0), else_=1), ts, uid)
        if after is not None:
            query = query.where(uid > _from_json(after))
        return query.order_by(uid)


def _as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Warehouse values become strings so every source goes through the same typed mapping."""
    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
            out[column] = values.astype("string")  # text already: no Python call per value
        else:
            out[column] = values.map(_to_text, na_action="ignore").astype("string")
    return out


def _to_text(value) -> str:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def _jsonable(value):
    if value is None or (not isinstance(value, (str, bytes)) and pd.isna(value)):
        return None
    if isinstance(value, (datetime, pd.Timestamp)):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if hasattr(value, "item"):
        return value.item()
    return value


def _from_json(value):
    if isinstance(value, dict):
        if "datetime" in value:
            return datetime.fromisoformat(value["datetime"])
        if "date" in value:
            return date.fromisoformat(value["date"])
        if "decimal" in value:
            return Decimal(value["decimal"])
    return value


def _sort_key(value):
    decoded = _from_json(value)
    return decoded.isoformat() if isinstance(decoded, (datetime, date)) else decoded
