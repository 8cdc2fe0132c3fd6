"""Fetch plans: which HubSpot endpoints a scan walks, in what order, and where it can resume.

A plan yields pages of deals, each with the checkpoint to store alongside it: resuming from that
checkpoint continues right after the page. Plans are swappable; the speed work replaces them
without touching the rest of the engine.

- ``ListPlan`` (no filters): the list endpoint's cursor chain (its cursor is the next record's id),
  then, with ``includeArchived``, the archived chain.
- ``SearchPlan`` (pipeline, stage or date filters): the search API sorted by ``hs_object_id`` with
  ``hs_object_id > last seen`` added to every query, so no query pages past HubSpot's 10,000-result
  cap; then, with ``includeArchived``, the archived chain filtered here (search never returns
  archived deals).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from hubspot_deals.hubspot import Deal, HubSpotClient

SEARCH_PAGE = 200


@dataclass(frozen=True)
class Page:
    deals: list[Deal]
    checkpoint: dict[str, Any]


@dataclass(frozen=True)
class ScanFilters:
    include_archived: bool = False
    pipeline_id: str | None = None
    dealstage: str | None = None
    date_property: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None  # inclusive

    @property
    def narrowing(self) -> bool:
        return any(
            v is not None for v in (self.pipeline_id, self.dealstage, self.start_ms, self.end_ms)
        )

    def search_filters(self) -> list[dict[str, str]]:
        filters = []
        if self.pipeline_id is not None:
            filters.append(
                {"propertyName": "pipeline", "operator": "EQ", "value": self.pipeline_id}
            )
        if self.dealstage is not None:
            filters.append({"propertyName": "dealstage", "operator": "EQ", "value": self.dealstage})
        if self.date_property and self.start_ms is not None:
            filters.append(
                {"propertyName": self.date_property, "operator": "GTE", "value": str(self.start_ms)}
            )
        if self.date_property and self.end_ms is not None:
            filters.append(
                {"propertyName": self.date_property, "operator": "LTE", "value": str(self.end_ms)}
            )
        return filters

    def matches(self, deal: Deal) -> bool:
        """The same filters, applied here to deals search cannot return (archived ones)."""
        props = deal.properties
        if self.pipeline_id is not None and props.get("pipeline") != self.pipeline_id:
            return False
        if self.dealstage is not None and props.get("dealstage") != self.dealstage:
            return False
        if self.date_property and (self.start_ms is not None or self.end_ms is not None):
            moment = parse_ms(props.get(self.date_property))
            if moment is None:
                return False
            if self.start_ms is not None and moment < self.start_ms:
                return False
            if self.end_ms is not None and moment > self.end_ms:
                return False
        return True

    def extra_properties(self) -> tuple[str, ...]:
        return (self.date_property,) if self.date_property else ()


def parse_ms(value: str | None) -> int | None:
    if not value:
        return None
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


def day_bounds_ms(start: str | None, end: str | None) -> tuple[int | None, int | None]:
    """A date filter's bounds in epoch ms; a bare end date includes its whole day."""
    low = parse_ms(start) if start else None
    high = None
    if end:
        high = parse_ms(end)
        if high is not None and len(end) == 10:  # YYYY-MM-DD
            high += int(timedelta(days=1).total_seconds() * 1000) - 1
    return low, high


class FetchPlan(Protocol):
    async def estimate_total(self) -> int | None:
        """How many deals the scan will see, when HubSpot can say (search's ``total``)."""

    def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[Page]:
        """Pages from ``checkpoint`` (None: the start) to the end."""


