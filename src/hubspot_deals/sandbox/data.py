"""Deterministic deals, each computed from its index and the seed, so a million cost no memory.

Every value is a pure function of ``(seed, index)``: a 64-bit mix (splitmix64) salted per property,
so one property can be computed without the others (search filters a million deals that way).
Creation times grow with the index, which makes the index order the ``createdate`` order and the
``hs_object_id`` order at once, as in a real portal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from decimal import Decimal
from typing import NamedTuple

from hubspot_deals.sandbox.catalog import (
    ACTIVE_OWNERS,
    CURRENCIES,
    OWNERS,
    PIPELINE_WEIGHTS,
    PIPELINES,
    Pipeline,
    Stage,
)
from hubspot_deals.sandbox.clock import iso_date, iso_ms
from hubspot_deals.sandbox.ids import (
    COMPANY_ID_BASE,
    CONTACT_ID_BASE,
    LINE_ITEM_ID_BASE,
    deal_id,
)
from hubspot_deals.sandbox.words import COMPANIES, FX_TO_USD, NOTES, PRODUCTS, SOURCES

_MASK = (1 << 64) - 1
_DAY_MS = 86_400_000


CREATED_FROM_MS = 1_546_300_800_000  # 2019-01-01: the first deal
CREATED_TO_MS = 1_751_328_000_000  # 2025-07-01: the last seeded deal
MODIFIED_TO_MS = 1_759_276_800_000  # 2025-10-01: the latest seeded modification

#: Every HEAVY_EVERY-th deal (offset 3) has hundreds of contacts and line items.
HEAVY_EVERY = 499

_USER_BY_OWNER = {o.id: o.user_id for o in OWNERS}


class HistoryEntry(NamedTuple):
    """One value a property took: HubSpot's ``ValueWithTimestamp``, with the time in epoch ms."""

    value: str
    ms: int
    source_type: str  # CRM_UI, INTEGRATION, IMPORT or API
    source_label: str | None = None  # for sources other than a user
    user_id: int | None = None  # the user who set it, for CRM_UI


def salt_of(name: str) -> int:
    """A property's (or a choice's) 64-bit salt, from its name."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")


def mix(x: int) -> int:
    """splitmix64's finaliser: a cheap, well-spread 64-bit hash."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def home_amount(amount: str | None, currency: str | None) -> str | None:
    """``amount_in_home_currency`` for a USD-based portal."""
    if not amount:
        return amount
    converted = Decimal(amount) * FX_TO_USD.get(currency or "USD", Decimal(1))
    return f"{converted.quantize(Decimal('0.01')):f}"


