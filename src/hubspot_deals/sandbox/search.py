"""The CRM search endpoint's semantics: filter groups, one sort, offset paging, the 10,000 cap.

Filters inside a group are ANDed and groups are ORed. Values are compared by the property's type:
numbers as numbers, dates and datetimes as epoch milliseconds, enumerations case-sensitively and
other strings case-insensitively, each property by its type in the portal's own catalog (custom
and retyped properties too; a value that no longer fits its property's type matches nothing).
Archived deals never match. Filters on ``hs_object_id`` and
``createdate`` narrow the scanned index range first (both grow with the index), which is what keeps
partitioned searches over a million deals fast.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from hubspot_deals.sandbox.clock import parse_ms
from hubspot_deals.sandbox.data import MODIFIED_TO_MS
from hubspot_deals.sandbox.ids import deal_id, index_at_or_after
from hubspot_deals.sandbox.portal import Portal
from hubspot_deals.sandbox.search_request import MAX_LIMIT, MAX_RESULTS, SearchRequest

_SEARCHABLE = ("dealname", "pipeline", "dealstage", "description", "dealtype")
_INDEX_ORDERED = frozenset({"hs_object_id", "createdate", "hs_createdate"})
_RANGE_OPERATORS = ("EQ", "GT", "GTE", "LT", "LTE", "BETWEEN")
#: Types of the HubSpot-defined properties the shortcuts read (their definitions never change).
_NUMBER, _DATETIME = "number", "datetime"


# -- evaluation ----------------------------------------------------------------------------------


def _typed(kind: str, raw: str | None) -> Any:
    """A value of a property of type ``kind`` in its comparable form, or None when it has none."""
    if raw is None or raw == "":
        return None
    if kind == "number":
        try:
            return float(raw)
        except ValueError:
            return None
    if kind in ("datetime", "date"):
        return parse_ms(raw)
    if kind == "enumeration":
        return raw
    return raw.lower()


def _predicate(portal: Portal, f: dict[str, Any]) -> Callable[[int], bool]:
    name, op = f["propertyName"], f["operator"]
    # unknown (and archived) properties have no value on any deal: portal.value gives None
    if op == "HAS_PROPERTY":
        return lambda i: portal.value(i, name) not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return lambda i: portal.value(i, name) in (None, "")
    if name not in portal.catalog:
        return (
            (lambda i: True) if op in ("NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN") else (lambda i: False)
        )
    kind = portal.catalog.type_of(name)
    if op in ("IN", "NOT_IN"):
        wanted = {_typed(kind, v) for v in f["values"]}
        if op == "IN":
            return lambda i: _typed(kind, portal.value(i, name)) in wanted
        return lambda i: _typed(kind, portal.value(i, name)) not in wanted
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = f["value"].lower().replace("*", "")
        wanted_hit = op == "CONTAINS_TOKEN"
        return lambda i: (token in (portal.value(i, name) or "").lower()) == wanted_hit
    low = _typed(kind, f["value"])
    high = _typed(kind, f.get("highValue"))
    compare: dict[str, Callable[[Any], bool]] = {
        "EQ": lambda v: v == low,
        "NEQ": lambda v: v != low,
        "LT": lambda v: v is not None and v < low,
        "LTE": lambda v: v is not None and v <= low,
        "GT": lambda v: v is not None and v > low,
        "GTE": lambda v: v is not None and v >= low,
        "BETWEEN": lambda v: v is not None and low <= v <= high,
    }
    test = compare[op]
    if low is None and op not in ("EQ", "NEQ"):
        return lambda i: False
    typed = _typed_value(portal, name, kind)
    return lambda i: test(typed(i))


def _typed_value(portal: Portal, name: str, kind: str) -> Callable[[int], Any]:
    """``_typed(kind, portal.value(i, name))``, straight from the numbers for the properties that
    partitioned and incremental searches filter on (the same values, without string round trips)."""
    if name == "hs_lastmodifieddate":
        return portal.modified_ms
    if name == "hs_object_id":
        return lambda i: float(deal_id(i))
    return lambda i: _typed(kind, portal.value(i, name))


def _index_range(portal: Portal, group: tuple[dict[str, Any], ...]) -> tuple[int, int]:
    """The indices a group can match at all, from its filters on index-ordered properties."""
    lo, hi = 0, portal.count
    for f in group:
        name, op = f["propertyName"], f["operator"]
        if name not in _INDEX_ORDERED or op not in _RANGE_OPERATORS:
            continue
        kind = _NUMBER if name == "hs_object_id" else _DATETIME
        low = _typed(kind, f.get("value"))
        high = _typed(kind, f.get("highValue")) if op == "BETWEEN" else low
        if low is None or high is None:
            continue
        first = _first_index(portal, name, low, strict=op == "GT")
        last = _first_index(portal, name, high, strict=op in ("EQ", "LTE", "BETWEEN"))
        if op in ("EQ", "GT", "GTE", "BETWEEN"):
            lo = max(lo, first)
        if op in ("EQ", "LT", "LTE", "BETWEEN"):
            hi = min(hi, last)
    return lo, hi


def _first_index(portal: Portal, name: str, bound: float, *, strict: bool) -> int:
    """The first index whose value is >= bound (> bound when strict)."""
    if name == "hs_object_id":
        index = index_at_or_after(math.floor(bound) + 1 if strict else math.ceil(bound))
        return min(max(index, 0), portal.count)
    lo, hi = 0, portal.count
    while lo < hi:
        mid = (lo + hi) // 2
        value = portal.created_ms(mid)
        if value > bound or (not strict and value == bound):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _modified_floor(group: tuple[dict[str, Any], ...]) -> float | None:
    """The group's highest lower bound on ``hs_lastmodifieddate`` that only deals changed since
    start can meet (at or past ``MODIFIED_TO_MS``), or None when it has none."""
    floor: float | None = None
    for f in group:
        if f["propertyName"] != "hs_lastmodifieddate" or f["operator"] not in (
            "EQ",
            "GT",
            "GTE",
            "BETWEEN",
        ):
            continue
        low = _typed(_DATETIME, f.get("value"))
        if low is not None and low >= MODIFIED_TO_MS and (floor is None or low > floor):
            floor = low
    return floor


def _is_id_bound(f: dict[str, Any]) -> bool:
    """A filter that only bounds ``hs_object_id`` (which ``_index_range`` turns into an index
    range exactly)."""
    if f["propertyName"] != "hs_object_id" or f["operator"] not in _RANGE_OPERATORS:
        return False
    low = _typed(_NUMBER, f.get("value"))
    high = _typed(_NUMBER, f.get("highValue")) if f["operator"] == "BETWEEN" else low
    return low is not None and high is not None


class SearchIndex:
    """Answers searches; keeps the last queries' totals and first 10,000 matches per portal version.

    ``modified_index=False`` turns the "modified since" shortcut off (tests compare both paths).
    """

    def __init__(
        self, portal: Portal, cache_size: int = 64, *, modified_index: bool = True
    ) -> None:
        self.portal = portal
        self._cache: OrderedDict[tuple[str, int], tuple[int, list[int]]] = OrderedDict()
        self._cache_size = cache_size
        self.modified_index = modified_index

    def run(self, request: SearchRequest) -> tuple[int, list[int]]:
        """(total, the indices of the requested page)."""
        total, matches = self._matches(request)
        return total, matches[request.after : request.after + request.limit]

    def _matches(self, request: SearchRequest) -> tuple[int, list[int]]:
        key = (request.cache_key(), self.portal.version)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        result = self._id_range_of_changed(request) or self._evaluate(request)
        self._remember(key, result)
        return result

    def _remember(self, key: tuple[str, int], result: tuple[int, list[int]]) -> None:
        self._cache[key] = result
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _id_range_of_changed(self, request: SearchRequest) -> tuple[int, list[int]] | None:
        """A page of an incremental scan partitioned by id ("modified since x, id above y, by
        id"): the range of one cached list of every deal changed since x that matches the other
        filters. Each page of the partition then costs a bisection, not a pass over the changes.
        None for any other search."""
        if not self.modified_index or len(request.groups) != 1:
            return None
        if request.sort_property not in (None, *_INDEX_ORDERED):
            return None
        group = request.groups[0]
        bounds = tuple(f for f in group if _is_id_bound(f))
        rest = tuple(f for f in group if not _is_id_bound(f))
        if not bounds or _modified_floor(rest) is None:
            return None
        base = SearchRequest((rest,), None, False, request.query, (), 1, 0)
        key = ("changed:" + base.cache_key(), self.portal.version)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._evaluate(base, keep=None)
        self._remember(key, cached)
        everything = cached[1]
        lo, hi = _index_range(self.portal, bounds)
        page = everything[bisect_left(everything, lo) : bisect_left(everything, hi)]
        if request.descending:
            page.reverse()
        return len(page), page[: MAX_RESULTS + MAX_LIMIT]

    def _evaluate(
        self, request: SearchRequest, keep: int | None = MAX_RESULTS + MAX_LIMIT
    ) -> tuple[int, list[int]]:
        """(total, the first ``keep`` matches in order; all of them when ``keep`` is None)."""
        portal = self.portal
        groups = request.groups or ((),)
        compiled = [(_index_range(portal, g), [_predicate(portal, f) for f in g]) for g in groups]
        lo = min(r[0] for r, _ in compiled)
        hi = max(r[1] for r, _ in compiled)
        words = request.query.lower().split() if request.query else []

        def matches(i: int) -> bool:
            if not portal.exists(i) or portal.archived(i):
                return False
            if words:
                text = " ".join((portal.value(i, p) or "") for p in _SEARCHABLE).lower()
                if not all(w in text for w in words):
                    return False
            return any(r[0] <= i < r[1] and all(p(i) for p in preds) for r, preds in compiled)

        candidates: list[int] | range = range(lo, hi)
        floors = [_modified_floor(g) for g in groups] if self.modified_index else [None]
        if all(floor is not None for floor in floors):  # every group: changed since start only
            changed: set[int] = set()
            for floor, ((g_lo, g_hi), _) in zip(floors, compiled, strict=True):
                assert floor is not None
                changed |= {i for i in portal.modified_since(floor) if g_lo <= i < g_hi}
            candidates = sorted(changed)

        sort = request.sort_property
        if sort is None or sort in _INDEX_ORDERED:
            order = reversed(candidates) if request.descending else candidates
            total, first = 0, []
            for i in order:
                if matches(i):
                    total += 1
                    if keep is None or total <= keep:
                        first.append(i)
            return total, first
        hits = [i for i in candidates if matches(i)]
        kind = portal.catalog.type_of(sort)
        keys = {i: _typed(kind, portal.value(i, sort)) for i in hits}
        present = [i for i in hits if keys[i] is not None]
        absent = [i for i in hits if keys[i] is None]
        present.sort(key=lambda i: (keys[i], i), reverse=request.descending)
        return len(hits), (present + absent)[:keep] if keep is not None else present + absent
