"""A results page's deals as JSON the database writes: each row's entry built in SQL, in C.

Read as columns, a page of 100 deals costs Python some 2,300 values to build, decode and
encode again (a row's tuple, its record, the entry's dict, orjson's pass over it), and that was
most of a results page's CPU (docs/benchmarks.md). Here SQLite or PostgreSQL concatenates each
entry from the stored values (strings quoted by the database's own JSON functions, the JSON
columns spliced in as the text they are stored as) and hands it over as bytes, which a response
joins as they are.

The entry's shape is the caller's (``EntryField``: which key holds which column, and how); this
module knows only how each kind of field is written in each dialect.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.Enum):
    """How a column is written into an entry."""

    #: the row id as ``"result_NNN"`` (at least three digits)
    RESULT_ID = "result_id"
    #: a string; null when NULL
    TEXT = "text"
    #: a float, to the last digit; null when NULL
    NUMBER = "number"
    BOOLEAN = "boolean"
    #: stored JSON, spliced in as stored
    JSON = "json"
    #: stored JSON, ``{}`` in place of null
    JSON_OR_OBJECT = "json_or_object"
    #: stored JSON, ``[]`` in place of null
    JSON_OR_LIST = "json_or_list"
    #: stored JSON; the key is left out where it is null
    JSON_IF_SET = "json_if_set"


@dataclass(frozen=True)
class EntryField:
    key: str
    column: str
    kind: Kind


@dataclass(frozen=True, eq=False)
class Entry:
    """An entry's fields in their order. Compared and hashed as the one object it is: a page's
    query is looked up by it on every request, and hashing 22 fields cost 3.6 µs each time."""

    fields: tuple[EntryField, ...]

    def __post_init__(self) -> None:
        if self.fields[0].kind is Kind.JSON_IF_SET:
            raise ValueError("an entry's first field is always written")


def _is_null(column: str, dialect: str) -> str:
    """Whether stored JSON is null: SQL NULL, or the text ``null`` (what None is stored as)."""
    text = column if dialect == "sqlite" else f"{column}::text"
    return f"({column} IS NULL OR {text} = 'null')"


def _value(field: EntryField, dialect: str) -> str:
    """The SQL of a field's JSON value, as text."""
    column, kind = field.column, field.kind
    sqlite = dialect == "sqlite"
    if kind is Kind.RESULT_ID:
        digits = (
            f"printf('%03d', {column})"
            if sqlite
            else f"CASE WHEN {column} < 100 THEN lpad({column}::text, 3, '0') "
            f"ELSE {column}::text END"
        )
        return f"""'"result_' || {digits} || '"'"""
    if kind is Kind.TEXT:
        return f"json_quote({column})" if sqlite else f"COALESCE(to_json({column})::text, 'null')"
    if kind is Kind.NUMBER:
        if not sqlite:  # PostgreSQL writes floats' shortest exact form
            return f"COALESCE(to_json({column})::text, 'null')"
        # SQLite's JSON writes 15 digits, which may not be the float stored: 17 where needed
        short = f"printf('%!.15g', {column})"
        return (
            f"CASE WHEN {column} IS NULL THEN 'null' WHEN CAST({short} AS REAL) = {column} "
            f"THEN {short} ELSE printf('%!.17g', {column}) END"
        )
    if kind is Kind.BOOLEAN:
        return f"CASE WHEN {column} THEN 'true' ELSE 'false' END"
    stored = column if sqlite else f"{column}::text"
    fallback = {Kind.JSON_OR_OBJECT: "'{}'", Kind.JSON_OR_LIST: "'[]'"}.get(kind, "'null'")
    return f"CASE WHEN {_is_null(column, dialect)} THEN {fallback} ELSE {stored} END"


def entry_sql(entry: Entry, dialect: str) -> str:
    """One row's entry as a UTF-8 byte string (``sqlite`` or ``postgresql``), for a SELECT list.

    Written in one call (SQLite's ``printf``, PostgreSQL's ``concat``), not as a chain of ``||``,
    each of which copies the entry so far: a row's 40 of them cost more than the rest."""
    literals, values = [], []
    for at, field in enumerate(entry.fields):
        key = ("{" if at == 0 else ",") + f'"{field.key}":'
        value = _value(field, dialect)
        if field.kind is Kind.JSON_IF_SET:  # the key and its value, or nothing
            value = (
                f"CASE WHEN {_is_null(field.column, dialect)} THEN '' ELSE '{key}' || {value} END"
            )
            key = ""
        literals.append(key)
        values.append(value)
    if dialect == "sqlite":
        template = "%s".join(literals) + "%s}"
        return f"CAST(printf('{template}', {', '.join(values)}) AS BLOB)"
    pieces = [part for pair in zip(literals, values, strict=True) for part in pair]
    joined = ", ".join(f"'{piece}'" if at % 2 == 0 else piece for at, piece in enumerate(pieces))
    return f"convert_to(concat({joined}, '}}'), 'UTF8')"
