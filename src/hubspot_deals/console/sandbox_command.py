"""``hubspot-deals sandbox``: the HubSpot stand-in on a port, every knob a flag (docs/sandbox.md)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console

from hubspot_deals.sandbox import DEMO_TOKEN, FAULT_KINDS, SandboxConfig
from hubspot_deals.sandbox.catalog import ALL_SCOPES
from hubspot_deals.sandbox.churn import CHURN_KINDS, DEFAULT_CHURN_KINDS
from hubspot_deals.sandbox.gateway import DEFAULT_FAULT_KINDS
from hubspot_deals.sandbox.params import EDITIONS
from hubspot_deals.sandbox.schema import MAX_CUSTOM_PROPERTIES

console = Console(stderr=True)


class UiDomain(StrEnum):
    NA = "app.hubspot.com"
    EU = "app-eu1.hubspot.com"


def _parse_tokens(specs: list[str]) -> dict[str, tuple[str, ...]]:
    tokens: dict[str, tuple[str, ...]] = {}
    for spec in specs:
        token, sep, scopes = spec.partition("=")
        if not sep or not token:
            raise typer.BadParameter(
                f"expected TOKEN=SCOPE,SCOPE, got {spec!r}", param_hint="--token"
            )
        tokens[token] = tuple(s.strip() for s in scopes.split(",") if s.strip())
    return tokens


def _parse_kinds(
    raw: str, known: tuple[str, ...] = FAULT_KINDS, flag: str = "--fault-kinds"
) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in raw.split(",") if k.strip())
    unknown = set(kinds) - set(known)
    if unknown or not kinds:
        raise typer.BadParameter(f"kinds are among {', '.join(known)}", param_hint=flag)
    return kinds


def _parse_apps(raw: list[str]) -> dict[str, str]:
    apps: dict[str, str] = {}
    for item in raw:
        client_id, _, secret = item.partition("=")
        if not client_id.strip() or not secret.strip():
            raise typer.BadParameter("CLIENT_ID=SECRET", param_hint="--oauth-app")
        apps[client_id.strip()] = secret.strip()
    return apps


def sandbox(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8090,
    deals: Annotated[
        int, typer.Option(min=0, help="Deals the portal starts with.")
    ] = SandboxConfig.deals,
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = SandboxConfig.seed,
    custom_properties: Annotated[
        int,
        typer.Option(
            min=0,
            max=MAX_CUSTOM_PROPERTIES,
            help="Extra custom deal properties, of every HubSpot type, with generated values.",
        ),
    ] = SandboxConfig.custom_properties,
    portal_id: Annotated[int, typer.Option(help="The portal (hub) id.")] = SandboxConfig.portal_id,
    ui_domain: Annotated[UiDomain, typer.Option(help="The portal's UI host.")] = UiDomain.NA,
    latency_ms: Annotated[float, typer.Option(min=0, help="Added to every API reply.")] = 0.0,
    rate_limit: Annotated[
        int, typer.Option(min=1, help="Requests per rolling burst window, per token.")
    ] = (SandboxConfig.rate_limit),
    rate_window_ms: Annotated[
        int,
        typer.Option(
            min=100,
            max=60_000,
            help="Length of the burst window, announced in X-HubSpot-RateLimit-Interval-"
            "Milliseconds (HubSpot's is 10,000; tests shorten it).",
        ),
    ] = SandboxConfig.burst_window_ms,
    search_rate: Annotated[int, typer.Option(min=1, help="Search requests per second.")] = (
        SandboxConfig.search_rate
    ),
    daily_limit: Annotated[int, typer.Option(min=1, help="Requests per day, per account.")] = (
        SandboxConfig.daily_limit
    ),
    fault_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of API calls that fail.")
    ] = 0.0,
    fault_kinds: Annotated[
        str,
        typer.Option(help="Comma-separated fault kinds to draw from (`stall` only when named)."),
    ] = ",".join(DEFAULT_FAULT_KINDS),
    stall_seconds: Annotated[
        float, typer.Option(min=0, help="How long a `stall` fault holds its answer.")
    ] = SandboxConfig.stall_seconds,
    retry_after: Annotated[
        int, typer.Option(min=0, help="Retry-After of injected 429s, seconds.")
    ] = 1,
    churn: Annotated[
        float, typer.Option(min=0, help="Deals changed per second (see --churn-kinds).")
    ] = 0.0,
    churn_kinds: Annotated[
        str,
        typer.Option(
            help="Comma-separated changes churn draws from: create, update, archive, delete "
            "(hard), relink (an association swapped without modifying the deal), merge (two "
            "deals into one)."
        ),
    ] = ",".join(DEFAULT_CHURN_KINDS),
    editions: Annotated[
        str,
        typer.Option(
            help="Comma-separated API editions served: 2026-09, 2026-03, legacy (/crm/v3 and v4)."
        ),
    ] = ",".join(EDITIONS),
    token_lifetime: Annotated[
        float, typer.Option(min=0.1, help="Seconds an OAuth access token lives (HubSpot: 1,800).")
    ] = SandboxConfig.token_lifetime_s,
    rotate_refresh_tokens: Annotated[
        bool, typer.Option(help="Each OAuth refresh issues a new refresh token (the old dies).")
    ] = False,
    oauth_app: Annotated[
        list[str] | None,
        typer.Option(
            metavar="CLIENT_ID=SECRET",
            help="Another OAuth app besides the demo's (repeatable).",
        ),
    ] = None,
    token: Annotated[
        list[str] | None,
        typer.Option(
            metavar="TOKEN=SCOPES",
            help="Extra token with its scopes: TOKEN=SCOPE,SCOPE (repeatable).",
        ),
    ] = None,
) -> None:
    """Run the HubSpot sandbox: a faithful stand-in for HubSpot's CRM deal APIs."""
    import uvicorn

    from hubspot_deals.interpreter import tune_for_service
    from hubspot_deals.sandbox import Sandbox

    config = SandboxConfig(
        deals=deals,
        seed=seed,
        custom_properties=custom_properties,
        portal_id=portal_id,
        ui_domain=ui_domain.value,
        latency_ms=latency_ms,
        rate_limit=rate_limit,
        burst_window_ms=rate_window_ms,
        search_rate=search_rate,
        daily_limit=daily_limit,
        fault_rate=fault_rate,
        fault_kinds=_parse_kinds(fault_kinds),
        stall_seconds=stall_seconds,
        retry_after_s=retry_after,
        churn=churn,
        churn_kinds=_parse_kinds(churn_kinds, CHURN_KINDS, "--churn-kinds"),
        tokens=_parse_tokens(token or []),
        editions=_parse_kinds(editions, EDITIONS, "--editions"),
        token_lifetime_s=token_lifetime,
        rotate_refresh_tokens=rotate_refresh_tokens,
        oauth_apps=_parse_apps(oauth_app or []),
    )
    sandbox = Sandbox(config)
    tune_for_service()  # the portal's data, built once, out of the collector's sight
    console.print(
        f"HubSpot sandbox: http://{host}:{port}  ({deals:,} deals, seed {seed}, "
        f"{custom_properties:,} generated custom properties, "
        f"{rate_limit}/{rate_window_ms / 1000:g} s, search {search_rate}/s)"
    )
    console.print(f"demo token (scopes: {', '.join(ALL_SCOPES)}):")
    print(DEMO_TOKEN, flush=True)  # on stdout alone, so scripts can read it
    uvicorn.run(
        sandbox.app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        h11_max_incomplete_event_size=1024 * 1024,
    )
