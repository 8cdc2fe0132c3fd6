"""The async HubSpot client: the endpoints a deal extraction needs, over ``Transport``'s calls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec

from hubspot_deals.hubspot._errors import (
    HubSpotSearchCapError,
)
from hubspot_deals.hubspot._models import (
    ASSOCIATION_TYPES,
    AccountDetails,
    AssociatedObject,
    AssociationReply,
    BatchDeals,
    Deal,
    DealPage,
    Owner,
    OwnerPage,
    Pipeline,
    PipelineList,
    PropertyDefinition,
    PropertyList,
    SearchPage,
    decoder,
)
from hubspot_deals.hubspot._pacing import SEARCH
from hubspot_deals.hubspot._transport import (
    MAX_URI_CHARS,
    Transport,
)

LIST_PAGE_MAX = 100
SEARCH_PAGE_MAX = 200
SEARCH_RESULT_CAP = 10_000
BATCH_READ_MAX = 100
#: Deals a page (list) or a batch read holds when property history is asked for.
HISTORY_PAGE_MAX = 50
ASSOCIATION_BATCH_MAX = 1_000


_deal_page = decoder(DealPage)
_search_page = decoder(SearchPage)
_one_deal = decoder(Deal)
_batch_deals = decoder(BatchDeals)
_association_reply = decoder(AssociationReply)
_owner_page = decoder(OwnerPage)


class HubSpotClient(Transport):
    """Async client for the HubSpot endpoints a deal extraction needs.

    Share one instance between tasks: they share its connection pool and its pacing.

    ``on_call`` is called with a ``CallRecord`` after every attempt that was sent, answered or
    not, retries included: the one place a caller learns about traffic (metrics, health). It runs
    inline, so it must be quick and must not raise.
    """

    # -- deals ------------------------------------------------------------------------------------

    async def iter_deal_pages(
        self,
        *,
        properties: Sequence[str] = (),
        properties_with_history: Sequence[str] = (),
        associations: Sequence[str] = (),
        archived: bool = False,
        limit: int = LIST_PAGE_MAX,
        after: str | None = None,
    ) -> AsyncIterator[DealPage]:
        """The list endpoint's cursor chain, page by page (``deal_page``), from ``after``."""
        while True:
            page = await self.deal_page(
                properties=properties,
                properties_with_history=properties_with_history,
                associations=associations,
                archived=archived,
                limit=limit,
                after=after,
            )
            yield page
            after = page.next_after
            if after is None:
                return

    async def deal_page(
        self,
        *,
        properties: Sequence[str] = (),
        properties_with_history: Sequence[str] = (),
        associations: Sequence[str] = (),
        archived: bool = False,
        limit: int = LIST_PAGE_MAX,
        after: str | None = None,
    ) -> DealPage:
        """One page of the list endpoint, from ``after`` (the next record's id).

        HubSpot serves at most 50 deals a page with property history. A property list too long
        for a URI (HubSpot answers 414) is moved to request bodies: the page is listed by id and
        its deals are read with ``batch/read``, which takes the properties in its body.
        """
        top = HISTORY_PAGE_MAX if properties_with_history else LIST_PAGE_MAX
        params: dict[str, Any] = {"limit": min(limit, top), "archived": str(archived).lower()}
        if associations:
            params["associations"] = ",".join(associations)
        wanted = {"properties": properties, "propertiesWithHistory": properties_with_history}
        named = params | {k: ",".join(v) for k, v in wanted.items() if v}
        in_body = self._uri_chars(self.paths.deals, named | {"after": "9" * 20}) > MAX_URI_CHARS
        if in_body:
            if associations:
                raise ValueError(
                    "inline associations cannot be combined with a property list this long"
                )
            named = params | {"properties": "hs_object_id"}
        page = await self._call(
            "GET",
            self.paths.deals,
            _deal_page,
            params=named | ({"after": after} if after else {}),
        )
        if in_body:
            page = await self._with_properties(page, properties, properties_with_history, archived)
        return page

    async def first_deal_page(self) -> DealPage:
        """One deal, no properties: the cheapest call that needs the deals scope (a token check)."""
        return await self._call(
            "GET",
            self.paths.deals,
            _deal_page,
            params={"limit": 1, "archived": "false"},
        )

    def _uri_chars(self, path: str, params: dict[str, Any]) -> int:
        return len(self.url(path, params)) - len(self.base_url)

    async def _with_properties(
        self,
        page: DealPage,
        properties: Sequence[str],
        properties_with_history: Sequence[str],
        archived: bool,
    ) -> DealPage:
        """The page's deals, read again by id with every property (deals deleted meanwhile drop)."""
        found, _ = await self.batch_read_deals(
            [d.id for d in page.results],
            properties=properties,
            properties_with_history=properties_with_history,
            archived=archived,
        )
        by_id = {d.id: d for d in found}
        deals = [by_id[d.id] for d in page.results if d.id in by_id]
        return msgspec.structs.replace(page, results=deals)

    async def iter_deals(self, **kwargs: Any) -> AsyncIterator[Deal]:
        async for page in self.iter_deal_pages(**kwargs):
            for deal in page.results:
                yield deal

    async def get_deal(
        self,
        deal_id: str,
        *,
        properties: Sequence[str] = (),
        associations: Sequence[str] = (),
        archived: bool = False,
    ) -> Deal:
        params: dict[str, Any] = {"archived": str(archived).lower()}
        if properties:
            params["properties"] = ",".join(properties)
        if associations:
            params["associations"] = ",".join(associations)
        return await self._call(
            "GET",
            f"{self.paths.deals}/{deal_id}",
            _one_deal,
            params=params,
            endpoint=f"GET {self.paths.deals}/{{deal_id}}",
        )

    async def batch_read_deals(
        self,
        ids: Sequence[str],
        *,
        properties: Sequence[str] = (),
        properties_with_history: Sequence[str] = (),
        archived: bool = False,
    ) -> tuple[list[Deal], list[str]]:
        """(deals found, ids HubSpot reported missing), in batches of 100 (50 with history)."""
        found: list[Deal] = []
        missing: list[str] = []
        size = HISTORY_PAGE_MAX if properties_with_history else BATCH_READ_MAX
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            reply = await self._call(
                "POST",
                f"{self.paths.deals}/batch/read",
                _batch_deals,
                params={"archived": str(archived).lower()},
                body={
                    "inputs": [{"id": i} for i in chunk],
                    "properties": list(properties),
                    "propertiesWithHistory": list(properties_with_history),
                },
            )
            found.extend(reply.results)
            for error in reply.errors:
                missing.extend(error.context.get("ids", []))
        return found, missing

    async def search_deals(self, request: dict[str, Any]) -> SearchPage:
        """One search call; ``request`` is HubSpot's PublicObjectSearchRequest."""
        return await self._call(
            "POST",
            f"{self.paths.deals}/search",
            _search_page,
            bucket=SEARCH,
            body=request,
        )

    async def iter_search_pages(self, request: dict[str, Any]) -> AsyncIterator[SearchPage]:
        """Pages of one search; raises HubSpotSearchCapError instead of paging past 10,000."""
        body = {"limit": SEARCH_PAGE_MAX} | request
        while True:
            page = await self.search_deals(body)
            yield page
            after = page.next_after
            if after is None:
                return
            if int(after) >= SEARCH_RESULT_CAP:
                raise HubSpotSearchCapError(
                    f"search matched {page.total} deals; one query pages through at most "
                    f"{SEARCH_RESULT_CAP}: split it (e.g. by hs_object_id ranges)",
                    total=page.total,
                    endpoint=f"POST {self.paths.deals}/search",
                )
            body = body | {"after": after}

    # -- associations ------------------------------------------------------------------------------

    async def read_associations(
        self, to_type: str, deal_ids: Sequence[str]
    ) -> dict[str, list[AssociatedObject]]:
        """Every association of each deal with ``to_type``, following each deal's own paging.

        Deals with none come back with an empty list (HubSpot's NO_ASSOCIATIONS_FOUND errors, in
        a 207 of the legacy edition or a 200 of a dated one).
        """
        if to_type not in ASSOCIATION_TYPES:
            raise ValueError(f"association type must be one of {ASSOCIATION_TYPES}")
        found: dict[str, list[AssociatedObject]] = {deal_id: [] for deal_id in deal_ids}
        pending: list[dict[str, str]] = [{"id": deal_id} for deal_id in deal_ids]
        path = self.paths.associations.format(to_type=to_type)
        while pending:
            chunk, pending = pending[:ASSOCIATION_BATCH_MAX], pending[ASSOCIATION_BATCH_MAX:]
            reply = await self._call(
                "POST", path, _association_reply, bucket=None, body={"inputs": chunk}
            )
            for result in reply.results:
                found.setdefault(result.from_id, []).extend(result.to)
                if result.next_after:
                    pending.append({"id": result.from_id, "after": result.next_after})
        return found

    # -- metadata -----------------------------------------------------------------------------------

    async def get_account_details(self) -> AccountDetails:
        return await self._call(
            "GET", self.paths.account_details, AccountDetails.model_validate_json
        )

    async def get_properties(self, *, archived: bool = False) -> list[PropertyDefinition]:
        reply = await self._call(
            "GET",
            self.paths.properties,
            PropertyList.model_validate_json,
            params={"archived": str(archived).lower()},
        )
        return reply.results

    async def get_pipelines(self) -> list[Pipeline]:
        return (
            await self._call("GET", self.paths.pipelines, PipelineList.model_validate_json)
        ).results

    async def iter_owners(
        self, *, archived: bool = False, limit: int = 100
    ) -> AsyncIterator[Owner]:
        params: dict[str, Any] = {"limit": limit, "archived": str(archived).lower()}
        while True:
            page = await self._call("GET", self.paths.owners, _owner_page, params=params)
            for owner in page.results:
                yield owner
            if page.paging is None or page.paging.next is None:
                return
            params = params | {"after": page.paging.next.after}
