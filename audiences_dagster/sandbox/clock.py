"""The sandbox clock: every SystemModstamp, lastmodifieddate and token expiry reads it, so tests can move time."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone


class SandboxClock:
    """Follows real time shifted by an offset, or stands still at a set moment (frozen)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        """The sandbox's current moment, UTC, millisecond precision like both CRMs."""
        with self._lock:
            moment = self._frozen or (datetime.now(timezone.utc) + self._offset)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def now_ms(self) -> int:
        return to_ms(self.now())

    def set(self, moment: datetime, frozen: bool = False) -> None:
        """Jump to moment; frozen keeps it there until the next set/advance, otherwise time runs on from it."""
        moment = _aware(moment)
        with self._lock:
            self._frozen = moment if frozen else None
            self._offset = moment - datetime.now(timezone.utc)

    def advance(self, delta: timedelta) -> None:
        """Move time forward (or back) by delta, keeping frozen or running as it was."""
        with self._lock:
            self._offset += delta
            if self._frozen is not None:
                self._frozen += delta


def _aware(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC, as both CRMs store UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds, the sandbox's storage form for every timestamp."""
    return int(round(_aware(moment).timestamp() * 1000))


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


def salesforce_datetime(ms: int) -> str:
    """Salesforce JSON datetime: 2024-05-01T10:00:00.000+0000 (offset without a colon)."""
    moment = from_ms(ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def salesforce_csv_datetime(ms: int) -> str:
    """Bulk 2.0 CSV datetime: 2024-01-01T00:00:00.000Z."""
    moment = from_ms(ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def hubspot_datetime(ms: int) -> str:
    """HubSpot ISO-8601 UTC with milliseconds: 2019-10-30T03:30:17.883Z."""
    return salesforce_csv_datetime(ms)


def parse_datetime(text: str) -> datetime:
    """ISO 8601 with Z, +hh:mm or +hhmm offsets (Salesforce and HubSpot both send all three)."""
    value = text.strip()
    if value.endswith("Z") or value.endswith("z"):
        value = value[:-1] + "+00:00"
    if len(value) > 5 and value[-5] in "+-" and value[-3] != ":" and "T" in value:
        value = value[:-2] + ":" + value[-2:]
    moment = datetime.fromisoformat(value)
    return _aware(moment)


def today_iso(ms: int) -> str:
    return from_ms(ms).date().isoformat()


def is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10
