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
        assert not sqlite, "SQLite's is the entry template's own %03d (_sqlite_entry)"
        digits = (
            f"CASE WHEN {column} < 100 THEN lpad({column}::text, 3, '0') ELSE {column}::text END"
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
    if dialect == "sqlite":
        return _sqlite_entry(entry)
    pieces = []
    for at, field in enumerate(entry.fields):
        key = ("{" if at == 0 else ",") + f'"{field.key}":'
        value = _value(field, dialect)
        if field.kind is Kind.JSON_IF_SET:
            pieces += ["''", _key_if_set(field, key, value, dialect)]
        else:
            pieces += [f"'{key}'", value]
    return f"convert_to(concat({', '.join(pieces)}, '}}'), 'UTF8')"


def _key_if_set(field: EntryField, key: str, value: str, dialect: str) -> str:
    """The key and its value, or nothing where the stored JSON is null."""
    return f"CASE WHEN {_is_null(field.column, dialect)} THEN '' ELSE '{key}' || {value} END"


def _sqlite_entry(entry: Entry) -> str:
    """The entry as one ``printf``. A run of text fields is one ``json_object`` with its braces
    cut off (the same quoting as a ``json_quote`` each, which cost 40% of a page's query), and
    the result id is the template's own ``%03d``."""
    template, values = [], []
    for at, fields in enumerate(_text_runs(entry)):
        opening, field = "{" if at == 0 else ",", fields[0]
        key = f'{opening}"{field.key}":'
        if len(fields) > 1:
            pairs = ", ".join(f"'{f.key}', {f.column}" for f in fields)
            # the object's first character is its brace, its last the one after a string or null
            template.append(f"{opening}%s")
            values.append(f"substr(rtrim(json_object({pairs}), '}}'), 2)")
        elif field.kind is Kind.RESULT_ID:
            template.append(f'{key}"result_%03d"')
            values.append(field.column)
        elif field.kind is Kind.JSON_IF_SET:
            template.append("%s")
            values.append(_key_if_set(field, key, _value(field, "sqlite"), "sqlite"))
        else:
            template.append(f"{key}%s")
            values.append(_value(field, "sqlite"))
    return f"CAST(printf('{''.join(template)}}}', {', '.join(values)}) AS BLOB)"


def _text_runs(entry: Entry) -> list[tuple[EntryField, ...]]:
    """The entry's fields in order, each run of consecutive text fields as one group."""
    runs: list[tuple[EntryField, ...]] = []
    for field in entry.fields:
        if field.kind is Kind.TEXT and runs and runs[-1][-1].kind is Kind.TEXT:
            runs[-1] = (*runs[-1], field)
        else:
            runs.append((field,))
    return runs
