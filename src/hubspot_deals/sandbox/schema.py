"""One portal's property schema: its definitions (HubSpot's, the custom ones it was started with and
those the side door adds, retypes or archives) and where each property's seeded values come from.

Every part of the sandbox asks the portal's ``Catalog`` which properties exist and of what type,
so two sandboxes in one process can have different schemas.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from hubspot_deals.sandbox.catalog import PROPERTIES, PropertySpec
from hubspot_deals.sandbox.custom_properties import (
    BOOL_OPTIONS,
    FIELD_TYPES,
    FIELD_TYPES_BY_TYPE,
    TYPES,
    generated_property,
    seeded_values,
)
from hubspot_deals.sandbox.data import DealGenerator

#: Most custom properties ``--custom-properties`` (and ``SandboxConfig.custom_properties``) takes.
MAX_CUSTOM_PROPERTIES = 2_000
#: Writable properties churn's updates leave alone: the stage and amount change on their own terms,
#: the pipeline holds the stage, the currency the amount's conversion, the owner whose user the
#: history names, and the name by which people know the deal.
_CHURN_KEEPS = frozenset(
    {"dealstage", "amount", "pipeline", "deal_currency_code", "hubspot_owner_id", "dealname"}
)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
_CREATE_KEYS = frozenset(
    {"name", "label", "type", "fieldType", "options", "groupName", "description", "hidden"}
)

Values = Callable[[int], str | None]


class SchemaError(ValueError):
    """A schema change the portal refuses (nothing of it was applied)."""


@dataclass(frozen=True)
class SchemaChange:
    create: tuple[PropertySpec, ...] = ()
    archive: tuple[str, ...] = ()
    retype: tuple[tuple[str, str, str, tuple[tuple[str, str], ...] | None], ...] = ()


class Catalog:
    """The portal's property definitions, archived ones included, in display order; ``sources``
    holds the live ones' seeded values (overrides churn made are the portal's business)."""

    def __init__(self, gen: DealGenerator, custom_properties: int = 0) -> None:
        if not 0 <= custom_properties <= MAX_CUSTOM_PROPERTIES:
            raise ValueError(f"custom properties are 0 to {MAX_CUSTOM_PROPERTIES}")
        self.gen = gen
        self._specs: dict[str, PropertySpec] = {}
        self.sources: dict[str, Values] = {}
        for spec in PROPERTIES:
            self._specs[spec.name] = spec
            if not spec.archived:
                self.sources[spec.name] = gen.source(spec.name)
        for k in range(custom_properties):
            self._add(generated_property(k))
        self.version = 0
        self._writable: tuple[int, tuple[str, ...]] = (-1, ())

    def _add(self, spec: PropertySpec) -> None:
        self._specs[spec.name] = spec
        self.sources[spec.name] = seeded_values(spec, self.gen)

    def __contains__(self, name: object) -> bool:
        return name in self.sources

    def spec(self, name: str) -> PropertySpec | None:
        """The live definition of ``name``; None for unknown and archived names."""
        return self._specs[name] if name in self.sources else None

    def type_of(self, name: str) -> str:
        spec = self.spec(name)
        return spec.type if spec else "string"

    def names(self) -> tuple[str, ...]:
        return tuple(self.sources)

    def definitions(self, archived: bool) -> list[dict[str, Any]]:
        """``GET /crm/v3/properties/deals``: the live definitions, or only the archived ones."""
        return [
            spec.json(n) for n, spec in enumerate(self._specs.values()) if spec.archived == archived
        ]

    def writable(self) -> tuple[str, ...]:
        """What churn's updates may set besides the stage and amount: no read-only or calculated
        property, none of ``_CHURN_KEEPS``."""
        if self._writable[0] != self.version:
            names = tuple(
                name
                for name, spec in self._specs.items()
                if name in self.sources
                and not (spec.read_only or spec.calculated or name in _CHURN_KEEPS)
            )
            self._writable = (self.version, names)
        return self._writable[1]

    # -- changes while it runs (the side door) ----------------------------------------------------

    def parse(self, body: Any) -> SchemaChange:
        """``POST /_sandbox/properties``'s body checked against this schema; raises SchemaError."""
        if not isinstance(body, dict) or not set(body) <= {"create", "archive", "retype"}:
            raise SchemaError(
                'Send {"create": [...], "archive": [names], "retype": {name: {"type": ..., '
                '"fieldType": ...}}}, each optional.'
            )
        create = body.get("create", [])
        archive = body.get("archive", [])
        retype = body.get("retype", {})
        if not isinstance(create, list) or not isinstance(retype, dict):
            raise SchemaError("create is a list of property definitions; retype an object.")
        if not isinstance(archive, list) or not all(isinstance(n, str) for n in archive):
            raise SchemaError("archive is a list of property names.")
        created = tuple(self._check_create(item) for item in create)
        named = [s.name for s in created] + list(archive) + list(retype)
        repeated = sorted({n for n in named if named.count(n) > 1})
        if repeated:
            raise SchemaError(f"Each property may appear once in a change: {repeated}.")
        for name in [*archive, *retype]:
            spec = self.spec(name)
            if spec is None:
                raise SchemaError(f"Property {name} does not exist.")
            if spec.hubspot_defined:
                raise SchemaError(f"{name} is HubSpot-defined: it cannot be archived or changed.")
        retyped = tuple(self._check_retype(name, change) for name, change in retype.items())
        return SchemaChange(created, tuple(archive), retyped)

    def _check_create(self, item: Any) -> PropertySpec:
        if not isinstance(item, dict) or not set(item) <= _CREATE_KEYS:
            raise SchemaError(f"A property to create has the keys {sorted(_CREATE_KEYS)}.")
        name, label = item.get("name"), item.get("label")
        if not isinstance(name, str) or not _NAME.match(name):
            raise SchemaError(
                f"name {name!r}: lower-case letters, digits and underscores, from a letter."
            )
        if name in self._specs:
            raise SchemaError(f"A property named {name} already exists.")
        if not isinstance(label, str) or not label.strip():
            raise SchemaError(f"{name}: label is a non-empty string.")
        group = item.get("groupName", "deal_custom")
        hidden = item.get("hidden", False)
        description = item.get("description")
        if (
            not isinstance(group, str)
            or not group
            or not isinstance(hidden, bool)
            or not isinstance(description, str | None)
        ):
            raise SchemaError(f"{name}: groupName and description are strings, hidden a boolean.")
        kind, field_type = item.get("type"), item.get("fieldType")
        options = _check_type(name, kind, field_type, item.get("options"), ())
        calculated = field_type == "calculation_equation"
        return PropertySpec(
            name,
            label,
            str(kind),
            str(field_type),
            group=group,
            options=options,
            hubspot_defined=False,
            calculated=calculated,
            read_only=calculated,
            hidden=hidden,
            description=description,
        )

    def _check_retype(
        self, name: str, change: Any
    ) -> tuple[str, str, str, tuple[tuple[str, str], ...] | None]:
        if not isinstance(change, dict) or not set(change) <= {"type", "fieldType", "options"}:
            raise SchemaError(f'retype.{name}: send {{"type": ..., "fieldType": ...}}.')
        spec = self._specs[name]
        kind, field_type = change.get("type", spec.type), change.get("fieldType", spec.field_type)
        options = _check_type(name, kind, field_type, change.get("options"), spec.options)
        return name, str(kind), str(field_type), options

    def apply(self, change: SchemaChange, stamp: str) -> dict[str, list[dict[str, Any]]]:
        """Carry out a parsed change, dated ``stamp``; the new definitions, by operation."""
        for spec in change.create:
            self._add(replace(spec, created_at=stamp, updated_at=stamp))
        for name, kind, field_type, options in change.retype:
            calculated = field_type == "calculation_equation"
            self._specs[name] = replace(
                self._specs[name],
                type=kind,
                field_type=field_type,
                options=options or (),
                calculated=calculated,
                read_only=calculated,
                extra={},
                updated_at=stamp,
            )
        for name in change.archive:
            self._specs[name] = replace(
                self._specs[name], archived=True, archived_at=stamp, updated_at=stamp
            )
            del self.sources[name]
        self.version += 1
        order = {name: n for n, name in enumerate(self._specs)}

        def shown(names: list[str]) -> list[dict[str, Any]]:
            return [self._specs[n].json(order[n]) for n in names]

        return {
            "created": shown([s.name for s in change.create]),
            "retyped": shown([r[0] for r in change.retype]),
            "archived": shown(list(change.archive)),
        }


