"""A sandbox in the test's own process, reached through httpx's ASGI transport: the same app and
gateway as ``SandboxProcess`` without a process to start, for tests that make many small calls."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from hubspot_deals.sandbox import DEMO_TOKEN, Sandbox, SandboxConfig

LIST = "/crm/v3/objects/deals"
BATCH = "/crm/v3/objects/deals/batch/read"
SEARCH = "/crm/v3/objects/deals/search"
PROPERTIES = "/crm/v3/properties/deals"


class InProcess:
    """``Sandbox(SandboxConfig(...))`` with generous limits; no background churn (no lifespan)."""

    def __init__(self, **config: Any) -> None:
        settings = {"deals": 200, "rate_limit": 1_000_000, "search_rate": 1_000_000} | config
        self.sandbox = Sandbox(SandboxConfig(**settings))
        self.portal = self.sandbox.portal
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.sandbox.app),
            base_url="http://sandbox",
            headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
            trust_env=False,
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call, on an event loop of its own (the tests stay synchronous)."""
        return asyncio.run(self.client.request(method, path, **kwargs))

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.request("POST", path, json=body)

    def ok(self, reply: httpx.Response) -> Any:
        assert reply.status_code in (200, 207), reply.text
        return reply.json()

    def churn(self, **counts: int) -> dict[str, list[str]]:
        """``POST /_sandbox/churn``'s changed ids by kind."""
        changed: dict[str, list[str]] = self.ok(self.post("/_sandbox/churn", counts))["changed"]
        return changed

    def change(self, **body: Any) -> httpx.Response:
        """``POST /_sandbox/properties`` with this body."""
        return self.post("/_sandbox/properties", body)

    def truth(self, history: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """``GET /_sandbox/deals`` by deal id."""
        query = f"?history={','.join(history)}" if history else ""
        reply = self.get(f"/_sandbox/deals{query}")
        assert reply.status_code == 200
        deals = [orjson.loads(line) for line in reply.content.splitlines() if line]
        return {d["id"]: d for d in deals}

    def definitions(self, archived: bool = False) -> dict[str, dict[str, Any]]:
        body = self.ok(self.get(f"{PROPERTIES}?archived={str(archived).lower()}"))
        return {p["name"]: p for p in body["results"]}

    def search(self, *filters: dict[str, Any], **extra: Any) -> dict[str, Any]:
        body = {"filterGroups": [{"filters": list(filters)}] if filters else [], "limit": 200}
        result: dict[str, Any] = self.ok(self.post(SEARCH, body | extra))
        return result

    def search_ids(self, *filters: dict[str, Any], **extra: Any) -> list[str]:
        """Every id a search matches, page after page."""
        ids: list[str] = []
        after = 0
        while True:
            page = self.search(*filters, after=str(after), **extra)
            ids += [d["id"] for d in page["results"]]
            if "paging" not in page:
                return ids
            after = int(page["paging"]["next"]["after"])