class DealGenerator:
    """Computes the seeded, never-modified state of deal ``index`` (``0 <= index``)."""

    def __init__(self, seed: int, seeded_deals: int) -> None:
        self.seed_key = mix(seed & _MASK)
        self.seeded_deals = max(seeded_deals, 1)
        self._step = (CREATED_TO_MS - CREATED_FROM_MS) // self.seeded_deals
        self._values: dict[str, Callable[[int], str | None]] = {
            "dealname": self._dealname,
            "amount": self._amount,
            "amount_in_home_currency": self._amount_home,
            "deal_currency_code": self._currency,
            "dealstage": lambda i: self.stage(i).id,
            "pipeline": lambda i: self.pipeline(i).id,
            "closedate": self._closedate,
            "createdate": lambda i: iso_ms(self.created_ms(i)),
            "hs_createdate": lambda i: iso_ms(self.created_ms(i)),
            "hs_lastmodifieddate": lambda i: iso_ms(self.modified_ms(i)),
            "hs_object_id": lambda i: str(deal_id(i)),
            "hubspot_owner_id": self._owner,
            "dealtype": lambda i: self._pick(
                i, "dealtype", (None, "newbusiness", "newbusiness", "existingbusiness")
            ),
            "description": self._description,
            "hs_priority": lambda i: self._pick(i, "hs_priority", (None, "low", "medium", "high")),
            "hs_analytics_source": lambda i: self._pick(
                i,
                "source",
                (
                    "ORGANIC_SEARCH",
                    "PAID_SEARCH",
                    "EMAIL_MARKETING",
                    "SOCIAL_MEDIA",
                    "REFERRALS",
                    "DIRECT_TRAFFIC",
                    "OFFLINE",
                ),
            ),
            "hs_deal_stage_probability": lambda i: self.stage(i).probability,
            "hs_is_closed": lambda i: str(self.stage(i).closed).lower(),
            "hs_is_closed_won": lambda i: str(self._closed_won(self.stage(i))).lower(),
            "hs_v2_date_entered_current_stage": self._entered_stage,
            "hs_open_deal_create_date": lambda i: str(self.created_ms(i)),
            "num_associated_contacts": lambda i: str(len(self.contacts(i))),
            "hs_num_of_associated_line_items": lambda i: str(len(self.line_items(i))),
            "num_contacted_notes": lambda i: self._count_or_none(i, "notes", 12),
            "hs_object_source": lambda i: SOURCES[self._h(i, "src") % 4][0],
            "hs_object_source_label": lambda i: SOURCES[self._h(i, "src") % 4][1],
            "hs_merged_object_ids": lambda i: None,  # seeded deals were never merged
            "contract_tier": lambda i: self._pick(
                i, "tier", (None, None, "bronze", "silver", "gold", "platinum")
            ),
            "renewal_date": self._renewal_date,
            "seats": lambda i: self._count_or_none(i, "seats", 500),
            "is_strategic": lambda i: self._pick(i, "strategic", (None, "true", "false", "false")),
            "region_notes": self._region_notes,
        }
        self._salts = {
            name: salt_of(name)
            for name in (
                "pipeline",
                "stage",
                "amount",
                "currency",
                "name",
                "close",
                "created",
                "modified",
                "owner",
                "archived",
                "contacts",
                "companies",
                "line_items",
                "entered",
                "renewal",
                "notes",
                "desc",
                "region",
                "src",
                "dealtype",
                "hs_priority",
                "source",
                "tier",
                "seats",
                "strategic",
                "history",
                "history_pick",
                "history_time",
            )
        }

    # -- the hash ------------------------------------------------------------------------------

    def hash_of(self, index: int, salt: int) -> int:
        """The deal's 64-bit hash under one salt (``salt_of`` a property's name)."""
        return mix(self.seed_key ^ ((index * 0xD1B54A32D192ED03) & _MASK) ^ salt)

    def _h(self, index: int, salt: str) -> int:
        return self.hash_of(index, self._salts[salt])

    def _pick(self, index: int, salt: str, choices: tuple[str | None, ...]) -> str | None:
        return choices[self._h(index, salt) % len(choices)]

    def _count_or_none(self, index: int, salt: str, top: int) -> str | None:
        h = self._h(index, salt)
        return None if h % 10 == 0 else str((h >> 8) % top + 1)

    # -- structure -----------------------------------------------------------------------------

    def source(self, name: str) -> Callable[[int], str | None]:
        """The seeded values of a HubSpot-defined property (KeyError for any other name)."""
        return self._values[name]

    def pipeline(self, index: int) -> Pipeline:
        r = self._h(index, "pipeline") % 1000
        for pipeline, weight in zip(PIPELINES, PIPELINE_WEIGHTS, strict=True):
            if r < weight:
                return pipeline
            r -= weight
        return PIPELINES[0]

    def stage(self, index: int) -> Stage:
        stages = self.pipeline(index).stages
        return stages[self._h(index, "stage") % len(stages)]

    @staticmethod
    def _closed_won(stage: Stage) -> bool:
        return stage.closed and stage.probability == "1.0"

    def created_ms(self, index: int) -> int:
        """Strictly increasing in the index, spread over the seeded span."""
        base = CREATED_FROM_MS + index * (CREATED_TO_MS - CREATED_FROM_MS) // self.seeded_deals
        return base + self._h(index, "created") % max(self._step, 1)

    def modified_ms(self, index: int) -> int:
        created = self.created_ms(index)
        span = max(MODIFIED_TO_MS - created, 1)
        return created + self._h(index, "modified") % span

    def archived(self, index: int) -> bool:
        """About one deal in fifty sits in the recycle bin from the start."""
        return index < self.seeded_deals and self._h(index, "archived") % 50 == 0

    def archived_ms(self, index: int) -> int:
        return self.modified_ms(index) + self._h(index, "archived") % (30 * _DAY_MS)

    # -- history ---------------------------------------------------------------------------------

    def user_id(self, index: int) -> int:
        """The user who works the deal in the CRM: its owner's, or an active colleague's."""
        owner = self._owner(index)
        if owner is not None:
            return _USER_BY_OWNER[owner]
        return OWNERS[self._h(index, "owner") % ACTIVE_OWNERS].user_id

    def creation_source(self, index: int) -> tuple[str, str | None, int | None]:
        """(sourceType, sourceLabel, user id) of the values a seeded deal was created with."""
        source_type, label = SOURCES[self._h(index, "src") % 4]
        if source_type == "CRM_UI":
            return source_type, None, self.user_id(index)
        return source_type, label, None

    def stage_history(self, index: int) -> list[HistoryEntry]:
        """The seeded deal's ``dealstage`` history, oldest first, ending at its current stage.

        One to four entries: up to three earlier open stages of its pipeline (the first stage,
        where deals start, then others in pipeline order), the first set at ``createdate`` and the
        rest between then and ``hs_v2_date_entered_current_stage``, when the current stage was
        entered. A handful of hashes per deal, so a million deals' histories cost nothing stored.
        """
        stages = self.pipeline(index).stages
        current = self.stage(index)
        earlier_open = [s for s in stages[: stages.index(current)] if not s.closed]
        created = self.created_ms(index)
        entered = self.entered_stage_ms(index)
        span = entered - created
        earlier = min(len(earlier_open), self._h(index, "history") % 4, span)
        picked = [earlier_open[0]] if earlier else []
        if earlier > 1:  # a pseudo-random choice of the others, kept in pipeline order
            rest = list(range(1, len(earlier_open)))
            pick = self._h(index, "history_pick")
            chosen = []
            for _ in range(earlier - 1):
                chosen.append(rest.pop(pick % len(rest)))
                pick >>= 8
            picked += [earlier_open[n] for n in sorted(chosen)]
        mover = self.user_id(index)
        source_type, source_label = SOURCES[self._h(index, "src") % 4]
        user = mover if source_type == "CRM_UI" else None
        label = None if source_type == "CRM_UI" else source_label
        jitter = self._h(index, "history_time")
        out: list[HistoryEntry] = []
        for n, stage in enumerate(picked):
            # slot n of ``earlier`` equal slots of [created, entered); the first at created exactly
            at = created + span * n // earlier
            if n:
                at += (jitter >> (8 * n)) % max(span // earlier // 2, 1)
                out.append(HistoryEntry(stage.id, at, "CRM_UI", None, mover))
            else:
                out.append(HistoryEntry(stage.id, at, source_type, label, user))
        if out:
            out.append(HistoryEntry(current.id, entered, "CRM_UI", None, mover))
        else:
            out.append(HistoryEntry(current.id, entered, source_type, label, user))
        return out

    # -- associations ----------------------------------------------------------------------------

    def heavy(self, index: int) -> bool:
        return index % HEAVY_EVERY == 3

    def contacts(self, index: int) -> list[int]:
        h = self._h(index, "contacts")
        if self.heavy(index):
            count = 300 + h % 600  # past the 500 a v4 batch page holds
        else:
            r = h % 100
            count = (
                0
                if r < 20
                else 1
                if r < 50
                else 2
                if r < 75
                else 3
                if r < 90
                else 4 + (h >> 8) % 3
                if r < 97
                else 7 + (h >> 8) % 9
            )
        start = (h >> 16) % 9_000_000
        return sorted(CONTACT_ID_BASE + (start + j * 7_919) % 9_000_000 for j in range(count))

    def companies(self, index: int) -> list[int]:
        """The first company is the deal's primary company."""
        h = self._h(index, "companies")
        r = h % 100
        count = 0 if r < 15 else 1 if r < 90 else 2
        start = (h >> 16) % 400_000
        return [COMPANY_ID_BASE + (start + j * 104_729) % 400_000 for j in range(count)]

    def line_items(self, index: int) -> list[int]:
        h = self._h(index, "line_items")
        if self.heavy(index):
            count = 120 + h % 500
        else:
            r = h % 100
            count = 0 if r < 40 else 1 + (h >> 8) % 5
        return [LINE_ITEM_ID_BASE + index * 1_000 + j for j in range(count)]

    # -- property values ---------------------------------------------------------------------------

    def _currency(self, index: int) -> str:
        r = self._h(index, "currency") % 100
        return CURRENCIES[0 if r < 70 else 1 if r < 82 else 2 if r < 90 else 3 if r < 95 else 4]

    def _amount(self, index: int) -> str | None:
        h = self._h(index, "amount")
        r = h % 100
        if r < 6:
            return None
        if r < 8:
            return ""  # HubSpot keeps a cleared number as the empty string
        whole = (h >> 8) % 250_000 + 100
        if self._currency(index) == "JPY":
            return str(whole * 100)
        form = (h >> 40) % 3
        return (
            str(whole)
            if form == 0
            else f"{whole}.{(h >> 24) % 100:02d}"
            if form == 1
            else f"{whole}.5"
        )

    def _amount_home(self, index: int) -> str | None:
        return home_amount(self._amount(index), self._currency(index))

    def _dealname(self, index: int) -> str:
        h = self._h(index, "name")
        company = COMPANIES[h % len(COMPANIES)]
        product = PRODUCTS[(h >> 8) % len(PRODUCTS)]
        return f"{company} — {product} #{index + 1}"

    def _closedate(self, index: int) -> str | None:
        h = self._h(index, "close")
        if h % 10 == 0:
            return None
        return iso_ms(self.created_ms(index) + (h >> 8) % (240 * _DAY_MS))

    def _renewal_date(self, index: int) -> str | None:
        h = self._h(index, "renewal")
        if h % 2:
            return None
        return iso_date(self.created_ms(index) + (365 + (h >> 8) % 365) * _DAY_MS)

    def _entered_stage(self, index: int) -> str:
        return iso_ms(self.entered_stage_ms(index))

    def entered_stage_ms(self, index: int) -> int:
        created = self.created_ms(index)
        span = max(self.modified_ms(index) - created, 1)
        return created + self._h(index, "entered") % span

    def _owner(self, index: int) -> str | None:
        h = self._h(index, "owner")
        if h % 100 < 8:
            return None
        return OWNERS[(h >> 8) % len(OWNERS)].id

    def _description(self, index: int) -> str | None:
        h = self._h(index, "desc")
        if h % 2:
            return None
        return f"{PRODUCTS[(h >> 4) % len(PRODUCTS)]} for {COMPANIES[(h >> 12) % len(COMPANIES)]}.\n{NOTES[(h >> 20) % len(NOTES)]}"

    def _region_notes(self, index: int) -> str | None:
        h = self._h(index, "region")
        return None if h % 5 < 3 else NOTES[(h >> 8) % len(NOTES)]
