"""The sandbox ASGI app: HubSpot's deal endpoints behind a HubSpot-like gateway, plus ``/_sandbox``.

``/_sandbox/*`` is the test harness's side door (ground truth, counters, fault switch, churn on
demand, schema changes); it is never under ``/crm``, needs no token and is never rate limited or faulted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hubspot_deals.sandbox import responses
from hubspot_deals.sandbox.catalog import ALL_SCOPES, DEALS_READ, Account
from hubspot_deals.sandbox.churn import (
    DEFAULT_CHURN_KINDS,
    Churner,
)
from hubspot_deals.sandbox.endpoints import Endpoints
from hubspot_deals.sandbox.gateway import (
    BURST_WINDOW_MS,
    DEFAULT_FAULT_KINDS,
    Gateway,
    GatewaySettings,
    Policy,
    ScopeRule,
)
from hubspot_deals.sandbox.oauth import (
    DEFAULT_LIFETIME_S,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_REFRESH_TOKEN,
    OAuthServer,
)
from hubspot_deals.sandbox.params import EDITIONS, BadRequest, list_param
from hubspot_deals.sandbox.portal import Portal, inline_association_key
from hubspot_deals.sandbox.responses import JSONResponse
from hubspot_deals.sandbox.side_door import SideDoor

#: The demo token has every scope the service uses. It is printed when the sandbox starts.
DEMO_TOKEN = "pat-na1-5a4db0c5-0000-4000-8000-00000000d3m0"  # noqa: S105 - public, sandbox only
_ASSOCIATION_SCOPES = {
    "contacts": "crm.objects.contacts.read",
    "companies": "crm.objects.companies.read",
    "line_items": "crm.objects.line_items.read",
}


@dataclass
class SandboxConfig:
    """Every knob of the sandbox; the CLI flags map one to one onto these fields."""

    deals: int = 10_000
    seed: int = 42
    custom_properties: int = 0  # generated custom properties of every type (0..2,000)
    portal_id: int = 48_151_623
    ui_domain: str = "app.hubspot.com"
    latency_ms: float = 0.0
    rate_limit: int = 150  # per rolling burst window, per token
    burst_window_ms: int = BURST_WINDOW_MS  # HubSpot's is 10 s; tests shorten it
    search_rate: int = 5  # per second, per account
    daily_limit: int = 500_000
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = DEFAULT_FAULT_KINDS
    stall_seconds: float = 5.0
    retry_after_s: int = 1
    churn: float = 0.0  # changes per second
    churn_kinds: tuple[str, ...] = DEFAULT_CHURN_KINDS  # among portal.CHURN_KINDS
    tokens: dict[str, tuple[str, ...]] = field(default_factory=dict)
    editions: tuple[str, ...] = EDITIONS  # the API editions served (params.EDITIONS)
    token_lifetime_s: float = DEFAULT_LIFETIME_S  # OAuth access tokens'
    rotate_refresh_tokens: bool = False  # each refresh issues a new refresh token
    oauth_apps: dict[str, str] = field(default_factory=dict)  # client id -> secret, and the demo's

    def all_tokens(self) -> dict[str, frozenset[str]]:
        return {DEMO_TOKEN: frozenset(ALL_SCOPES)} | {
            t: frozenset(s) for t, s in self.tokens.items()
        }


def _deals_read(request: Request) -> list[tuple[str, ...]]:
    return [(DEALS_READ,)]


def _deals_with_inline(request: Request) -> list[tuple[str, ...]]:
    needed: list[tuple[str, ...]] = [(DEALS_READ,)]
    for name in list_param(request, "associations"):
        key = inline_association_key(name)
        if key:
            needed.append((_ASSOCIATION_SCOPES[key[0]],))
    return needed


def _deals_and_target(request: Request) -> list[tuple[str, ...]]:
    key = inline_association_key(request.path_params.get("to_type", ""))
    needed: list[tuple[str, ...]] = [(DEALS_READ,)]
    return needed + ([(_ASSOCIATION_SCOPES[key[0]],)] if key else [])


def _schema_read(request: Request) -> list[tuple[str, ...]]:
    return [(DEALS_READ, "crm.schemas.deals.read")]


def _owners_read(request: Request) -> list[tuple[str, ...]]:
    return [("crm.objects.owners.read", "automation")]


def _any_token(request: Request) -> list[tuple[str, ...]]:
    return []


class Sandbox:
    """A running portal: its data, its gateway and its churn; ``app`` is the ASGI app."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        cfg = self.config
        self.portal = Portal(
            deals=cfg.deals, seed=cfg.seed, custom_properties=cfg.custom_properties
        )
        self.churner = Churner(self.portal, seed=cfg.seed, kinds=cfg.churn_kinds)
        self.oauth = OAuthServer(
            apps={DEMO_CLIENT_ID: DEMO_CLIENT_SECRET} | cfg.oauth_apps,
            all_scopes=frozenset(ALL_SCOPES),
            lifetime_s=cfg.token_lifetime_s,
            rotate=cfg.rotate_refresh_tokens,
        )
        self.oauth.grant(DEMO_CLIENT_ID, token=DEMO_REFRESH_TOKEN)
        self.gateway = Gateway(
            GatewaySettings(
                portal_id=cfg.portal_id,
                tokens=cfg.all_tokens(),
                rate_limit=cfg.rate_limit,
                burst_window_ms=cfg.burst_window_ms,
                search_rate=cfg.search_rate,
                daily_limit=cfg.daily_limit,
                latency_ms=cfg.latency_ms,
                fault_rate=cfg.fault_rate,
                fault_kinds=cfg.fault_kinds,
                stall_seconds=cfg.stall_seconds,
                retry_after_s=cfg.retry_after_s,
                seed=cfg.seed,
            ),
            self.oauth,
        )
        self.endpoints = Endpoints(self.portal, Account(cfg.portal_id, cfg.ui_domain))
        self.app = Starlette(
            routes=self._routes(),
            exception_handlers={
                BadRequest: self._bad_request,
                LookupError: self._not_found,
                404: self._not_found,
            },
            lifespan=self._lifespan,
        )

    def _api(
        self, path: str, method: str, policy: Policy, scopes: ScopeRule, handler: Any
    ) -> Route:
        name = f"{method} {path}"
        return Route(path, self.gateway.guard(name, policy, scopes, handler), methods=[method])

    def _routes(self) -> list[Route]:
        api = [r for edition in self.config.editions for r in self._edition_routes(edition)]
        return [
            *api,
            Route("/oauth/authorize", self.oauth.authorize, methods=["GET"]),
            *SideDoor(self).routes(),
        ]

    def _edition_routes(self, edition: str) -> list[Route]:
        """One edition's endpoints: the dated paths (``/crm/objects/2026-09/deals``) or the
        numeric ones of v3 and v4. The same handlers serve them (``params.dated`` tells them
        apart where the answers differ); the gateway counts each path on its own."""
        e = self.endpoints

        def crm(api: str) -> str:  # /crm/v3/objects or /crm/objects/2026-09
            return f"/crm/v3/{api}" if edition == "legacy" else f"/crm/{api}/{edition}"

        objects = crm("objects") + "/{object_type}"
        if edition == "legacy":
            batch_associations = "/crm/v4/associations/{from_type}/{to_type}/batch/read"
            account = "/account-info/v3/details"
        else:
            batch_associations = crm("associations") + "/{from_type}/{to_type}/batch/read"
            account = f"/account-info/{edition}/details"
        properties = crm("properties") + "/{object_type}"
        pipelines = crm("pipelines") + "/{object_type}"
        owners = crm("owners")
        routes = [
            self._api(objects, "GET", "burst", _deals_with_inline, e.list_deals),
            self._api(objects + "/batch/read", "POST", "burst", _deals_read, e.batch_read),
            self._api(objects + "/search", "POST", "search", _deals_read, e.search),
            self._api(objects + "/{deal_id}", "GET", "burst", _deals_with_inline, e.get_deal),
            self._api(
                batch_associations, "POST", "exempt", _deals_and_target, e.association_batch_read
            ),
            self._api(properties, "GET", "burst", _schema_read, e.properties),
            self._api(pipelines, "GET", "burst", _schema_read, e.pipelines),
            self._api(owners, "GET", "burst", _owners_read, e.owners),
            self._api(owners + "/", "GET", "burst", _owners_read, e.owners),
            self._api(owners + "/{owner_id}", "GET", "burst", _owners_read, e.owner),
            self._api(account, "GET", "burst", _any_token, e.account_details),
        ]
        token_paths = (
            ("/oauth/v1/token", "/oauth/v3/token")
            if edition == "legacy"
            else (f"/oauth/{edition}/token",)
        )
        routes += [
            Route(path, self._counted(f"POST {path}", self.oauth.token), methods=["POST"])
            for path in token_paths
        ]
        if edition == "legacy":  # the single-record association reads of v3 and v4
            routes += [
                self._api(
                    path + "/{deal_id}/associations/{to_type}",
                    "GET",
                    "burst",
                    _deals_and_target,
                    e.record_associations,
                )
                for path in (objects, "/crm/v4/objects/{object_type}")
            ]
        return routes

    # -- the harness's side door ---------------------------------------------------------------

    def ground_truth(self, history: tuple[str, ...] | None = None) -> Iterator[dict[str, Any]]:
        """Every deal, archived ones included, with all properties and complete associations
        (and the histories of ``history``)."""
        return self.portal.ground_truth(history)

    def _counted(self, name: str, handler: Any) -> Any:
        """An endpoint outside the gateway (no bearer token: OAuth's), counted as the rest are."""

        async def counted(request: Request) -> Response:
            response: Response = await handler(request)
            self.gateway.stats.requests[name][str(response.status_code)] += 1
            return response

        return counted

    # -- errors and lifecycle --------------------------------------------------------------------

    async def _bad_request(self, request: Request, exc: Exception) -> Response:
        return responses.validation_error(str(exc))

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        return JSONResponse(
            responses.error_body(
                "OBJECT_NOT_FOUND",
                str(exc)
                if isinstance(exc, LookupError)
                else f"No route for {request.method} {request.url.path}.",
            ),
            status_code=404,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(self._churn()) if self.config.churn > 0 else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _churn(self) -> None:
        """Changes at ``churn`` per second, in ticks of 50 ms."""
        owed = 0.0
        while True:
            await asyncio.sleep(0.05)
            owed += self.config.churn * 0.05
            while owed >= 1:
                self.churner.churn()
                owed -= 1


def create_app(config: SandboxConfig | None = None) -> Starlette:
    return Sandbox(config).app
