"""A request's JSON body read as the spec's validation wants it: the content type checked, the
size capped while it streams in, malformed JSON and every field's error in the envelope's
``errors`` map."""

from __future__ import annotations

import json
from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from hubspot_deals.api.errors import ApiError, ValidationFailed
from hubspot_deals.api.validation import field_errors

Model = TypeVar("Model", bound=BaseModel)
#: A config is a few hundred bytes; a thousand property names still fit many times over.
MAX_BODY_BYTES = 1_000_000


async def json_body(request: Request, model: type[Model]) -> Model:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ValidationFailed({"body": "Content-Type must be application/json"})
    raw = bytearray()
    async for chunk in request.stream():  # never more than the cap in memory, whatever is sent
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise ApiError(
                413,
                "PAYLOAD_TOO_LARGE",
                "The request body is too large",
                {"max_bytes": MAX_BODY_BYTES},
            )
    if not raw.strip():
        raise ValidationFailed({"body": "Request body is required"})
    try:
        data = json.loads(raw)
    except RecursionError:
        raise ValidationFailed({"body": "Malformed JSON: nested too deeply"}) from None
    except ValueError as exc:  # also UnicodeDecodeError and Python's 4,300-digit limit on ints
        raise ValidationFailed({"body": f"Malformed JSON: {exc}"}) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc.errors())) from None
