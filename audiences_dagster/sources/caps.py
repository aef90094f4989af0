"""Plan caps (PRODUCT.md §2): people + companies a workspace may hold on its plan.

Only new records count against the cap. At the cap an import keeps writing updates and deletes of
records already in the store; the new records past the cap are held back (not written) and the
sync cursor stops before the first batch that held any back, so they are read again once there is
room (a plan upgrade or archived records). Nothing already imported is touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from audiences_dagster.config.models import AudiencesConfig
from audiences_dagster.store.api import Store
from audiences_dagster.store.schema import ENTITIES

# Existing-id lookups near the cap go in chunks well under SQLite's bound-parameter limit.
LOOKUP_CHUNK = 5_000


def records_in_plan(store: Store, conn: sa.Connection) -> int:
    """People + companies counting against the cap: live (not archived) unified records, plus new
    source records still waiting for identity resolution (each its own record until then)."""
    total = 0
    for entity in ENTITIES:
        unified, src = store.tables.unified(entity), store.tables.source(entity)
        pending = store.pending_record_ids(entity).subquery()
        total += conn.execute(sa.select(sa.func.count()).select_from(unified).where(~unified.c.archived)).scalar_one()
        total += conn.execute(
            sa.select(sa.func.count(sa.distinct(src.c.unified_id)))  # pragma: no mutate (equivalent: a record not yet resolved is its own unified id)
            .select_from(pending.join(src, src.c.id == pending.c[0]))
            .where(~sa.exists().where(unified.c.id == src.c.unified_id))
        ).scalar_one()
    return total


def records_at_most(store: Store, conn: sa.Connection) -> int:
    """A bound on records_in_plan from two index lookups instead of two counts: every unified or
    pending record is one of the source records, and source record ids only grow from 1."""
    return sum(store.newest_record_id(conn, entity) for entity in ENTITIES)


@dataclass
class PlanCapGuard:
    """Admits each batch of one import against the plan's record cap."""

    store: Store
    source: str
    entity: str
    cap: int
    in_plan: int
    exact: bool  # in_plan is a count, not just a bound
    held_back: int = 0

    @classmethod
    def start(cls, store: Store, config: AudiencesConfig, name: str) -> "PlanCapGuard":
        """Bounded at the start (counted when the bound is past half the cap); counted again
        before every batch that could cross the cap."""
        cap = config.record_cap
        with store.engine.connect() as conn:
            bound = records_at_most(store, conn)
            if bound * 2 > cap:
                return cls(store, name, config.sources[name].entity, cap, records_in_plan(store, conn), exact=True)
        return cls(store, name, config.sources[name].entity, cap, bound, exact=bound == 0)

    @property
    def reached(self) -> bool:
        return self.held_back > 0

    def admit(self, conn: sa.Connection, rows: pd.DataFrame, keys: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The batch (rows and their identity keys) without the new records past the cap. Far from
        the cap (even if every row were new) it passes untouched and nothing is counted."""
        if self.in_plan + len(rows) <= self.cap:
            return rows, keys
        self.in_plan, self.exact = records_in_plan(self.store, conn), True  # other imports may have added records
        new = ~rows["source_id"].isin(self._existing(conn, rows["source_id"]))
        room = max(self.cap - self.in_plan, 0)
        held = new & (new.cumsum() > room)
        held_ids = set(rows.loc[held, "source_id"])
        self.held_back += len(held_ids)
        return rows[~held], keys[~keys["source_id"].isin(held_ids)]

    def written(self, inserted: int) -> None:
        """New records written by a batch now count against the cap."""
        self.in_plan += inserted

    def _existing(self, conn: sa.Connection, ids: pd.Series) -> set[str]:
        src = self.store.tables.source(self.entity)
        values = ids.dropna().astype(str).tolist()
        found: set[str] = set()
        for start in range(0, len(values), LOOKUP_CHUNK):
            chunk = values[start:start + LOOKUP_CHUNK]
            found.update(conn.execute(sa.select(src.c.source_id).where(
                src.c.source == self.source, src.c.source_id.in_(chunk))).scalars())
        return found

    def as_metadata(self) -> dict:
        counted = "records_in_plan" if self.exact else "records_in_plan_at_most"
        return {"plan_record_cap": self.cap, counted: self.in_plan,
                "held_back_at_cap": self.held_back, "cap_reached": self.reached}

    def reason(self) -> str | None:
        """Why the import stopped adding records, in words a user can act on; None below the cap."""
        if not self.reached:
            return None
        return (f"plan cap reached: the plan allows {self.cap:,} people + companies and the store holds "
                f"{self.in_plan:,}; {self.held_back:,} new record(s) from source '{self.source}' were not "
                f"imported (updates to existing records still were). Upgrade the plan in audiences.yaml "
                f"(plan: enterprise) or archive records; the next import picks the held-back records up.")
