"""The CRM endpoints the sandbox serves, each translating HTTP to a ``Portal`` question and back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from hubspot_deals.sandbox import responses
from hubspot_deals.sandbox.catalog import (
    ASSOCIATION_TYPES,
    DEFAULT_PROPERTIES,
    OTHER_OBJECT_TYPES,
    OWNERS,
    PIPELINES,
    Account,
    pipeline_json,
)
from hubspot_deals.sandbox.clock import iso_ms, now_ms
from hubspot_deals.sandbox.ids import deal_id
from hubspot_deals.sandbox.params import (
    ASSOCIATION_PAGE,
    DEAL_TYPES,
    HISTORY_LIMIT_MESSAGE,
    MAX_ASSOCIATION_BATCH,
    MAX_BATCH_READ,
    MAX_LIST_LIMIT,
    MAX_OWNERS_LIMIT,
    MAX_WITH_HISTORY,
    V4_TYPES,
    BadRequest,
    bool_param,
    dated,
    decode_offset,
    encode_cursor,
    int_param,
    json_body,
    list_param,
)
from hubspot_deals.sandbox.portal import INLINE_ASSOCIATION_LIMIT, Portal, inline_association_key
from hubspot_deals.sandbox.responses import JSONResponse
from hubspot_deals.sandbox.search import SearchIndex
from hubspot_deals.sandbox.search_request import SearchError, parse_request


class Endpoints:
    def __init__(self, portal: Portal, account: Account) -> None:
        self.portal = portal
        self.account = account
        self.search_index = SearchIndex(portal)

    # -- deals: list, read, batch read ---------------------------------------------------------

    @staticmethod
    def _inline_types(request: Request) -> list[tuple[str, str]]:
        """(canonical type, reply key) for each known name in ``associations``, once each."""
        keys = (inline_association_key(n) for n in list_param(request, "associations"))
        return list(dict.fromkeys(k for k in keys if k))

    def _deal_json(
        self,
        index: int,
        names: tuple[str, ...],
        inline: list[tuple[str, str]],
        history: tuple[str, ...] | None,
    ) -> dict[str, Any]:
        out = self.portal.record(index, names, history)
        if inline:
            out["associations"] = {}
            for canonical, key in inline:
                block = self._inline_block(index, canonical, 0, INLINE_ASSOCIATION_LIMIT)
                if block["results"]:  # HubSpot leaves out types a deal has none of
                    out["associations"][key] = block
            if not out["associations"]:
                del out["associations"]
        return out

    def _inline_block(self, index: int, canonical: str, offset: int, limit: int) -> dict[str, Any]:
        entries = self.portal.association_entries(index, canonical)
        page = entries[offset : offset + limit]
        block: dict[str, Any] = {"results": [{"id": str(i), "type": t} for i, t in page]}
        if offset + limit < len(entries):
            after = encode_cursor(deal_id(index), canonical, offset + limit)
            block["paging"] = {
                "next": {
                    "after": after,
                    "link": f"https://api.hubapi.com/crm/v3/objects/deals/{deal_id(index)}"
                    f"/associations/{canonical}?after={after}",
                }
            }
        return block

    @staticmethod
    def _names(request: Request) -> tuple[str, ...]:
        return tuple(list_param(request, "properties")) or DEFAULT_PROPERTIES

    @staticmethod
    def _history(request: Request) -> tuple[str, ...] | None:
        """``propertiesWithHistory`` (comma-separated or repeated), None when not asked for."""
        return tuple(list_param(request, "propertiesWithHistory")) or None

    def _check_deals(self, request: Request) -> None:
        if request.path_params.get("object_type") not in DEAL_TYPES:
            raise LookupError("This sandbox serves deals only.")

    async def list_deals(self, request: Request) -> Response:
        self._check_deals(request)
        limit = int_param(request, "limit", 10, MAX_LIST_LIMIT)
        after = request.query_params.get("after")
        if after is not None and not after.isdigit():
            raise BadRequest("after must be the id of the next record.")
        archived = bool_param(request, "archived")
        names = self._names(request)
        history = self._history(request)
        if history is not None and limit > MAX_WITH_HISTORY:
            raise BadRequest(HISTORY_LIMIT_MESSAGE)
        indices, next_id = self.portal.list_page(
            after_id=int(after) if after else None, limit=limit, archived=archived
        )
        inline = self._inline_types(request)
        body: dict[str, Any] = {
            "results": [self._deal_json(i, names, inline, history) for i in indices]
        }
        if next_id is not None:
            query = request.url.include_query_params(after=str(next_id)).query
            body["paging"] = {"next": {"after": str(next_id), "link": f"?{query}"}}
        return JSONResponse(body)

    async def get_deal(self, request: Request) -> Response:
        self._check_deals(request)
        raw_id = request.path_params["deal_id"]
        id_property = request.query_params.get("idProperty", "hs_object_id")
        if id_property != "hs_object_id":
            raise BadRequest(f"Unique property {id_property} does not exist.")
        index = self.portal.index_for(raw_id)
        if index is None or self.portal.archived(index) != bool_param(request, "archived"):
            return responses.not_found(raw_id)
        return JSONResponse(
            self._deal_json(
                index, self._names(request), self._inline_types(request), self._history(request)
            )
        )

    async def batch_read(self, request: Request) -> Response:
        self._check_deals(request)
        started = now_ms()
        archived = bool_param(request, "archived")
        body = await json_body(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(
            isinstance(i, dict) and "id" in i for i in inputs
        ):
            raise BadRequest('inputs must be a list of {"id": ...} objects.')
        if len(inputs) > MAX_BATCH_READ:
            raise BadRequest(
                f"Batch read accepts at most {MAX_BATCH_READ} inputs, got {len(inputs)}."
            )
        names = tuple(body.get("properties") or ()) or DEFAULT_PROPERTIES
        with_history = body.get("propertiesWithHistory") or []
        if not isinstance(with_history, list) or not all(isinstance(n, str) for n in with_history):
            raise BadRequest("propertiesWithHistory must be a list of property names.")
        # The fact sheet documents the 50 cap for the list endpoint only; applying it to batch
        # reads that ask for history too is our conservative assumption.
        if with_history and len(inputs) > MAX_WITH_HISTORY:
            raise BadRequest(HISTORY_LIMIT_MESSAGE)
        history = tuple(with_history) or None
        results, missing = [], []
        for item in inputs:
            raw_id = str(item["id"])
            index = self.portal.index_for(raw_id)
            if index is None or self.portal.archived(index) != archived:
                missing.append(raw_id)
            else:
                results.append(self.portal.record(index, names, history))
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": iso_ms(started),
            "completedAt": iso_ms(now_ms()),
        }
        if not missing:
            return JSONResponse(out)
        out["numErrors"] = 1
        out["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "Could not get some DEAL objects, they may be deleted or not exist. "
                "Check that ids are valid.",
                "context": {"ids": missing},
                "errors": [],
                "links": {},
            }
        ]
        return JSONResponse(out, status_code=200 if dated(request) else 207)

    async def search(self, request: Request) -> Response:
        self._check_deals(request)
        try:
            search = parse_request(await json_body(request))
        except SearchError as exc:
            raise BadRequest(str(exc)) from exc
        total, indices = self.search_index.run(search)
        body: dict[str, Any] = {
            "total": total,
            "results": [self.portal.record(i, search.properties) for i in indices],
        }
        next_offset = search.after + len(indices)
        if indices and next_offset < total:
            body["paging"] = {"next": {"after": str(next_offset)}}
        return JSONResponse(body)

    # -- associations ---------------------------------------------------------------------------

    @staticmethod
    def _to_type(raw: str) -> str | None:
        """Canonical associated type, None for a CRM type deals have no links to here."""
        known = ASSOCIATION_TYPES.get(raw.lower())
        if known:
            return known[0]
        if raw.lower() in OTHER_OBJECT_TYPES:
            return None
        raise BadRequest(f"Unable to infer object type from: {raw}")

    async def association_batch_read(self, request: Request) -> Response:
        if request.path_params["from_type"].lower() not in DEAL_TYPES:
            raise LookupError("This sandbox serves deals only.")
        to_type = self._to_type(request.path_params["to_type"])
        started = now_ms()
        body = await json_body(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(
            isinstance(i, dict) and "id" in i for i in inputs
        ):
            raise BadRequest('inputs must be a list of {"id": ...} objects.')
        if len(inputs) > MAX_ASSOCIATION_BATCH:
            raise BadRequest(
                f"Batch size {len(inputs)} exceeds the limit of {MAX_ASSOCIATION_BATCH}."
            )
        results, errors = [], []
        # v4 answers the ids as numbers and unlabeled types with "label": null (observed); the
        # dated editions' schema has strings, and a label only where there is one
        as_id: Callable[[int], int | str] = str if dated(request) else int
        null_labels = not dated(request)
        for item in inputs:
            raw_id = str(item["id"])
            index = self.portal.index_for(raw_id)
            ids = self.portal.associations(index, to_type) if index is not None and to_type else []
            offset = decode_offset(item.get("after"))
            page = ids[offset : offset + ASSOCIATION_PAGE]
            if not page:
                errors.append(self._no_associations(raw_id, request.path_params["to_type"]))
                continue
            result: dict[str, Any] = {
                "from": {"id": raw_id},
                "to": [
                    {
                        "toObjectId": as_id(to_id),
                        "associationTypes": self._v4_types(to_type, n + offset == 0, null_labels),
                    }
                    for n, to_id in enumerate(page)
                ],
            }
            if offset + ASSOCIATION_PAGE < len(ids):
                result["paging"] = {
                    "next": {"after": encode_cursor(raw_id, offset + ASSOCIATION_PAGE)}
                }
            results.append(result)
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": iso_ms(started),
            "completedAt": iso_ms(now_ms()),
        }
        if errors:
            out["numErrors"] = len(errors)
            out["errors"] = errors
            return JSONResponse(out, status_code=200 if dated(request) else 207)
        return JSONResponse(out)

    @staticmethod
    def _v4_types(
        to_type: str | None, primary: bool, null_labels: bool = True
    ) -> list[dict[str, Any]]:
        kinds = V4_TYPES.get(to_type or "", ())
        if to_type == "companies" and not primary:
            kinds = kinds[1:]
        return [
            {"category": "HUBSPOT_DEFINED", "typeId": t}
            | ({"label": label} if label is not None or null_labels else {})
            for t, label in kinds
        ]

    @staticmethod
    def _no_associations(raw_id: str, to_type: str) -> dict[str, Any]:
        singular = {"contacts": "contact", "companies": "company", "line_items": "line_item"}.get(
            to_type, to_type.rstrip("s")
        )
        return {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
            "message": f"No {singular} is associated with deal {raw_id}.",
            "context": {
                "fromObjectId": [raw_id],
                "fromObjectType": ["deal"],
                "toObjectType": [singular],
            },
            "errors": [],
            "links": {},
        }

    async def record_associations(self, request: Request) -> Response:
        """``GET /crm/v4/objects/deals/{id}/associations/{type}`` and its v3 form."""
        self._check_deals(request)
        to_type = self._to_type(request.path_params["to_type"])
        raw_id = request.path_params["deal_id"]
        index = self.portal.index_for(raw_id)
        if index is None:
            return responses.not_found(raw_id)
        v4 = request.url.path.startswith("/crm/v4/")
        limit = int_param(request, "limit", ASSOCIATION_PAGE, ASSOCIATION_PAGE)
        offset = decode_offset(request.query_params.get("after"))
        body: dict[str, Any]
        if v4:
            ids = self.portal.associations(index, to_type) if to_type else []
            page = ids[offset : offset + limit]
            body = {
                "results": [
                    {"toObjectId": i, "associationTypes": self._v4_types(to_type, n + offset == 0)}
                    for n, i in enumerate(page)
                ]
            }
            total = len(ids)
        else:
            entries = self.portal.association_entries(index, to_type) if to_type else []
            body = {
                "results": [{"id": str(i), "type": t} for i, t in entries[offset : offset + limit]]
            }
            total = len(entries)
        if offset + limit < total:
            body["paging"] = {"next": {"after": encode_cursor(raw_id, offset + limit)}}
        return JSONResponse(body)

    # -- metadata -------------------------------------------------------------------------------

    async def properties(self, request: Request) -> Response:
        self._check_deals(request)
        archived = bool_param(request, "archived")
        return JSONResponse({"results": self.portal.catalog.definitions(archived)})

    async def pipelines(self, request: Request) -> Response:
        self._check_deals(request)
        return JSONResponse({"results": [pipeline_json(p) for p in PIPELINES]})

    async def owners(self, request: Request) -> Response:
        limit = int_param(request, "limit", 100, MAX_OWNERS_LIMIT)
        after = request.query_params.get("after", "0")
        if not after.isdigit():
            raise BadRequest("after must be formatted as an integer.")
        archived = bool_param(request, "archived")
        email = request.query_params.get("email")
        matching = [
            o for o in OWNERS if o.archived == archived and (email is None or o.email == email)
        ]
        start = int(after)
        body: dict[str, Any] = {"results": [o.json() for o in matching[start : start + limit]]}
        if start + limit < len(matching):
            body["paging"] = {
                "next": {
                    "after": str(start + limit),
                    "link": f"?limit={limit}&after={start + limit}",
                }
            }
        return JSONResponse(body)

    async def owner(self, request: Request) -> Response:
        owner_id = request.path_params["owner_id"]
        by_user = request.query_params.get("idProperty", "id") == "userId"
        archived = bool_param(request, "archived")
        for o in OWNERS:
            if (str(o.user_id) if by_user else o.id) == owner_id and o.archived == archived:
                return JSONResponse(o.json())
        return responses.not_found(owner_id)

    async def account_details(self, request: Request) -> Response:
        return JSONResponse(self.account.json())
