"""The OpenAPI document, made true to what the service answers.

FastAPI describes validation failures as 422 (we answer 400 in the spec's envelope), knows nothing of
what the middleware answers on every route (401, 429, 500, 503 and the rate-limit headers), and cannot
see the start body, which the route reads itself to answer malformed JSON in the envelope.
Schemathesis holds the document to the service (tests/reliability/test_fuzz.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from hubspot_deals.api.examples import EXAMPLES
from hubspot_deals.api.middleware import UNMETERED_PATHS
from hubspot_deals.api.requests import StartScanRequest
from hubspot_deals.api.schedule_requests import CreateSchedule, UpdateSchedule

API_PREFIX = "/api/v1"
ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
#: What any operation may answer besides its own outcomes.
EVERYWHERE = {
    "401": "An X-API-Key is missing or not valid (when the service uses keys)",
    "429": "Rate limit exceeded (the service's own): see Retry-After",
    "500": "Unexpected server error",
    "503": "The database or Redis does not answer; retry later",
}
_INT = {"schema": {"type": "integer"}}
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The request's id, as in logs and error bodies",
        "schema": {"type": "string"},
    },
    "X-RateLimit-Limit": {"description": "Requests allowed a minute", **_INT},
    "X-RateLimit-Remaining": {"description": "Requests left in this minute", **_INT},
    "X-RateLimit-Reset": {"description": "Unix time when the minute's window resets", **_INT},
}


def install(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _true_to_the_service(original())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _true_to_the_service(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    # the bodies the routes read themselves (api/json_body.py), documented as they are checked
    for model in (StartScanRequest, CreateSchedule, UpdateSchedule):
        body = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(body.pop("$defs", {}))
        components[model.__name__] = body
    for name in ("ValidationError", "HTTPValidationError"):  # FastAPI's 422 bodies, never sent
        components.pop(name, None)
    schema["components"]["securitySchemes"] = {
        "ApiKey": {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "Needed once any key exists (or with REQUIRE_API_KEY): `hubspot-deals "
            "keys create`. The key binds the caller to its organization.",
        }
    }
    for path, ops in schema["paths"].items():
        for method, operation in ops.items():
            keyed = path.startswith(API_PREFIX) or path == "/stats"  # the root's stats: keyed too
            _complete(operation, keyed=keyed, metered=path not in UNMETERED_PATHS)
            _add_examples(operation, EXAMPLES.get((method, path), {}))
    return schema


def _add_examples(operation: dict[str, Any], examples: dict[str, Any]) -> None:
    """The request's and each answer's example, under its media type (JSON unless the table
    names others, as the export's and /metrics' do)."""
    if "request" in examples:
        operation["requestBody"]["content"]["application/json"]["example"] = examples["request"]
    for code, example in examples.get("responses", {}).items():
        content = operation["responses"][code].setdefault("content", {})
        by_media = example if all("/" in key for key in example) else {"application/json": example}
        for media, value in by_media.items():
            content.setdefault(media, {})["example"] = value


def _complete(operation: dict[str, Any], *, keyed: bool, metered: bool) -> None:
    if keyed:  # or no key at all, while the service runs open
        operation["security"] = [{"ApiKey": []}, {}]
    responses: dict[str, Any] = operation["responses"]
    responses.pop("422", None)
    if operation.get("parameters") or "requestBody" in operation:
        responses.setdefault("400", _error("Invalid input: see `errors`, keyed by field"))
    for code, description in EVERYWHERE.items():
        if (code != "401" or keyed) and (code != "429" or metered):
            responses.setdefault(code, _error(description))
    for code, response in responses.items():
        headers = response.setdefault("headers", {})
        headers.update(HEADERS)
        if code in ("429", "503"):
            headers["Retry-After"] = {"description": "Seconds to wait", **_INT}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}
