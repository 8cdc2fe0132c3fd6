"""A search request as HubSpot's search endpoint reads it: its filters, sorts, paging and limits
checked the way HubSpot answers them (400 with its message), before any deal is looked at."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hubspot_deals.sandbox.catalog import DEFAULT_PROPERTIES

MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
MAX_LIMIT = 200
MAX_RESULTS = 10_000
MAX_QUERY_CHARS = 3_000
_OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)


class SearchError(ValueError):
    """The request breaks a rule of the search API; HubSpot answers 400 VALIDATION_ERROR."""


@dataclass(frozen=True)
class SearchRequest:
    groups: tuple[tuple[dict[str, Any], ...], ...]
    sort_property: str | None
    descending: bool
    query: str | None
    properties: tuple[str, ...]
    limit: int
    after: int

    def cache_key(self) -> str:
        return json.dumps(
            [self.groups, self.sort_property, self.descending, self.query], sort_keys=True
        )


def parse_request(body: Any) -> SearchRequest:
    if not isinstance(body, dict):
        raise SearchError("Invalid input JSON: expected an object.")
    groups_in = body.get("filterGroups") or []
    if not isinstance(groups_in, list):
        raise SearchError("filterGroups must be a list.")
    if len(groups_in) > MAX_GROUPS:
        raise SearchError(f"Too many filter groups: {len(groups_in)} > {MAX_GROUPS}.")
    groups: list[tuple[dict[str, Any], ...]] = []
    total = 0
    for group in groups_in:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise SearchError("Each filter group needs a list of filters.")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise SearchError(
                f"Too many filters in a group: {len(filters)} > {MAX_FILTERS_PER_GROUP}."
            )
        total += len(filters)
        groups.append(tuple(_check_filter(f) for f in filters))
    if total > MAX_FILTERS:
        raise SearchError(f"Too many filters: {total} > {MAX_FILTERS}.")

    sort_property, descending = _parse_sorts(body.get("sorts") or [])
    query = body.get("query")
    if query is not None and (not isinstance(query, str) or len(query) > MAX_QUERY_CHARS):
        raise SearchError(f"query must be a string of at most {MAX_QUERY_CHARS} characters.")
    properties = body.get("properties") or []
    if not isinstance(properties, list) or not all(isinstance(p, str) for p in properties):
        raise SearchError("properties must be a list of strings.")
    limit = body.get("limit", 10)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= MAX_LIMIT:
        raise SearchError(f"limit must be an integer between 1 and {MAX_LIMIT}.")
    after = _parse_after(body.get("after"))
    return SearchRequest(
        tuple(groups),
        sort_property,
        descending,
        query or None,
        tuple(properties) or DEFAULT_PROPERTIES,
        limit,
        after,
    )


def _check_filter(f: Any) -> dict[str, Any]:
    if not isinstance(f, dict) or not isinstance(f.get("propertyName"), str):
        raise SearchError("Each filter needs a propertyName.")
    op = f.get("operator")
    if op not in _OPERATORS:
        raise SearchError(f"Unknown filter operator: {op!r}.")
    if op in ("IN", "NOT_IN"):
        values = f.get("values")
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) for v in values)
        ):
            raise SearchError(f"Operator {op} needs a non-empty list of string values.")
    elif op not in ("HAS_PROPERTY", "NOT_HAS_PROPERTY") and not isinstance(f.get("value"), str):
        raise SearchError(f"Operator {op} needs a string value.")
    if op == "BETWEEN" and not isinstance(f.get("highValue"), str):
        raise SearchError("Operator BETWEEN needs a highValue.")
    return {k: f[k] for k in ("propertyName", "operator", "value", "highValue", "values") if k in f}


def _parse_sorts(sorts: Any) -> tuple[str | None, bool]:
    if not isinstance(sorts, list):
        raise SearchError("sorts must be a list.")
    if len(sorts) > 1:
        raise SearchError("Only one sort is supported.")
    if not sorts:
        return None, False
    sort = sorts[0]
    if isinstance(sort, str):  # the spec's string form: "createdate" or "-createdate"
        return sort.lstrip("-"), sort.startswith("-")
    if isinstance(sort, dict) and isinstance(sort.get("propertyName"), str):
        direction = sort.get("direction", "ASCENDING")
        if direction not in ("ASCENDING", "DESCENDING"):
            raise SearchError(f"Unknown sort direction: {direction!r}.")
        return sort["propertyName"], direction == "DESCENDING"
    raise SearchError("Each sort needs a propertyName.")


def _parse_after(after: Any) -> int:
    if after is None or after == "":
        return 0
    text = str(after)
    if not text.isdigit():
        raise SearchError("after must be formatted as an integer.")
    offset = int(text)
    if offset >= MAX_RESULTS:
        raise SearchError(
            f"Paging beyond {MAX_RESULTS} results is not supported; narrow the search."
        )
    return offset
