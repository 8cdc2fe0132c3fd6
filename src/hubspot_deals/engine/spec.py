"""What a scan does, typed: the engine's one input about a scan.

The API builds it once from the validated config (``ScanConfig.to_spec``); it is stored with the
job in its own form (``to_stored``: the spec's field names, not the API's camelCase) and read back
by whichever process runs the scan. Below the API nothing reads a config dict: the engine, the
exports and the jobs services ask the spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from hubspot_deals.engine.filters import ScanFilters
from hubspot_deals.engine.rows import DEFAULT_PROPERTIES, ROW_PROPERTIES
from hubspot_deals.store.models import ScanJob


@dataclass(frozen=True)
class ScanSpec:
    scan_id: str
    #: the properties every row holds (the defaults filled in); with ``all_properties``, empty
    #: until the run resolves it from the portal's definitions (``resolved``)
    properties: tuple[str, ...] = DEFAULT_PROPERTIES
    #: every property the portal defines when the run starts (``"properties": "all"``)
    all_properties: bool = False
    #: properties whose every value each row carries (``propertiesWithHistory``)
    history_properties: tuple[str, ...] = ()
    #: the association types every row holds; empty when associations were not asked for
    association_types: tuple[str, ...] = ()
    stage_history: bool = False
    batch_size: int = 100
    incremental: bool = False
    refresh_associations: bool = False
    filters: ScanFilters = field(default_factory=ScanFilters)
    #: the HubSpot the service that took the scan talks to: a worker set up for another one
    #: refuses the scan rather than send its token elsewhere (None: runs stored before it)
    hubspot_url: str | None = None

    def fetched_properties(self) -> list[str]:
        """What the scan asks HubSpot for: its properties, those the row's own columns need, and
        the date filter's property."""
        date = self.filters.date_property
        return list(dict.fromkeys([*self.properties, *ROW_PROPERTIES, *([date] if date else [])]))

    def history_names(self) -> list[str]:
        """What the scan asks HubSpot's history of: its ``propertiesWithHistory``, and
        ``dealstage`` for stage history."""
        stage = ["dealstage"] if self.stage_history else []
        return list(dict.fromkeys([*stage, *self.history_properties]))

    def resolved(self, names: Sequence[str]) -> ScanSpec:
        """The spec with the properties a run of ``"all"`` found (the others keep theirs)."""
        return replace(self, properties=tuple(names)) if self.all_properties else self

    def same_shape(self, other: ScanSpec) -> bool:
        """True when both make rows of the same kind from the same deals: one run's deals can be
        the other's starting point."""

        def shape(spec: ScanSpec) -> tuple[Any, ...]:
            properties = () if spec.all_properties else spec.properties
            return (
                properties,
                spec.all_properties,
                spec.history_properties,
                spec.association_types,
                spec.stage_history,
                spec.filters,
            )

        return shape(self) == shape(other)

    def to_stored(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> ScanSpec:
        return cls(
            scan_id=stored["scan_id"],
            properties=tuple(stored["properties"]),
            all_properties=stored.get("all_properties", False),
            history_properties=tuple(stored.get("history_properties", ())),
            association_types=tuple(stored["association_types"]),
            stage_history=stored["stage_history"],
            batch_size=stored["batch_size"],
            incremental=stored["incremental"],
            refresh_associations=stored["refresh_associations"],
            filters=ScanFilters(**stored["filters"]),
            hubspot_url=stored.get("hubspot_url"),
        )


def spec_of(job: ScanJob) -> ScanSpec:
    """The spec a job was started with."""
    if job.spec is None:
        raise ValueError(f"job {job.id} has no stored scan spec")
    return ScanSpec.from_stored(job.spec)
