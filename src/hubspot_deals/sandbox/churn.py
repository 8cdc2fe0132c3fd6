"""Churn: the changes users make to a portal, as a background mix (``--churn``) or exactly as the
harness asks (``POST /_sandbox/churn``). It decides what changes; the portal stores it."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from hubspot_deals.sandbox.catalog import STAGE_BY_ID, Stage
from hubspot_deals.sandbox.clock import iso_ms
from hubspot_deals.sandbox.custom_properties import typed_value
from hubspot_deals.sandbox.data import HistoryEntry, home_amount
from hubspot_deals.sandbox.ids import CONTACT_ID_BASE
from hubspot_deals.sandbox.portal import Portal

#: What churn can do, and each kind's weight in the background mix (normalised over the kinds on).
CHURN_WEIGHTS: dict[str, float] = {
    "create": 0.3,
    "update": 0.5,
    "archive": 0.2,
    "delete": 0.05,
    "relink": 0.1,
    "merge": 0.05,
}
CHURN_KINDS: tuple[str, ...] = tuple(CHURN_WEIGHTS)
#: Background churn by default: hard deletes, relinks and merges are opted into (tests that compare
#: a scan with the ground truth after churn expect every deal seen before to still be in it).
DEFAULT_CHURN_KINDS: tuple[str, ...] = ("create", "update", "archive")

_CONTACT_ID_SPAN = 9_000_000


@dataclass(frozen=True)
class ChurnEvent:
    kind: str  # one of CHURN_KINDS
    index: int


class ChurnError(ValueError):
    """A churn request the portal cannot carry out as asked (nothing of it was applied)."""


def _flag(value: bool) -> str:
    return str(value).lower()


def _won(stage: Stage) -> bool:
    return stage.closed and stage.probability == "1.0"


def check_churn_kinds(kinds: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [k for k in kinds if k not in CHURN_WEIGHTS]
    if unknown or not kinds:
        raise ValueError(f"churn kinds are one or more of {list(CHURN_KINDS)}, got {list(kinds)}.")
    return tuple(dict.fromkeys(kinds))


class Churner:
    """Draws the changes with its own seeded generator, so a portal's churn replays exactly."""

    def __init__(
        self, portal: Portal, *, seed: int, kinds: tuple[str, ...] = DEFAULT_CHURN_KINDS
    ) -> None:
        self.portal = portal
        self.kinds = check_churn_kinds(kinds)
        self._rng = random.Random(seed ^ 0x5EED)

    def churn(self) -> ChurnEvent:
        """One change as users make them, drawn from ``churn_kinds`` by their weights: a new deal,
        an edited one, one sent to the bin, one hard-deleted, a contact swapped on one, or two
        merged (the event names the survivor)."""
        roll = self._rng.random()
        kinds = self.kinds
        total = sum(CHURN_WEIGHTS[k] for k in kinds)
        kind = kinds[-1]
        for k in kinds:
            roll -= CHURN_WEIGHTS[k] / total
            if roll < 0:
                kind = k
                break
        now = self.portal.now()
        if kind == "create" or self.portal.count == 0:
            return ChurnEvent("create", self.portal.create(now))
        if kind == "delete":
            index = self._random_index(self.portal.exists)
            if index is None:
                return ChurnEvent("create", self.portal.create(now))
            self.portal.delete(index)
            return ChurnEvent("delete", index)
        if kind == "merge":
            survivor = self._random_index(self.portal.live)
            merged = None
            if survivor is not None:
                merged = self._random_index(lambda i: i != survivor and self.portal.live(i))
            if survivor is None or merged is None:
                return ChurnEvent("create", self.portal.create(now))
            self.portal.merge(survivor, merged, now)
            return ChurnEvent("merge", survivor)
        index = self._random_index(self._relinkable if kind == "relink" else self.portal.live)
        if index is None:
            return ChurnEvent("create", self.portal.create(now))
        if kind == "update":
            self._update(index, now)
        elif kind == "archive":
            self.portal.archive(index, now)
        else:
            self._relink(index)
        return ChurnEvent(kind, index)

    def apply(self, counts: dict[str, int], at: int | None = None) -> dict[str, list[int]]:
        """Exactly ``counts[kind]`` changes of each kind now (or at ``at``, epoch ms), on distinct
        deals picked with the portal's rng: live ones for update, archive, relink (one with a
        contact) and merge (two each), live or archived ones for delete. The indices changed, by
        kind; for merges, ``merge`` lists the survivors and ``merged`` the merged-away deals,
        pair by pair.

        Raises ChurnError, having changed nothing, when ``at`` is before the portal's latest change
        or there are not enough deals to pick from.
        """
        if at is not None and at < self.portal.latest_ms:
            raise ChurnError(
                f"at must not be before the portal's latest change ({self.portal.latest_ms}, "
                f"{iso_ms(self.portal.latest_ms)}): the portal's clock never runs backwards."
            )
        when = self.portal.now() if at is None else at
        seen: set[int] = set()
        picked = {
            kind: self._pick(kind, counts.get(kind, 0), ok, seen)
            for kind, ok in (
                ("update", self.portal.live),
                ("relink", self._relinkable),
                ("archive", self.portal.live),
                ("delete", self.portal.exists),
            )
        }
        pairs = self._pick("merge", 2 * counts.get("merge", 0), self.portal.live, seen)
        changed: dict[str, list[int]] = {
            "create": [self.portal.create(when) for _ in range(counts.get("create", 0))]
        }
        for index in picked["update"]:
            self._update(index, when)
        for index in picked["relink"]:
            self._relink(index)
        for index in picked["archive"]:
            self.portal.archive(index, when)
        for index in picked["delete"]:
            self.portal.delete(index)
        for survivor, merged in zip(pairs[::2], pairs[1::2], strict=True):
            self.portal.merge(survivor, merged, when)
        return changed | picked | {"merge": pairs[::2], "merged": pairs[1::2]}

    def _random_index(self, ok: Callable[[int], bool]) -> int | None:
        for _ in range(20):
            index = self._rng.randrange(self.portal.count)
            if ok(index):
                return index
        return None

    def _relinkable(self, index: int) -> bool:
        return self.portal.live(index) and bool(self.portal.associations(index, "contacts"))

    def _pick(self, kind: str, n: int, ok: Callable[[int], bool], seen: set[int]) -> list[int]:
        """``n`` distinct indices not in ``seen`` that pass ``ok``, added to ``seen``.

        Random draws first; when they keep missing (few eligible deals left), one pass over the
        portal lists the eligible rest and draws from those.
        """
        found: list[int] = []
        top = self.portal.count
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

    def _update(self, index: int, when: int) -> None:
        """A new amount and a stage drawn from the deal's pipeline; when the stage differs, the
        stage properties that differ follow and the stage history gains an entry. Besides, one
        to three other writable properties get a new value of their type or are cleared. Only
        values that differ are set: the history records each as a change."""
        portal = self.portal
        pipeline = portal.gen.pipeline(index)  # churn never moves a deal to another pipeline
        stage = self._rng.choice(pipeline.stages)
        amount = f"{self._rng.randrange(100, 250_000)}.{self._rng.randrange(100):02d}"
        changes: dict[str, str | None] = {}
        if amount != portal.value(index, "amount"):
            currency = portal.value(index, "deal_currency_code")
            changes |= {"amount": amount, "amount_in_home_currency": home_amount(amount, currency)}
        old = STAGE_BY_ID[portal.value(index, "dealstage") or stage.id]
        if stage.id != old.id:
            changes["dealstage"] = stage.id
            for name, value, was in (
                ("hs_deal_stage_probability", stage.probability, old.probability),
                ("hs_is_closed", _flag(stage.closed), _flag(old.closed)),
                ("hs_is_closed_won", _flag(_won(stage)), _flag(_won(old))),
                ("hs_v2_date_entered_current_stage", portal.stamp(when), None),
            ):
                if value != was:
                    changes[name] = value
            portal.enter_stage(
                index, HistoryEntry(stage.id, when, "CRM_UI", None, portal.gen.user_id(index))
            )
        changes |= self._other_changes(index)
        portal.touch(index, changes, when)

    def _other_changes(self, index: int) -> dict[str, str | None]:
        """One to three writable properties (custom ones included) set anew: a different value
        of the property's type, or cleared (``""``, as HubSpot keeps a cleared value)."""
        catalog = self.portal.catalog
        names = catalog.writable()
        changes: dict[str, str | None] = {}
        for name in self._rng.sample(names, min(self._rng.randint(1, 3), len(names))):
            spec = catalog.spec(name)
            assert spec is not None
            old = self.portal.value(index, name)
            new = ""
            if not old or self._rng.random() >= 0.2:
                created = self.portal.created_ms(index)
                for _ in range(4):  # a value other than the current one (small option lists)
                    new = typed_value(spec, self._rng.getrandbits(60), created)
                    if new != old:
                        break
            if new != (old or ""):
                changes[name] = new
        return changes

    def _relink(self, index: int) -> None:
        """One contact swapped for another: the count stays, so HubSpot leaves the deal's
        ``hs_lastmodifieddate`` (and every other property) as it was."""
        contacts = list(self.portal.associations(index, "contacts"))
        taken = set(contacts)
        new = CONTACT_ID_BASE + self._rng.randrange(_CONTACT_ID_SPAN)
        while new in taken:
            new = CONTACT_ID_BASE + self._rng.randrange(_CONTACT_ID_SPAN)
        contacts[self._rng.randrange(len(contacts))] = new
        self.portal.set_contacts(index, contacts)
