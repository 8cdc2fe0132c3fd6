"""What a scan's filters narrow (pipeline, stage, a date range, changes since a moment): as search
filters, and as a test of a deal for what search cannot return (archived deals)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hubspot_deals.hubspot import Deal


@dataclass(frozen=True)
class ScanFilters:
    include_archived: bool = False
    pipeline_id: str | None = None
    dealstage: str | None = None
    date_property: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None  # inclusive
    #: an incremental run's lower bound on hs_lastmodifieddate (search only, never the bin)
    modified_since_ms: int | None = None

    @property
    def narrowing(self) -> bool:
        return any(
            v is not None
            for v in (
                self.pipeline_id,
                self.dealstage,
                self.start_ms,
                self.end_ms,
                self.modified_since_ms,
            )
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
        if self.modified_since_ms is not None:
            filters.append(
                {
                    "propertyName": "hs_lastmodifieddate",
                    "operator": "GTE",
                    "value": str(self.modified_since_ms),
                }
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
