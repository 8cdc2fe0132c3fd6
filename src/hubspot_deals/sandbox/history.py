"""Property history: what churn created each deal with and every change it made since, and
``propertiesWithHistory`` computed from them and the seeded values (only changed deals store
anything)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hubspot_deals.sandbox.clock import iso_ms
from hubspot_deals.sandbox.data import DealGenerator, HistoryEntry

#: Seeded values set after creation, dated when they were set rather than at ``createdate``.
_SET_WITH_STAGE = frozenset(
    {
        "hs_deal_stage_probability",
        "hs_is_closed",
        "hs_is_closed_won",
        "hs_v2_date_entered_current_stage",
    }
)


def history_json(entry: HistoryEntry) -> dict[str, Any]:
    """A history entry as HubSpot's ``ValueWithTimestamp``."""
    out: dict[str, Any] = {
        "value": entry.value,
        "timestamp": iso_ms(entry.ms),
        "sourceType": entry.source_type,
    }
    if entry.user_id is not None:
        out["sourceId"] = f"userId:{entry.user_id}"
        out["updatedByUserId"] = entry.user_id
    if entry.source_label is not None:
        out["sourceLabel"] = entry.source_label
    return out


class ChangeLog:
    """Per deal: the values churn created it with (``born``, created deals only) and each change
    since, as (when, the properties set then), oldest first."""

    def __init__(self, gen: DealGenerator) -> None:
        self.gen = gen
        self.born: dict[int, dict[str, str | None]] = {}
        self.changes: dict[int, list[tuple[int, dict[str, str | None]]]] = {}

    def changed(self, index: int, when: int, changes: dict[str, str | None]) -> None:
        self.changes.setdefault(index, []).append((when, changes))

    def history(
        self, index: int, name: str, seeded: Callable[[int], str | None], created_ms: int
    ) -> list[dict[str, Any]]:
        """``propertiesWithHistory[name]`` (not ``dealstage``'s), newest first: the value the deal
        was created with, if it had one (sourced as its creation), then each change (the deal's
        user in the CRM), a cleared value as ``""``."""
        user = self.gen.user_id(index)
        born = self.born.get(index)
        entries: list[HistoryEntry] = []
        if born is not None:  # created by churn, through the UI
            first = born[name] if name in born else seeded(index)
            if first is not None:
                entries.append(HistoryEntry(first, created_ms, "CRM_UI", None, user))
        else:
            first = seeded(index)
            if first is not None:
                source = self.gen.creation_source(index)
                entries.append(HistoryEntry(first, self._seeded_at(index, name), *source))
        for when, changes in self.changes.get(index, ()):
            if name == "hs_lastmodifieddate":
                entries.append(HistoryEntry(iso_ms(when), when, "CRM_UI", None, user))
            elif name in changes:
                entries.append(HistoryEntry(changes[name] or "", when, "CRM_UI", None, user))
        return [history_json(e) for e in reversed(entries)]

    def _seeded_at(self, index: int, name: str) -> int:
        """When a seeded value was set: at creation, but for the stage's followers (when the
        stage was entered) and ``hs_lastmodifieddate`` (its own value)."""
        if name == "hs_lastmodifieddate":
            return self.gen.modified_ms(index)
        if name in _SET_WITH_STAGE:
            return self.gen.entered_stage_ms(index)
        return self.gen.created_ms(index)
