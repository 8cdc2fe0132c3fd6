"""What a scan's config names that the portal does not have, in words, with the closest name.

A typo in a property, a pipeline or a stage id does not fail a scan (HubSpot itself ignores
unknown property names and matches nothing for an unknown pipeline): it yields nulls or no
deals, silently. The run reports each one as a warning and goes on.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from hubspot_deals.engine.spec import ScanSpec
from hubspot_deals.hubspot import Pipeline, PropertyDefinition

#: The property types a date filter compares as moments.
MOMENT_TYPES = ("date", "datetime")


def _closest(name: str, known: Iterable[str]) -> str:
    found = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f" (did you mean '{found[0]}'?)" if found else ""


def config_warnings(
    spec: ScanSpec, properties: Sequence[PropertyDefinition], pipelines: Sequence[Pipeline]
) -> list[str]:
    """One sentence per name the portal lacks; empty when everything is known."""
    types = {p.name: p.type for p in properties}
    warnings = [
        f"Property '{name}' does not exist in this portal{_closest(name, types)}: "
        "its values are null."
        for name in dict.fromkeys([*spec.properties, *spec.history_properties])
        if name not in types
    ]
    filters = spec.filters
    date = filters.date_property
    if date is not None and date not in types:
        warnings.append(
            f"dateFilter.property '{date}' does not exist in this portal{_closest(date, types)}: "
            "the date filter matches no deals."
        )
    elif date is not None and types[date] not in MOMENT_TYPES:
        warnings.append(
            f"dateFilter.property '{date}' is a {types[date]} property, not a date or datetime: "
            "the date filter does not select by date."
        )
    by_id = {p.id: p for p in pipelines}
    pipeline = filters.pipeline_id
    if pipeline is not None and pipeline not in by_id:
        warnings.append(
            f"filters.pipelineId '{pipeline}' is not a pipeline of this portal"
            f"{_closest(pipeline, by_id)}: no deal matches it."
        )
    stage = filters.dealstage
    searched = [by_id[pipeline]] if pipeline in by_id else list(by_id.values())
    stages = {s.id for p in searched for s in p.stages}
    if stage is not None and stage not in stages:
        where = f"pipeline '{pipeline}'" if pipeline in by_id else "any pipeline of this portal"
        warnings.append(
            f"filters.dealstage '{stage}' is not a stage of {where}{_closest(stage, stages)}: "
            "no deal matches it."
        )
    return warnings