def _check_type(
    name: str,
    kind: Any,
    field_type: Any,
    options: Any,
    current: tuple[tuple[str, str], ...],
) -> tuple[tuple[str, str], ...]:
    """The options a property of this type and field type has; SchemaError for a type or field
    type HubSpot does not have, or a pair it does not make, or an enumeration without options."""
    if kind not in FIELD_TYPES_BY_TYPE:
        raise SchemaError(f"{name}: type {kind!r} is not one of {list(TYPES)}.")
    if field_type not in FIELD_TYPES:
        raise SchemaError(f"{name}: fieldType {field_type!r} is not one of {list(FIELD_TYPES)}.")
    if field_type not in FIELD_TYPES_BY_TYPE[kind]:
        raise SchemaError(
            f"{name}: a {kind} property has the fieldType "
            f"{' or '.join(sorted(FIELD_TYPES_BY_TYPE[kind]))}, not {field_type}."
        )
    if options is not None:
        if not isinstance(options, list) or not all(
            isinstance(o, dict)
            and isinstance(o.get("label"), str)
            and isinstance(o.get("value"), str)
            and o["value"]
            for o in options
        ):
            raise SchemaError(f'{name}: options are [{{"label": ..., "value": ...}}, ...].')
        current = tuple((o["value"], o["label"]) for o in options)
    if kind == "bool":
        return current or BOOL_OPTIONS
    if kind == "enumeration":
        if not current:
            raise SchemaError(f"{name}: an enumeration needs options.")
        return current
    return ()
