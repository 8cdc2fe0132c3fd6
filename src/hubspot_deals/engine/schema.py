"""The property definitions a run uses, settled once when it first starts and kept with it.

A run of ``"properties": "all"`` extracts every property the portal defines at that moment
(hidden ones included); any run keeps the definitions of what it extracts, which type its
exports and answer ``/scan/schema``. A resumed run reads the definitions it kept, so its rows
never change shape halfway. Against the definitions of the run the scan id served before, the
run records what changed: properties added, removed, or retyped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hubspot_deals.engine.context import ScanContext, Stop
from hubspot_deals.engine.spec import ScanSpec
from hubspot_deals.hubspot import PropertyDefinition
from hubspot_deals.store.jobs import JobRepository, Lease
from hubspot_deals.store.models import ScanJob
from hubspot_deals.store.schemas import SchemaRepository


def kept_definition(p: PropertyDefinition) -> dict[str, Any]:
    """What a run keeps of a definition (``/scan/schema`` answers it in HubSpot's names)."""
    return {
        "name": p.name,
        "label": p.label,
        "type": p.type,
        "field_type": p.field_type,
        "group": p.group_name,
        "options": [{"value": o.value, "label": o.label} for o in p.options],
        "hidden": p.hidden,
        "calculated": p.calculated,
        "hubspot_defined": bool(p.hubspot_defined),
    }


def chosen(spec: ScanSpec, found: Sequence[PropertyDefinition]) -> list[dict[str, Any]]:
    """The definitions of what the run extracts: all of them, or the named ones the portal has
    (in the config's order)."""
    live = {p.name: p for p in found if not p.archived}
    if spec.all_properties:
        return [kept_definition(p) for p in sorted(live.values(), key=lambda p: p.name)]
    names = dict.fromkeys([*spec.properties, *spec.history_properties])
    return [kept_definition(live[name]) for name in names if name in live]


def changes_between(
    before: list[dict[str, Any]] | None, after: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """Properties added, removed and retyped from ``before`` to ``after`` (None: no before)."""
    if before is None:
        return None
    old = {d["name"]: d for d in before}
    new = {d["name"]: d for d in after}
    return {
        "added": [name for name in new if name not in old],
        "removed": [name for name in old if name not in new],
        "retyped": [
            {"name": name, "from": _type_of(old[name]), "to": _type_of(d)}
            for name, d in new.items()
            if name in old and _type_of(old[name]) != _type_of(d)
        ],
    }


def _type_of(definition: dict[str, Any]) -> dict[str, str]:
    return {"type": definition["type"], "field_type": definition["field_type"]}


@dataclass(frozen=True)
class RunSchema:
    definitions: list[dict[str, Any]]
    changes: dict[str, Any] | None

    @property
    def names_changed(self) -> bool:
        """Properties came or went since the run served before (its rows lack or hold others)."""
        return bool(self.changes and (self.changes["added"] or self.changes["removed"]))


async def settle_schema(
    ctx: ScanContext,
    job: ScanJob,
    lease: Lease,
    spec: ScanSpec,
    found: Sequence[PropertyDefinition],
) -> RunSchema:
    """The run's definitions: those it kept when it first started, else ``found``'s, kept now
    with what changed since the run served before."""
    async with ctx.sessions() as session:
        schemas = SchemaRepository(session)
        kept = await schemas.of(job.id)
        if kept is not None:
            return RunSchema(kept, job.schema_changes)
        definitions = chosen(spec, found)
        changes = changes_between(await schemas.served_before(job), definitions)
        await schemas.keep(job.id, definitions)
        if not await JobRepository(session).update_if_running(
            job.id, lease, schema_changes=changes
        ):
            raise Stop
        await session.commit()
    return RunSchema(definitions, changes)
