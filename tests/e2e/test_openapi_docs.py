"""The API's own documentation: Swagger UI and ReDoc served by the service (offline: no other
host named), and an OpenAPI document with an example for every request and answer, the start
request being the spec's own."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import SHARED
from tests.e2e.conftest import ServiceProcess

pytestmark = pytest.mark.mode_independent


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_need_no_other_host(service: ServiceProcess, page: str) -> None:
    html = service.get(page)
    assert html.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
    assert assets and all(a.startswith("/") for a in assets), assets  # this service's own
    for asset in assets:
        reply = service.get(asset)
        assert reply.status_code == 200 and len(reply.content) > 1000, asset
    assert "cdn" not in html.text.lower()


def spec_start_example() -> object:
    text = (SHARED / "api-spec.md").read_text(encoding="utf-8")
    section = text[text.index("### 1. Start Deal Extraction") :]
    return json.loads(section.split("```json", 1)[1].split("```", 1)[0])


def test_every_operation_has_examples(service: ServiceProcess) -> None:
    document = service.get("/openapi.json").json()
    paths = document["paths"]
    assert {"/health", "/stats", "/metrics", "/api/v1/health", "/api/v1/stats"} <= set(paths)
    for path, operations in paths.items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                body = operation["requestBody"]["content"]["application/json"]
                assert "example" in body, (method, path)
            answered = {
                code: response
                for code, response in operation["responses"].items()
                if code.startswith("2")
            }
            assert answered, (method, path)
            for code, response in answered.items():
                media = response.get("content", {})
                assert media and all("example" in m for m in media.values()), (method, path, code)
    start = paths["/api/v1/scan/start"]["post"]
    assert start["requestBody"]["content"]["application/json"]["example"] == spec_start_example()
