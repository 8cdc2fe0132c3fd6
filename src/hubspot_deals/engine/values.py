"""HubSpot's property values (strings, always) read as their declared type.

A portal's property definitions give each property a ``type`` (and a ``fieldType``): numbers,
dates, datetimes, booleans and multi-value enumerations (``checkbox``) become numbers, dates,
moments, booleans and lists; everything else stays text. A value that does not fit its type (a
property an admin retyped keeps its old values) is never dropped: it stays text and is counted.
Exports type their columns with this; the results API keeps HubSpot's strings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

#: How multi-value enumerations join their values.
MULTI_SEPARATOR = ";"


class Kind(StrEnum):
    """What a property's values are, for typing them."""

    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    BOOL = "bool"
    MULTI = "multi"  # enumeration shown as checkboxes: several option values
    TEXT = "text"


def kind_of(type_: str, field_type: str) -> Kind:
    """The kind of a property from its HubSpot ``type`` and ``fieldType``."""
    if type_ == "enumeration":
        return Kind.MULTI if field_type == "checkbox" else Kind.TEXT
    return {
        "number": Kind.NUMBER,
        "date": Kind.DATE,
        "datetime": Kind.DATETIME,
        "bool": Kind.BOOL,
    }.get(type_, Kind.TEXT)


class Misfit(ValueError):
    """A value that is not of its property's type."""


def _moment(raw: str) -> datetime:
    if raw.isdigit():  # some calculated properties come as epoch milliseconds
        return datetime.fromtimestamp(int(raw) / 1000, UTC)
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _number(raw: str) -> float:
    number = float(raw)
    if not math.isfinite(number):
        raise ValueError(raw)
    return number


def _date(raw: str) -> date:
    return date.fromisoformat(raw) if len(raw) == 10 else _moment(raw).date()


_TRUTH = {"true": True, "false": False}


def _bool(raw: str) -> bool:
    return _TRUTH[raw.lower()]


def _multi(raw: str) -> list[str]:
    return [part for part in raw.split(MULTI_SEPARATOR) if part]


#: How each kind but text reads HubSpot's string (raising ValueError or KeyError when it cannot).
_READ: dict[Kind, Callable[[str], Any]] = {
    Kind.NUMBER: _number,
    Kind.DATE: _date,
    Kind.DATETIME: _moment,
    Kind.BOOL: _bool,
    Kind.MULTI: _multi,
}
_NOT_OF_KIND = (ValueError, KeyError, OverflowError, OSError)


def typed(kind: Kind, raw: str | None) -> Any:
    """The value as its kind (None for no value, and for an empty one but text's); raises Misfit
    when it is not of it."""
    if kind is Kind.TEXT or raw is None:
        return raw
    if raw == "":
        return None
    try:
        return _READ[kind](raw)
    except _NOT_OF_KIND as exc:
        raise Misfit(raw) from exc


def canonical_text(kind: Kind, raw: str | None) -> str | None:
    """The value's text in one form per kind (ISO dates and UTC moments, ``true``/``false``,
    numbers without trailing zeros); a misfit as HubSpot sent it."""
    try:
        value = typed(kind, raw)
    except Misfit:
        return raw
    if value is None:
        return None
    if kind is Kind.NUMBER:
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if kind is Kind.DATE:
        return str(value.isoformat())
    if kind is Kind.DATETIME:
        text = value.strftime("%Y-%m-%dT%H:%M:%S")
        millis = value.microsecond // 1000
        return f"{text}.{millis:03d}Z" if millis else f"{text}Z"
    if kind is Kind.BOOL:
        return "true" if value else "false"
    if kind is Kind.MULTI:
        return MULTI_SEPARATOR.join(value)
    return str(value)


@dataclass(frozen=True)
class ValueTypes:
    """Each property's kind, from a run's definitions; properties it does not know are text."""

    kinds: Mapping[str, Kind]
    _checked: list[tuple[str, Callable[[str], Any]]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the properties a value can misfit (text and lists take any): checked per deal, so
        # looked up once
        checked = [(n, _READ[k]) for n, k in self.kinds.items() if k not in (Kind.TEXT, Kind.MULTI)]
        object.__setattr__(self, "_checked", checked)

    @classmethod
    def of(cls, definitions: Iterable[Mapping[str, Any]]) -> ValueTypes:
        return cls({d["name"]: kind_of(d["type"], d["field_type"]) for d in definitions})

    def kind(self, name: str) -> Kind:
        return self.kinds.get(name, Kind.TEXT)

    def misfits(self, values: Mapping[str, str | None]) -> int:
        """How many of the values are not of their property's kind."""
        count = 0
        for name, read in self._checked:
            raw = values.get(name)
            if raw:
                try:
                    read(raw)
                except _NOT_OF_KIND:
                    count += 1
        return count
