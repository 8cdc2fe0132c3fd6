"""Churn: the changes users make to a portal, as a background mix (``--churn``) or exactly as the
harness asks (``POST /_sandbox/churn``). It decides what changes; the portal stores it."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from hubspot_deals.sandbox.clock import iso_ms
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
        an edited one, one sent to the bin, one hard-deleted, or a contact swapped on one."""
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
        deals picked with the portal's rng: live ones for update, archive and relink (one with a
        contact for relink), live or archived ones for delete. The indices changed, by kind.

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
        return changed | picked

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
        stage properties follow and the stage history gains an entry."""
        pipeline = self.portal.gen.pipeline(index)  # churn never moves a deal to another pipeline
        stage = self._rng.choice(pipeline.stages)
        amount = f"{self._rng.randrange(100, 250_000)}.{self._rng.randrange(100):02d}"
        changes: dict[str, str | None] = {
            "amount": amount,
            "amount_in_home_currency": home_amount(
                amount, self.portal.value(index, "deal_currency_code")
            ),
        }
        if stage.id != self.portal.value(index, "dealstage"):
            changes |= {
                "dealstage": stage.id,
                "hs_deal_stage_probability": stage.probability,
                "hs_is_closed": str(stage.closed).lower(),
                "hs_is_closed_won": str(stage.closed and stage.probability == "1.0").lower(),
                "hs_v2_date_entered_current_stage": self.portal.stamp(when),
            }
            self.portal.enter_stage(
                index, HistoryEntry(stage.id, when, "CRM_UI", None, self.portal.gen.user_id(index))
            )
        self.portal.touch(index, changes, when)

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