class _ArchivedChain:
    """The archived list chain, filtered by ``keep``; shared by both plans."""

    def __init__(
        self,
        client: HubSpotClient,
        properties: Sequence[str],
        batch_size: int,
        keep: Callable[[Deal], bool],
    ) -> None:
        self.client, self.properties, self.batch_size, self.keep = (
            client,
            properties,
            batch_size,
            keep,
        )

    async def pages(self, after: str | None) -> AsyncIterator[Page]:
        chain = self.client.iter_deal_pages(
            properties=self.properties, archived=True, limit=self.batch_size, after=after
        )
        async for page in chain:
            next_after = page.next_after
            checkpoint = {"phase": "archived", "after": next_after, "done": next_after is None}
            yield Page([d for d in page.results if self.keep(d)], checkpoint)


class ListPlan:
    def __init__(
        self,
        client: HubSpotClient,
        properties: Sequence[str],
        batch_size: int,
        include_archived: bool,
    ) -> None:
        self.client = client
        self.properties = list(properties)
        self.batch_size = batch_size
        self.include_archived = include_archived

    async def estimate_total(self) -> int | None:
        # one search call counts the live deals; archived ones are counted as they come
        return (await self.client.search_deals({"limit": 1, "properties": ["hs_object_id"]})).total

    async def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[Page]:
        checkpoint = checkpoint or {"phase": "live", "after": None, "done": False}
        if checkpoint["phase"] == "live" and not checkpoint["done"]:
            chain = self.client.iter_deal_pages(
                properties=self.properties, limit=self.batch_size, after=checkpoint["after"]
            )
            async for page in chain:
                next_after = page.next_after
                yield Page(
                    page.results, {"phase": "live", "after": next_after, "done": next_after is None}
                )
            checkpoint = {"phase": "live", "after": None, "done": True}
        if not self.include_archived:
            return
        after = checkpoint["after"] if checkpoint["phase"] == "archived" else None
        if checkpoint["phase"] == "archived" and checkpoint["done"]:
            return
        archived = _ArchivedChain(self.client, self.properties, self.batch_size, lambda d: True)
        async for archived_page in archived.pages(after):
            yield archived_page


class SearchPlan:
    def __init__(
        self,
        client: HubSpotClient,
        properties: Sequence[str],
        batch_size: int,
        filters: ScanFilters,
    ) -> None:
        self.client = client
        self.properties = list(properties)
        self.batch_size = batch_size
        self.filters = filters

    def _request(self, last_id: int | None, limit: int) -> dict[str, Any]:
        filters = self.filters.search_filters()
        if last_id is not None:
            filters.append(
                {"propertyName": "hs_object_id", "operator": "GT", "value": str(last_id)}
            )
        return {
            "filterGroups": [{"filters": filters}] if filters else [],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": self.properties,
            "limit": limit,
        }

    async def estimate_total(self) -> int | None:
        return (await self.client.search_deals(self._request(None, 1))).total

    async def pages(self, checkpoint: dict[str, Any] | None) -> AsyncIterator[Page]:
        checkpoint = checkpoint or {"phase": "search", "last_id": None, "done": False}
        if checkpoint["phase"] == "search" and not checkpoint["done"]:
            last_id = checkpoint["last_id"]
            while True:
                page = await self.client.search_deals(self._request(last_id, SEARCH_PAGE))
                if page.results:
                    last_id = int(page.results[-1].id)
                done = page.next_after is None or not page.results
                yield Page(page.results, {"phase": "search", "last_id": last_id, "done": done})
                if done:
                    break
            checkpoint = {"phase": "search", "last_id": last_id, "done": True}
        if not self.filters.include_archived:
            return
        if checkpoint["phase"] == "archived" and checkpoint["done"]:
            return
        after = checkpoint["after"] if checkpoint["phase"] == "archived" else None
        archived = _ArchivedChain(
            self.client, self.properties, self.batch_size, self.filters.matches
        )
        async for archived_page in archived.pages(after):
            yield archived_page


def choose_plan(
    client: HubSpotClient, properties: Sequence[str], batch_size: int, filters: ScanFilters
) -> FetchPlan:
    if filters.narrowing:
        return SearchPlan(client, properties, batch_size, filters)
    return ListPlan(client, properties, batch_size, filters.include_archived)
