"""Deals to rows: what a group of deals needs besides their properties, read at once.

Associations come from the v4 batch endpoint (1,000 deals a call, one call per type), stage history
and the history of the properties asked for from ``propertiesWithHistory`` (50 deals a call,
HubSpot's maximum with history). Deals that came with their history (list pages asked for it) are
not read again. Full and incremental runs build
their rows here, so a deal becomes the same row whichever way it was read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import structlog

from hubspot_deals.engine.rows import (
    Lookups,
    association_entries,
    build_row,
    history_entries,
    stage_spans,
)
from hubspot_deals.engine.spec import ScanSpec
from hubspot_deals.engine.values import ValueTypes
from hubspot_deals.hubspot import (
    Deal,
    HistoryEntry,
    HubSpotClient,
    HubSpotMissingScopesError,
)

log = structlog.get_logger(__name__)

STAGE = "dealstage"


@dataclass(frozen=True)
class Built:
    rows: list[dict[str, Any]]
    failed: int  # deals whose values could not be read into a row
    untyped: int = 0  # property values that do not fit their declared type


@dataclass(frozen=True)
class RowBuilder:
    client: HubSpotClient
    lookups: Lookups
    spec: ScanSpec  # resolved: its properties are the run's
    types: ValueTypes  # the run's property definitions: what values must look like

    # what the spec says, taken once: these are read per deal (a thousand names at "all")

    @cached_property
    def requested(self) -> list[str]:
        return list(self.spec.properties)

    @cached_property
    def kinds(self) -> list[str]:
        """The association types read."""
        return list(self.spec.association_types)

    @cached_property
    def stage_history(self) -> bool:
        return self.spec.stage_history

    @cached_property
    def history_properties(self) -> list[str]:
        return list(self.spec.history_properties)

    @cached_property
    def history(self) -> list[str]:
        """Every property read with its history."""
        return self.spec.history_names()

    async def build(self, deals: Sequence[Deal]) -> Built:
        ids = [d.id for d in deals]
        without = [d for d in deals if self.history and d.properties_with_history is None]
        associations, live, binned = await asyncio.gather(
            read_associations(self.client, self.kinds, ids),
            self._histories([d.id for d in without if not d.archived], archived=False),
            self._histories([d.id for d in without if d.archived], archived=True),
        )
        histories = live | binned
        return self.rows(deals, associations, histories)

    def rows(
        self,
        deals: Sequence[Deal],
        associations: dict[str, dict[str, Any]],
        histories: dict[str, dict[str, list[HistoryEntry]]],
    ) -> Built:
        rows, failed, untyped = [], 0, 0
        for deal in deals:
            try:
                found = {
                    k: association_entries(k, associations[k].get(deal.id, [])) for k in self.kinds
                }
                own = deal.properties_with_history
                history = own if own is not None else histories.get(deal.id, {})
                spans = None
                if self.stage_history:
                    spans = stage_spans(
                        history.get(STAGE, []), deal.properties.get("pipeline"), self.lookups
                    )
                kept = None
                if self.history_properties:
                    kept = {
                        name: history_entries(history.get(name, []))
                        for name in self.history_properties
                    }
                rows.append(
                    build_row(
                        deal,
                        lookups=self.lookups,
                        requested=self.requested,
                        associations=found if self.kinds else None,
                        stage_history=spans,
                        property_history=kept,
                    )
                )
                untyped += self.types.misfits(deal.properties)
            except (ValueError, KeyError, TypeError):
                failed += 1
                log.warning("scan.deal_skipped", deal_id=deal.id)
        return Built(rows, failed, untyped)

    async def _histories(
        self, ids: list[str], *, archived: bool
    ) -> dict[str, dict[str, list[HistoryEntry]]]:
        """Histories by id (batch/read reads one side of the bin at a time). A deal archived,
        restored or deleted since it was listed is looked for on the other side, then left
        without history: the next run reads it again."""
        found: dict[str, dict[str, list[HistoryEntry]]] = {}
        for side in (archived, not archived):
            todo = [i for i in ids if i not in found]
            if not todo:
                break
            deals, _ = await self.client.batch_read_deals(
                todo,
                properties=[STAGE],
                properties_with_history=self.history,
                archived=side,
            )
            for deal in deals:
                found[deal.id] = deal.properties_with_history or {}
        return found


async def read_associations(
    client: HubSpotClient, kinds: list[str], ids: list[str]
) -> dict[str, dict[str, Any]]:
    """Each type's associations of ``ids``, read concurrently; every missing scope named at once."""
    if not kinds or not ids:
        return {k: {} for k in kinds}
    results = await asyncio.gather(
        *(client.read_associations(k, ids) for k in kinds), return_exceptions=True
    )
    missing = [r for r in results if isinstance(r, HubSpotMissingScopesError)]
    if missing:  # name every missing scope at once, not just the first refusal's
        scopes = list(dict.fromkeys(scope for error in missing for scope in error.scopes))
        raise HubSpotMissingScopesError(missing[0].message, scopes=scopes, status_code=403)
    found: dict[str, dict[str, Any]] = {}
    for kind, result in zip(kinds, results, strict=True):
        if isinstance(result, BaseException):
            raise result
        found[kind] = result
    return found
