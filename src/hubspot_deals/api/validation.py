"""Pydantic's validation errors as the spec's ``errors`` map: field path -> a sentence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_MESSAGES = {
    "missing": "Field is required",
    "extra_forbidden": "Unknown field",
    "string_type": "Must be a string",
    "bool_type": "Must be true or false",
    "int_type": "Must be an integer",
    "list_type": "Must be a list",
    "model_type": "Must be an object",
    "dict_type": "Must be an object",
    "model_attributes_type": "Must be an object",
    "too_short": "Must not be empty",
    "string_too_short": "Must not be empty",
    "json_invalid": "Malformed JSON",
    "int_parsing": "Must be an integer",
    "int_from_float": "Must be an integer",
    "bool_parsing": "Must be true or false",
    # a safety net: every pattern a caller can miss has its own sentence, never the expression
    "string_pattern_mismatch": "Has characters or a form this field does not take",
}


def path(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "field_error":  # a model's check that names one of its fields (its ctx)
        return str(error.get("msg", "Invalid value"))
    if kind in ("value_error", "assertion_error"):
        text = str(error.get("msg", "Invalid value"))
        return text.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "string_too_long":
        return f"Must be at most {error.get('ctx', {}).get('max_length')} characters"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return str(error.get("msg", "Out of range")).replace("Input should be", "Must be")
    if kind in ("literal_error", "enum"):
        return str(error.get("msg", "Invalid value")).replace("Input should be", "Must be")
    return _MESSAGES.get(kind, str(error.get("msg", "Invalid value")))


def field_errors(errors: Sequence[Any], *, strip_first: bool = False) -> dict[str, str]:
    """First message per field path; ``strip_first`` drops FastAPI's leading "body"/"query"."""
    found: dict[str, str] = {}
    for error in errors:
        loc = list(error.get("loc", ()))
        if strip_first and len(loc) > 1:
            loc = loc[1:]
        if error.get("type") == "field_error":
            loc.append(error.get("ctx", {}).get("field", ""))
        found.setdefault(path(loc), message(error))
    return found
