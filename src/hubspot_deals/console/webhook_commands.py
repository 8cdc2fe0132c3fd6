"""``hubspot-deals webhook ...``: webhooks of a running service (its REST API). ``create`` prints
the signing secret, the one time the service shows it, on standard output (a script keeps it);
everything else never shows it."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from hubspot_deals.console.api_client import DEFAULT_URL, JSON, ScanApi
from hubspot_deals.console.common import (
    ApiKey,
    AsJson,
    Timeout,
    Url,
    note,
    out,
    print_json,
    reported,
)

EVENTS = ("scan.completed", "scan.failed", "scan.cancelled", "schedule.paused")

webhook_app = typer.Typer(
    help="Register, list, show and delete webhooks of a running service; see their deliveries.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
WebhookId = Annotated[str, typer.Argument(help="The webhook's id (wh_...).", show_default=False)]


class WebhookApi(ScanApi):
    """The webhook endpoints, beside the scan endpoints the CLI's client knows."""

    def __enter__(self) -> WebhookApi:
        return self

    def create_webhook(self, body: JSON) -> JSON:
        return self._call("POST", "/webhooks", json=body)

    def webhooks(self) -> JSON:
        return self._call("GET", "/webhooks")

    def webhook(self, webhook_id: str, *, delete: bool = False) -> JSON:
        return self._call("DELETE" if delete else "GET", f"/webhooks/{_path(webhook_id)}")

    def deliveries(self, webhook_id: str, page: int, page_size: int) -> JSON:
        params = {"page": page, "page_size": page_size}
        return self._call("GET", f"/webhooks/{_path(webhook_id)}/deliveries", params=params)


def _path(webhook_id: str) -> str:
    """An id as one path segment: ``/`` or ``..`` in it cannot reach another endpoint."""
    return quote(webhook_id, safe="")


def _api(url: str, api_key: str | None, timeout: float) -> WebhookApi:
    return WebhookApi(url, api_key, timeout=timeout)


def _show(body: dict[str, Any]) -> None:
    table = Table(show_header=False, box=box.SIMPLE, pad_edge=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for field, key in (
        ("webhook", "webhookId"),
        ("url", "url"),
        ("events", "events"),
        ("organization", "organizationId"),
        ("created", "createdAt"),
    ):
        value = body.get(key)
        shown = ", ".join(value) if isinstance(value, list) else value
        table.add_row(field, escape("-" if shown in (None, "") else str(shown)))
    out.print(table)


def _check_events(values: list[str]) -> list[str]:
    unknown = [v for v in values if v not in EVENTS]
    if unknown:
        raise typer.BadParameter(f"{unknown[0]!r} is not one of {', '.join(EVENTS)}")
    return values


@webhook_app.command("create")
def create(
    url_: Annotated[str, typer.Argument(metavar="URL", help="Where to post events (http/https).")],
    events: Annotated[
        list[str],
        typer.Option(
            "--event",
            metavar="EVENT",
            callback=_check_events,
            help=f"An event to be told of, repeated: {', '.join(EVENTS)}.",
        ),
    ],
    organization_id: Annotated[
        str | None, typer.Option("--organization-id", "--org", help="Its organization.")
    ] = None,
    as_json: AsJson = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """Register a webhook; prints its signing secret, which is never shown again."""
    body: dict[str, Any] = {"url": url_, "events": events}
    if organization_id is not None:
        body["organizationId"] = organization_id
    with _api(url, api_key, timeout) as api, reported():
        made = api.create_webhook(body)
    if as_json:
        print_json(made)
        return
    _show(made)
    note("the signing secret (shown this once; keep it to verify deliveries):")
    out.print(made["secret"], highlight=False, soft_wrap=True)


@webhook_app.command("list")
def list_webhooks(
    as_json: AsJson = False, url: Url = DEFAULT_URL, api_key: ApiKey = None, timeout: Timeout = 30.0
) -> None:
    """The webhooks of your organization, newest first."""
    with _api(url, api_key, timeout) as api, reported():
        body = api.webhooks()
    if as_json:
        print_json(body)
        return
    rows: list[dict[str, Any]] = body.get("webhooks", [])
    if not rows:
        note("no webhooks")
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("webhook", "url", "events", "created"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["webhookId"], escape(row["url"]), ", ".join(row["events"]), row["createdAt"]
        )
    out.print(table)


@webhook_app.command("show")
def show(
    webhook_id: WebhookId,
    as_json: AsJson = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """One webhook (never its secret)."""
    with _api(url, api_key, timeout) as api, reported():
        body = api.webhook(webhook_id)
    print_json(body) if as_json else _show(body)


@webhook_app.command("deliveries")
def deliveries(
    webhook_id: WebhookId,
    page: Annotated[int, typer.Option(min=1, help="The page, newest deliveries first.")] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=100, help="Deliveries a page.")] = 20,
    as_json: AsJson = False,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """The webhook's deliveries, newest first: each attempt's time, HTTP status or error."""
    with _api(url, api_key, timeout) as api, reported():
        body = api.deliveries(webhook_id, page, page_size)
    if as_json:
        print_json(body)
        return
    rows: list[dict[str, Any]] = body.get("deliveries", [])
    if not rows:
        note("no deliveries")
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("delivery", "event", "about", "status", "attempts"):
        table.add_column(column, overflow="fold")
    for row in rows:
        tries = [
            f"{a['at'][11:19]} {a['statusCode'] or a['error']} ({a['durationMs']} ms)"
            for a in row["attempts"]
        ]
        table.add_row(
            row["deliveryId"],
            row["event"],
            escape(row["eventKey"]),
            row["status"],
            escape("\n".join(tries) or "-"),
        )
    out.print(table)
    pages = body["pagination"]
    note(f"page {pages['current_page']} of {pages['total_pages']} ({pages['total_items']} in all)")


@webhook_app.command("delete")
def delete(
    webhook_id: WebhookId,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
    timeout: Timeout = 30.0,
) -> None:
    """Forget a webhook, its secret and its deliveries."""
    with _api(url, api_key, timeout) as api, reported():
        api.webhook(webhook_id, delete=True)
    note(f"deleted webhook {escape(webhook_id)}")
