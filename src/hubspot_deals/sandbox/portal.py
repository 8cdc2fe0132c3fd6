"""One sandbox portal's deals: the seeded ones plus what churn has changed since start.

The seeded state is computed on demand (``data.DealGenerator``); only changes are stored, so a
million-deal portal starts at once and stays small. ``version`` moves with every change, which is
what the search cache keys on.

Changes: property overrides per deal, the archive times of deals sent to the bin, hard-deleted
indices, association overrides per deal (only the types that changed), the ``dealstage`` entries
appended to each deal's history, and a log of (modification time, index) in time order, which lets
a search for "modified since" look only at the deals changed since.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hubspot_deals.sandbox.catalog import ASSOCIATION_TYPES, PROPERTY_BY_NAME
from hubspot_deals.sandbox.clock import iso_ms, now_ms
from hubspot_deals.sandbox.data import (
    CONTACT_ID_BASE,
    MODIFIED_TO_MS,
    DealGenerator,
    HistoryEntry,
    deal_id,
    home_amount,
    index_at_or_after,
    index_of,
)

#: HubSpot returns these with every object, whatever properties were asked for.
ALWAYS_RETURNED = ("createdate", "hs_lastmodifieddate", "hs_object_id")

#: Inline associations on list and read replies stop at this many ids per type.
INLINE_ASSOCIATION_LIMIT = 100

#: What churn can do, and each kind's weight in the background mix (normalised over the kinds on).
CHURN_WEIGHTS: dict[str, float] = {
    "create": 0.3,
    "update": 0.5,
    "archive": 0.2,
    "delete": 0.05,
    "relink": 0.1,
}
CHURN_KINDS: tuple[str, ...] = tuple(CHURN_WEIGHTS)
#: Background churn by default: hard deletes and relinks are opted into (tests that compare a scan
#: with the ground truth after churn expect every deal seen before to still be in it).
DEFAULT_CHURN_KINDS: tuple[str, ...] = ("create", "update", "archive")

_CONTACT_ID_SPAN = 9_000_000


@dataclass(frozen=True)
class ChurnEvent:
    kind: str  # one of CHURN_KINDS
    index: int


class ChurnError(ValueError):
    """A churn request the portal cannot carry out as asked (nothing of it was applied)."""


def history_json(entry: HistoryEntry) -> dict[str, Any]:
    """A history entry as HubSpot's ``ValueWithTimestamp``."""
    out: dict[str, Any] = {
        "value": entry.value,
        "timestamp": iso_ms(entry.ms),
        "sourceType": entry.source_type,
    }
    if entry.user_id is not None:
        out["sourceId"] = f"userId:{entry.user_id}"
        out["updatedByUserId"] = entry.user_id
    if entry.source_label is not None:
        out["sourceLabel"] = entry.source_label
    return out


