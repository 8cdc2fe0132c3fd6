"""What a process remembers of finished runs: their result counts and filter choices.

A finished run's rows never change, so a count under a filter (a table scan on PostgreSQL) is
worth keeping; a running run's is asked again each time. The runtime owns one of these, so a test
or a second app in one process starts from nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from hubspot_deals.store.deals import DealFilter, Facets

K = TypeVar("K")
V = TypeVar("V")

#: Entries kept per kind: a few hundred bytes each.
KEPT = 1024


class Recent(Generic[K, V]):
    """A bounded map that forgets the least recently used entry first."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self._kept:
            self._entries.popitem(last=False)


@dataclass
class ResultCaches:
    """Counts of finished runs' rows by filter (counting a million rows on every results page
    would cost more than the page) and their filter choices (the dashboard's)."""

    counts: Recent[tuple[str, DealFilter], int] = field(default_factory=Recent)
    facets: Recent[str, Facets] = field(default_factory=Recent)
