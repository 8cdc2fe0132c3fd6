"""The base of the start request's models: unknown keys are errors, types are strict, and an
optional field given ``null`` is a field not given."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler, model_validator
from pydantic.config import JsonDict
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema


class Strict(BaseModel):
    """Unknown keys are errors, types are strict, and an optional field given ``null`` is a field
    not given (the spec's own example sends ``"pipelineId": null``): its default applies."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        return {
            key: value
            for key, value in data.items()
            if value is not None or key not in fields or fields[key].is_required()
        }

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The document says so too: every optional field also takes ``null``."""
        schema = handler(core_schema)
        resolved = handler.resolve_ref_schema(schema)
        properties = resolved.get("properties", {})
        for name, field in cls.model_fields.items():
            given = properties.get(name)
            if given is None or field.is_required() or _takes_null(given):
                continue
            meta = {k: given.pop(k) for k in ("title", "default", "description") if k in given}
            properties[name] = {"anyOf": [given, {"type": "null"}], **meta}
        return schema


def _takes_null(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "null" or any(_takes_null(s) for s in schema.get("anyOf", []))


def given_without(given: dict[str, str], absent: dict[str, str]) -> JsonDict:
    """JSON Schema for "these fields given, none of those", each by its JSON type: a field given
    ``null`` is a field not given, as everywhere in the config."""

    def present(fields: dict[str, str]) -> JsonDict:
        return {"required": list(fields), "properties": {f: {"type": t} for f, t in fields.items()}}

    return present(given) | {"not": {"anyOf": [present({f: t}) for f, t in absent.items()]}}
