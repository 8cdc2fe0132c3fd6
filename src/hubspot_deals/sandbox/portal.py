"""One sandbox portal's deals: the seeded ones plus what churn has changed since start.

The seeded state is computed on demand (``data.DealGenerator``, and ``schema.Catalog`` for the
portal's properties); only changes are stored, so a million-deal portal starts at once and stays
small. ``version`` moves with every change, which is what the search cache keys on.

Changes: property overrides per deal (its current values) with the log of each change, what churn
created deals with, the archive times of deals sent to the bin, hard-deleted and merged-away
indices, association overrides per deal (only the types that changed), the ``dealstage`` entries
appended to each deal's history, and a log of (modification time, index) in time order, which lets
a search for "modified since" look only at the deals changed since.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from hubspot_deals.sandbox.catalog import ASSOCIATION_TYPES
from hubspot_deals.sandbox.clock import iso_ms, now_ms
from hubspot_deals.sandbox.data import MODIFIED_TO_MS, DealGenerator, HistoryEntry
from hubspot_deals.sandbox.history import ChangeLog, history_json
from hubspot_deals.sandbox.ids import deal_id, index_at_or_after, index_of
from hubspot_deals.sandbox.schema import Catalog, SchemaChange

#: HubSpot returns these with every object, whatever properties were asked for.
ALWAYS_RETURNED = ("createdate", "hs_lastmodifieddate", "hs_object_id")
MERGED_IDS = "hs_merged_object_ids"
#: Inline associations on list and read replies stop at this many ids per type.
INLINE_ASSOCIATION_LIMIT = 100
ASSOCIATION_KINDS = ("contacts", "companies", "line_items")


class Portal:
    def __init__(self, *, deals: int, seed: int, custom_properties: int = 0) -> None:
        self.gen = DealGenerator(seed, deals)
        self.catalog = Catalog(self.gen, custom_properties)
        self.seeded = deals  # indices below this were seeded; churn creates the ones above
        self.count = deals  # indices 0..count-1 were issued; some may since be hard-deleted
        self.version = 0
        self._overrides: dict[int, dict[str, str | None]] = {}  # current values churn set
        self.log = ChangeLog(self.gen)  # what churn created deals with, each change since
        self._touched_ms: dict[int, int] = {}  # its hs_lastmodifieddate, as a number
        self._archived_at: dict[int, int] = {}
        self._deleted: set[int] = set()  # hard-deleted and merged-away deals
        self._merged_into: dict[int, int] = {}  # merged-away deal -> the one it went into
        self._links: dict[int, dict[str, list[int]]] = {}
        self._stage_log: dict[int, list[HistoryEntry]] = {}  # appended stage entries, oldest first
        # (time, index) of every change of hs_lastmodifieddate, in time order
        self._modified_ms: list[int] = []
        self._modified_index: list[int] = []
        # the portal's clock never runs backwards: no change is dated before the seeded ones or an
        # earlier change (an ``at`` in the future moves it on)
        self.latest_ms = MODIFIED_TO_MS
        self._stamp_cache = (-1, "")

    # -- one deal -------------------------------------------------------------------------------

    def exists(self, index: int) -> bool:
        return 0 <= index < self.count and index not in self._deleted

    @property
    def deleted(self) -> int:
        """Hard deletes (merged-away deals are counted by ``merged``)."""
        return len(self._deleted) - len(self._merged_into)

    @property
    def merged(self) -> int:
        return len(self._merged_into)

    @property
    def held(self) -> int:
        """Deals the portal holds, archived ones included."""
        return self.count - len(self._deleted)

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
        """The property's value now; None for names the portal does not define (or archived)."""
        source = self.catalog.sources.get(name)
        if source is None:
            return None
        changed = self._overrides.get(index)
        if changed is not None and name in changed:
            return changed[name]
        return source(index)

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
        known = self.catalog.sources
        return {name: self.value(index, name) for name in wanted if name in known}

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
        """``propertiesWithHistory[name]``, newest first: the value the deal was created with (if
        it had one), then each change churn made, a cleared value as ``""``. ``dealstage`` has
        its seeded stages besides. A property never set has an empty list rather than no key."""
        if name == "dealstage":
            return [history_json(e) for e in self.stage_history(index)]
        return self.log.history(index, name, self.catalog.sources[name], self.created_ms(index))

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
                if name in self.catalog
            }
        archived_ms = self.archived_ms(index)
        if archived_ms is not None:
            out["archivedAt"] = iso_ms(archived_ms)
        return out

    def truth(self, index: int, history: tuple[str, ...] | None = None) -> dict[str, Any]:
        """Everything about one deal, for black-box tests: every property the portal defines, all
        associations, the ``dealstage`` history as HubSpot returns it (newest first) and, when
        asked, the histories of ``history``."""
        out = self.record(index, self.catalog.names(), history)
        out["associations"] = {
            name: [str(i) for i in self.associations(index, name)] for name in ASSOCIATION_KINDS
        }
        out["stageHistory"] = [history_json(e) for e in self.stage_history(index)]
        return out

    def ground_truth(self, history: tuple[str, ...] | None = None) -> Iterator[dict[str, Any]]:
        """Every deal the portal holds, archived ones included, in id order; deleted and
        merged-away ones are gone."""
        for index in range(self.count):
            if index not in self._deleted:
                yield self.truth(index, history)

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

    # -- changes (churn.py decides them) --------------------------------------------------------

    def now(self) -> int:
        """The portal's clock: never before its latest change."""
        return max(now_ms(), self.latest_ms)

    def stamp(self, ms: int) -> str:
        if self._stamp_cache[0] != ms:
            self._stamp_cache = (ms, iso_ms(ms))
        return self._stamp_cache[1]

    def _modified(self, index: int, when: int) -> None:
        self._touched_ms[index] = when
        self._modified_ms.append(when)
        self._modified_index.append(index)
        self.latest_ms = when
        self.version += 1

    def touch(self, index: int, changes: dict[str, str | None], when: int) -> None:
        """Set properties of a deal at ``when``, and its ``hs_lastmodifieddate`` with them.

        ``changes`` holds only values that differ from the current ones (each is logged as a
        change in the history), and the portal keeps it: callers must not change it after.
        """
        changed = self._overrides.setdefault(index, {})
        changed.update(changes)
        changed["hs_lastmodifieddate"] = self.stamp(when)
        self.log.changed(index, when, changes)
        self._modified(index, when)

    def create(self, when: int) -> int:
        index = self.count
        self.count += 1
        stamp = self.stamp(when)
        self._stage_log[index] = [
            HistoryEntry(self.gen.stage(index).id, when, "CRM_UI", None, self.gen.user_id(index))
        ]
        born: dict[str, str | None] = {
            "createdate": stamp,
            "hs_createdate": stamp,
            "hs_open_deal_create_date": str(when),
            "hs_v2_date_entered_current_stage": stamp,
            "hs_lastmodifieddate": stamp,
        }
        self.log.born[index] = born
        self._overrides[index] = dict(born)
        self._modified(index, when)
        return index

    def enter_stage(self, index: int, entry: HistoryEntry) -> None:
        self._stage_log.setdefault(index, []).append(entry)

    def archive(self, index: int, when: int) -> None:
        self._archived_at[index] = when
        self.touch(index, {}, when)

    def delete(self, index: int) -> None:
        """Gone from every endpoint and the ground truth (a GDPR delete, or a purge of the bin).

        Its property overrides stay, so ``created_ms`` keeps growing with the index.
        """
        self._remove(index)
        self.version += 1

    def _remove(self, index: int) -> None:
        self._deleted.add(index)
        self._links.pop(index, None)
        self._stage_log.pop(index, None)
        self.log.changes.pop(index, None)

    def merge(self, survivor: int, merged: int, when: int) -> None:
        """``merged`` goes into ``survivor``, as a user merging two deals: the survivor keeps its
        id and properties, lists the merged ids (the merged deal's own included), and holds the
        associations of both; the merged-away deal is gone as a deleted one is."""
        ids = [
            *(self.value(survivor, MERGED_IDS) or "").split(";"),
            str(deal_id(merged)),
            *(self.value(merged, MERGED_IDS) or "").split(";"),
        ]
        changes: dict[str, str | None] = {MERGED_IDS: ";".join(dict.fromkeys(i for i in ids if i))}
        links = {kind: self._union(survivor, merged, kind) for kind in ASSOCIATION_KINDS}
        for name, kind in (
            ("num_associated_contacts", "contacts"),
            ("hs_num_of_associated_line_items", "line_items"),
        ):
            if self.value(survivor, name) != str(len(links[kind])):
                changes[name] = str(len(links[kind]))
        self._links[survivor] = links
        self._merged_into[merged] = survivor
        self._remove(merged)
        self.touch(survivor, changes, when)

    def _union(self, survivor: int, merged: int, kind: str) -> list[int]:
        """Both deals' associations of one type: the survivor's first (its primary company
        stays primary), contacts and line items in id order."""
        ids = list(
            dict.fromkeys([*self.associations(survivor, kind), *self.associations(merged, kind)])
        )
        return ids if kind == "companies" else sorted(ids)

    def set_contacts(self, index: int, contacts: list[int]) -> None:
        """A deal's contacts replaced (a relink leaves ``hs_lastmodifieddate`` as it was)."""
        self._links.setdefault(index, {})["contacts"] = sorted(contacts)
        self.version += 1

    def change_schema(self, change: SchemaChange) -> dict[str, list[dict[str, Any]]]:
        """A parsed ``POST /_sandbox/properties`` carried out now; searches see the new schema."""
        answer = self.catalog.apply(change, self.stamp(self.now()))
        self.version += 1
        return answer


def inline_association_key(name: str) -> tuple[str, str] | None:
    """(canonical type, reply key) for an ``associations`` name, or None when HubSpot would ignore it."""
    known = ASSOCIATION_TYPES.get(name.strip().lower())
    return (known[0], known[1]) if known else None