class Portal:
    def __init__(
        self, *, deals: int, seed: int, churn_kinds: tuple[str, ...] = DEFAULT_CHURN_KINDS
    ) -> None:
        self.gen = DealGenerator(seed, deals)
        self.seeded = deals  # indices below this were seeded; churn creates the ones above
        self.count = deals  # indices 0..count-1 were issued; some may since be hard-deleted
        self.version = 0
        self.churn_kinds = check_churn_kinds(churn_kinds)
        self._overrides: dict[int, dict[str, str | None]] = {}
        self._changed_ms: dict[int, int] = {}  # when churn last set a deal's properties
        self._touched_ms: dict[int, int] = {}  # its hs_lastmodifieddate, as a number
        self._archived_at: dict[int, int] = {}
        self._deleted: set[int] = set()
        self._links: dict[int, dict[str, list[int]]] = {}
        self._stage_log: dict[int, list[HistoryEntry]] = {}  # appended stage entries, oldest first
        # (time, index) of every change of hs_lastmodifieddate, in time order
        self._modified_ms: list[int] = []
        self._modified_index: list[int] = []
        # the portal's clock never runs backwards: no change is dated before the seeded ones or an
        # earlier change (an ``at`` in the future moves it on)
        self.latest_ms = MODIFIED_TO_MS
        self._stamp_cache = (-1, "")
        self._rng = random.Random(seed ^ 0x5EED)

    # -- one deal -------------------------------------------------------------------------------

    def exists(self, index: int) -> bool:
        return 0 <= index < self.count and index not in self._deleted

    @property
    def deleted(self) -> int:
        return len(self._deleted)

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

    def live(self, index: int) -> bool:
        return index not in self._deleted and not self.archived(index)

    def value(self, index: int, name: str) -> str | None:
        changed = self._overrides.get(index)
        if changed is not None and name in changed:
            return changed[name]
        return self.gen.value(index, name)

    def created_ms(self, index: int) -> int:
        """Never decreases with the index, for seeded and churned deals alike (search leans on it).

        Deleted deals keep their overrides, so this stays true across them.
        """
        changed = self._overrides.get(index)
        if changed is not None and "hs_open_deal_create_date" in changed:
            return int(changed["hs_open_deal_create_date"] or 0)
        return self.gen.created_ms(index)

    def modified_ms(self, index: int) -> int:
        """``hs_lastmodifieddate`` in epoch ms."""
        touched = self._touched_ms.get(index)
        return self.gen.modified_ms(index) if touched is None else touched

    def properties(self, index: int, names: tuple[str, ...]) -> dict[str, str | None]:
        """The asked-for properties plus the three HubSpot always adds; unknown names are left out."""
        wanted = dict.fromkeys((*names, *ALWAYS_RETURNED))
        return {name: self.value(index, name) for name in wanted if name in PROPERTY_BY_NAME}

    def associations(self, index: int, canonical: str) -> list[int]:
        """Ids of the deal's associated objects of one type (callers must not change the list)."""
        changed = self._links.get(index)
        if changed is not None and canonical in changed:
            return changed[canonical]
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

    # -- history --------------------------------------------------------------------------------

    def stage_history(self, index: int) -> list[HistoryEntry]:
        """Every stage the deal has been in, newest first: the newest is its ``dealstage``, set at
        its ``hs_v2_date_entered_current_stage``."""
        seeded = self.gen.stage_history(index) if index < self.seeded else []
        return [*seeded, *self._stage_log.get(index, ())][::-1]

    def property_history(self, index: int, name: str) -> list[dict[str, Any]]:
        """``propertiesWithHistory[name]``: the full history of ``dealstage``; for the other
        properties only the current value (the sandbox keeps no older ones).

        A property without a value has an empty history (``[]``) rather than being left out, so a
        client sees every name it asked for; the empty string is a value (a cleared number).
        """
        if name == "dealstage":
            return [history_json(e) for e in self.stage_history(index)]
        value = self.value(index, name)
        if value is None:
            return []
        changed = self._overrides.get(index)
        if name == "hs_lastmodifieddate":
            ms = self.modified_ms(index)
        elif changed is not None and name in changed:
            ms = self._changed_ms.get(index, self.created_ms(index))
        else:
            ms = self.created_ms(index)
        if changed is not None and name in changed:
            entry = HistoryEntry(value, ms, "CRM_UI", None, self.gen.user_id(index))
        elif index < self.seeded:
            entry = HistoryEntry(value, ms, *self.gen.creation_source(index))
        else:  # created by churn, through the UI
            entry = HistoryEntry(value, ms, "CRM_UI", None, self.gen.user_id(index))
        return [history_json(entry)]

    # -- records --------------------------------------------------------------------------------

    def record(
        self, index: int, names: tuple[str, ...], history: tuple[str, ...] | None = None
    ) -> dict[str, Any]:
        """A deal as the v3 object endpoints return it (without associations).

        ``history``: the ``propertiesWithHistory`` asked for (unknown names are ignored); None
        leaves the key out, as HubSpot does when none were asked for.
        """
        out: dict[str, Any] = {
            "id": str(deal_id(index)),
            "properties": self.properties(index, names),
            "createdAt": self.value(index, "createdate"),
            "updatedAt": self.value(index, "hs_lastmodifieddate"),
            "archived": self.archived(index),
        }
        if history is not None:
            out["propertiesWithHistory"] = {
                name: self.property_history(index, name)
                for name in dict.fromkeys(history)
                if name in PROPERTY_BY_NAME
            }
        archived_ms = self.archived_ms(index)
        if archived_ms is not None:
            out["archivedAt"] = iso_ms(archived_ms)
        return out

    def truth(self, index: int) -> dict[str, Any]:
        """Everything about one deal, for black-box tests: all properties, all associations and
        the ``dealstage`` history as HubSpot returns it (newest first)."""
        out = self.record(index, self.gen.names())
        out["associations"] = {
            name: [str(i) for i in self.associations(index, name)]
            for name in ("contacts", "companies", "line_items")
        }
        out["stageHistory"] = [history_json(e) for e in self.stage_history(index)]
        return out

    def ground_truth(self) -> Iterator[dict[str, Any]]:
        """Every deal the portal holds, archived ones included, in id order; deleted ones are gone."""
        for index in range(self.count):
            if index not in self._deleted:
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
        deleted = self._deleted
        while index < self.count:
            if index not in deleted and self.archived(index) == archived:
                if len(found) == limit:
                    return found, deal_id(index)
                found.append(index)
            index += 1
        return found, None

    # -- search support ----------------------------------------------------------------------------

    def modified_since(self, ms: float) -> set[int]:
        """Every deal whose ``hs_lastmodifieddate`` is at least ``ms``, when ``ms >= MODIFIED_TO_MS``
        (no seeded modification is that late, so only deals changed since start can be), plus
        deals changed earlier and since deleted: a superset for the caller to filter."""
        if ms < MODIFIED_TO_MS:
            raise ValueError("only changes made since start are logged")
        start = bisect_left(self._modified_ms, ms)
        return set(self._modified_index[start:])

    # -- churn ---------------------------------------------------------------------------------------

    def _now(self) -> int:
        return max(now_ms(), self.latest_ms)

    def _stamp(self, ms: int) -> str:
        if self._stamp_cache[0] != ms:
            self._stamp_cache = (ms, iso_ms(ms))
        return self._stamp_cache[1]

    def churn(self) -> ChurnEvent:
        """One change as users make them, drawn from ``churn_kinds`` by their weights: a new deal,
        an edited one, one sent to the bin, one hard-deleted, or a contact swapped on one."""
        roll = self._rng.random()
        kinds = self.churn_kinds
        total = sum(CHURN_WEIGHTS[k] for k in kinds)
        kind = kinds[-1]
        for k in kinds:
            roll -= CHURN_WEIGHTS[k] / total
            if roll < 0:
                kind = k
                break
        now = self._now()
        if kind == "create" or self.count == 0:
            return ChurnEvent("create", self._create(now))
        if kind == "delete":
            index = self._random_index(self.exists)
            if index is None:
                return ChurnEvent("create", self._create(now))
            self._delete(index)
            return ChurnEvent("delete", index)
        index = self._random_index(self._relinkable if kind == "relink" else self.live)
        if index is None:
            return ChurnEvent("create", self._create(now))
        if kind == "update":
            self._update(index, now)
        elif kind == "archive":
            self._archive(index, now)
        else:
            self._relink(index)
        return ChurnEvent(kind, index)

    def apply(self, counts: dict[str, int], at: int | None = None) -> dict[str, list[int]]:
        """Exactly ``counts[kind]`` changes of each kind now (or at ``at``, epoch ms), on distinct
        deals picked with the portal's rng: live ones for update, archive and relink (one with a
        contact for relink), live or archived ones for delete. The indices changed, by kind.

        Raises ChurnError, having changed nothing, when ``at`` is before the portal's latest change
        or there are not enough deals to pick from.
        """
        if at is not None and at < self.latest_ms:
            raise ChurnError(
                f"at must not be before the portal's latest change ({self.latest_ms}, "
                f"{iso_ms(self.latest_ms)}): the portal's clock never runs backwards."
            )
        when = self._now() if at is None else at
        seen: set[int] = set()
        picked = {
            kind: self._pick(kind, counts.get(kind, 0), ok, seen)
            for kind, ok in (
                ("update", self.live),
                ("relink", self._relinkable),
                ("archive", self.live),
                ("delete", self.exists),
            )
        }
        changed: dict[str, list[int]] = {
            "create": [self._create(when) for _ in range(counts.get("create", 0))]
        }
        for index in picked["update"]:
            self._update(index, when)
        for index in picked["relink"]:
            self._relink(index)
        for index in picked["archive"]:
            self._archive(index, when)
        for index in picked["delete"]:
            self._delete(index)
        return changed | picked

    def _random_index(self, ok: Callable[[int], bool]) -> int | None:
        for _ in range(20):
            index = self._rng.randrange(self.count)
            if ok(index):
                return index
        return None

    def _relinkable(self, index: int) -> bool:
        return self.live(index) and bool(self.associations(index, "contacts"))

    def _pick(self, kind: str, n: int, ok: Callable[[int], bool], seen: set[int]) -> list[int]:
        """``n`` distinct indices not in ``seen`` that pass ``ok``, added to ``seen``.

        Random draws first; when they keep missing (few eligible deals left), one pass over the
        portal lists the eligible rest and draws from those.
        """
        found: list[int] = []
        top = self.count
        attempts = 4 * n + 64
        while len(found) < n and attempts and top:
            attempts -= 1
            index = self._rng.randrange(top)
            if index not in seen and ok(index):
                seen.add(index)
                found.append(index)
        if len(found) < n:
            rest = [i for i in range(top) if i not in seen and ok(i)]
            if len(rest) < n - len(found):
                raise ChurnError(
                    f"{kind}: only {len(found) + len(rest)} deals can be picked, {n} asked."
                )
            more = self._rng.sample(rest, n - len(found))
            seen.update(more)
            found += more
        return found

    def _touch(self, index: int, changes: dict[str, str | None], when: int) -> None:
        changed = self._overrides.setdefault(index, {})
        if changes:
            changed.update(changes)
            self._changed_ms[index] = when
        changed["hs_lastmodifieddate"] = self._stamp(when)
        self._touched_ms[index] = when
        self._modified_ms.append(when)
        self._modified_index.append(index)
        self.latest_ms = when
        self.version += 1

    def _create(self, when: int) -> int:
        index = self.count
        self.count += 1
        stamp = self._stamp(when)
        self._stage_log[index] = [
            HistoryEntry(self.gen.stage(index).id, when, "CRM_UI", None, self.gen.user_id(index))
        ]
        self._touch(
            index,
            {
                "createdate": stamp,
                "hs_createdate": stamp,
                "hs_open_deal_create_date": str(when),
                "hs_v2_date_entered_current_stage": stamp,
            },
            when,
        )
        return index

    def _update(self, index: int, when: int) -> None:
        """A new amount and a stage drawn from the deal's pipeline; when the stage differs, the
        stage properties follow and the stage history gains an entry."""
        pipeline = self.gen.pipeline(index)  # churn never moves a deal to another pipeline
        stage = self._rng.choice(pipeline.stages)
        amount = f"{self._rng.randrange(100, 250_000)}.{self._rng.randrange(100):02d}"
        changes: dict[str, str | None] = {
            "amount": amount,
            "amount_in_home_currency": home_amount(amount, self.value(index, "deal_currency_code")),
        }
        if stage.id != self.value(index, "dealstage"):
            changes |= {
                "dealstage": stage.id,
                "hs_deal_stage_probability": stage.probability,
                "hs_is_closed": str(stage.closed).lower(),
                "hs_is_closed_won": str(stage.closed and stage.probability == "1.0").lower(),
                "hs_v2_date_entered_current_stage": self._stamp(when),
            }
            self._stage_log.setdefault(index, []).append(
                HistoryEntry(stage.id, when, "CRM_UI", None, self.gen.user_id(index))
            )
        self._touch(index, changes, when)

    def _archive(self, index: int, when: int) -> None:
        self._archived_at[index] = when
        self._touch(index, {}, when)

    def _delete(self, index: int) -> None:
        """Gone from every endpoint and the ground truth (a GDPR delete, or a purge of the bin).

        Its property overrides stay, so ``created_ms`` keeps growing with the index.
        """
        self._deleted.add(index)
        self._links.pop(index, None)
        self._stage_log.pop(index, None)
        self.version += 1

    def _relink(self, index: int) -> None:
        """One contact swapped for another: the count stays, so HubSpot leaves the deal's
        ``hs_lastmodifieddate`` (and every other property) as it was."""
        contacts = list(self.associations(index, "contacts"))
        taken = set(contacts)
        new = CONTACT_ID_BASE + self._rng.randrange(_CONTACT_ID_SPAN)
        while new in taken:
            new = CONTACT_ID_BASE + self._rng.randrange(_CONTACT_ID_SPAN)
        contacts[self._rng.randrange(len(contacts))] = new
        self._links.setdefault(index, {})["contacts"] = sorted(contacts)
        self.version += 1


def check_churn_kinds(kinds: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [k for k in kinds if k not in CHURN_WEIGHTS]
    if unknown or not kinds:
        raise ValueError(f"churn kinds are one or more of {list(CHURN_KINDS)}, got {list(kinds)}.")
    return tuple(dict.fromkeys(kinds))


def inline_association_key(name: str) -> tuple[str, str] | None:
    """(canonical type, reply key) for an ``associations`` name, or None when HubSpot would ignore it."""
    known = ASSOCIATION_TYPES.get(name.strip().lower())
    return (known[0], known[1]) if known else None
