"""One sandbox portal's deals: the seeded ones plus what churn has changed since start.

The seeded state is computed on demand (``data.DealGenerator``); only changes are stored, so a
million-deal portal starts at once and stays small. ``version`` moves with every change, which is
what the search cache keys on.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hubspot_deals.sandbox.catalog import ASSOCIATION_TYPES, PIPELINES, PROPERTY_BY_NAME
from hubspot_deals.sandbox.clock import iso_ms, now_ms
from hubspot_deals.sandbox.data import (
    DealGenerator,
    deal_id,
    home_amount,
    index_at_or_after,
    index_of,
)

#: HubSpot returns these with every object, whatever properties were asked for.
ALWAYS_RETURNED = ("createdate", "hs_lastmodifieddate", "hs_object_id")

#: Inline associations on list and read replies stop at this many ids per type.
INLINE_ASSOCIATION_LIMIT = 100


@dataclass(frozen=True)
class ChurnEvent:
    kind: str  # "create", "update" or "archive"
    index: int


class Portal:
    def __init__(self, *, deals: int, seed: int) -> None:
        self.gen = DealGenerator(seed, deals)
        self.count = deals  # indices 0..count-1 exist (hard deletes come with a later issue)
        self.version = 0
        self._overrides: dict[int, dict[str, str | None]] = {}
        self._archived_at: dict[int, int] = {}
        self._rng = random.Random(seed ^ 0x5EED)

    # -- one deal -------------------------------------------------------------------------------

    def exists(self, index: int) -> bool:
        return 0 <= index < self.count

    def index_for(self, object_id: str) -> int | None:
        if not object_id.isdigit():
            return None
        index = index_of(int(object_id))
        return index if index is not None and self.exists(index) else None

    def archived(self, index: int) -> bool:
        return index in self._archived_at or self.gen.archived(index)

    def archived_ms(self, index: int) -> int | None:
        if index in self._archived_at:
            return self._archived_at[index]
        return self.gen.archived_ms(index) if self.gen.archived(index) else None

    def value(self, index: int, name: str) -> str | None:
        changed = self._overrides.get(index)
        if changed is not None and name in changed:
            return changed[name]
        return self.gen.value(index, name)

    def created_ms(self, index: int) -> int:
        """Grows with the index for seeded and churned deals alike (search leans on it)."""
        changed = self._overrides.get(index)
        if changed is not None and "hs_open_deal_create_date" in changed:
            return int(changed["hs_open_deal_create_date"] or 0)
        return self.gen.created_ms(index)

    def properties(self, index: int, names: tuple[str, ...]) -> dict[str, str | None]:
        """The asked-for properties plus the three HubSpot always adds; unknown names are left out."""
        wanted = dict.fromkeys((*names, *ALWAYS_RETURNED))
        return {name: self.value(index, name) for name in wanted if name in PROPERTY_BY_NAME}

    def associations(self, index: int, canonical: str) -> list[int]:
        if canonical == "contacts":
            return self.gen.contacts(index)
        if canonical == "companies":
            return self.gen.companies(index)
        return self.gen.line_items(index)

    def association_entries(self, index: int, canonical: str) -> list[tuple[int, str]]:
        """v3 inline entries: (id, type name), with HubSpot's doubled primary company."""
        ids = self.associations(index, canonical)
        if canonical == "contacts":
            return [(i, "deal_to_contact") for i in ids]
        if canonical == "line_items":
            return [(i, "deal_to_line_item") for i in ids]
        entries: list[tuple[int, str]] = []
        for n, company in enumerate(ids):
            if n == 0:
                entries.append((company, "deal_to_company"))
            entries.append((company, "deal_to_company_unlabeled"))
        return entries

    def record(self, index: int, names: tuple[str, ...]) -> dict[str, Any]:
        """A deal as the v3 object endpoints return it (without associations)."""
        out: dict[str, Any] = {
            "id": str(deal_id(index)),
            "properties": self.properties(index, names),
            "createdAt": self.value(index, "createdate"),
            "updatedAt": self.value(index, "hs_lastmodifieddate"),
            "archived": self.archived(index),
        }
        archived_ms = self.archived_ms(index)
        if archived_ms is not None:
            out["archivedAt"] = iso_ms(archived_ms)
        return out

    def truth(self, index: int) -> dict[str, Any]:
        """Everything about one deal, for black-box tests: all properties, all associations."""
        out = self.record(index, self.gen.names())
        out["associations"] = {
            name: [str(i) for i in self.associations(index, name)]
            for name in ("contacts", "companies", "line_items")
        }
        return out

    def ground_truth(self) -> Iterator[dict[str, Any]]:
        """Every deal the portal holds, archived ones included, in id order."""
        for index in range(self.count):
            yield self.truth(index)

    # -- the list endpoint --------------------------------------------------------------------------

    def list_page(
        self, *, after_id: int | None, limit: int, archived: bool
    ) -> tuple[list[int], int | None]:
        """Up to ``limit`` indices from ``after_id`` on, and the id the next page starts at.

        The cursor is the id of the next record, so it stays valid while deals are created.
        """
        index = 0 if after_id is None else index_at_or_after(after_id)
        found: list[int] = []
        while index < self.count:
            if self.archived(index) == archived:
                if len(found) == limit:
                    return found, deal_id(index)
                found.append(index)
            index += 1
        return found, None

    # -- churn ---------------------------------------------------------------------------------------

    def churn(self) -> ChurnEvent:
        """One change as users make them: a new deal, an edited one, or one sent to the bin."""
        roll = self._rng.random()
        if roll < 0.3 or self.count == 0:
            return self._create()
        index = self._live_index()
        if index is None:
            return self._create()
        if roll < 0.8:
            return self._update(index)
        return self._archive(index)

    def _live_index(self) -> int | None:
        for _ in range(20):
            index = self._rng.randrange(self.count)
            if not self.archived(index):
                return index
        return None

    def _touch(self, index: int, changes: dict[str, str | None]) -> None:
        changed = self._overrides.setdefault(index, {})
        changed.update(changes)
        changed["hs_lastmodifieddate"] = iso_ms(now_ms())
        self.version += 1

    def _create(self) -> ChurnEvent:
        index = self.count
        self.count += 1
        created = now_ms()
        stamp = iso_ms(created)
        self._touch(
            index,
            {"createdate": stamp, "hs_createdate": stamp, "hs_open_deal_create_date": str(created)},
        )
        return ChurnEvent("create", index)

    def _update(self, index: int) -> ChurnEvent:
        pipeline = next(p for p in PIPELINES if p.id == self.value(index, "pipeline"))
        stage = self._rng.choice(pipeline.stages)
        amount = f"{self._rng.randrange(100, 250_000)}.{self._rng.randrange(100):02d}"
        self._touch(
            index,
            {
                "dealstage": stage.id,
                "hs_deal_stage_probability": stage.probability,
                "hs_is_closed": str(stage.closed).lower(),
                "hs_is_closed_won": str(stage.closed and stage.probability == "1.0").lower(),
                "hs_v2_date_entered_current_stage": iso_ms(now_ms()),
                "amount": amount,
                "amount_in_home_currency": home_amount(
                    amount, self.value(index, "deal_currency_code")
                ),
            },
        )
        return ChurnEvent("update", index)

    def _archive(self, index: int) -> ChurnEvent:
        self._archived_at[index] = now_ms()
        self._touch(index, {})
        return ChurnEvent("archive", index)


def inline_association_key(name: str) -> tuple[str, str] | None:
    """(canonical type, reply key) for an ``associations`` name, or None when HubSpot would ignore it."""
    known = ASSOCIATION_TYPES.get(name.strip().lower())
    return (known[0], known[1]) if known else None
