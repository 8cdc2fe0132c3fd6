"""The dashboard's start form: a form's fields to the API's config, and the API's errors back
next to their fields."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.api.dashboard.pages import (
    RT,
    Caller,
    SameOrigin,
    Session,
    Who,
    read_form,
    redirect,
    render,
    router,
)
from hubspot_deals.api.deps import org_scope
from hubspot_deals.api.errors import ApiError
from hubspot_deals.api.requests import StartScanRequest
from hubspot_deals.api.starting import start_for_caller
from hubspot_deals.api.validation import field_errors
from hubspot_deals.jobs import connections, service

# -- starting a scan ------------------------------------------------------------------------------

#: The form's fields, named by the config paths the API's errors use, so each message lands
#: next to its field. Errors of paths below a field (list items) land on the field.
FORM_FIELDS = (
    "config.scanId",
    "config.organizationId",
    "config.auth.hubspot_access_token",
    "config.connectionId",
    "config.properties",
    "config.propertiesWithHistory",
    "config.includeAssociations",
    "config.associationTypes",
    "config.batchSize",
    "config.includeStageHistory",
    "config.mode",
    "config.refreshAssociations",
    "config.filters.includeArchived",
    "config.filters.pipelineId",
    "config.filters.dealstage",
    "config.filters.dateFilter.property",
    "config.filters.dateFilter.startDate",
    "config.filters.dateFilter.endDate",
    "config.filters.dateFilter",
)
TOKEN_FIELD = "config.auth.hubspot_access_token"  # noqa: S105 (a field name)
#: The choice between the properties the form lists (``listed``) and every property (``all``).
PROPERTIES_FROM = "properties_from"


def _whole_number(text: str) -> int | str:
    """Digits as the number they write, else the text. Python's ``int`` refuses more than 4,300
    digits (a ValueError); a number that long is past every bound, so its first 20 digits stand
    for it and the model answers it as it answers any number too large."""
    if not (text.isascii() and text.isdigit()):
        return text
    return int((text.lstrip("0") or "0")[:20])


def config_from_form(form: dict[str, list[str]]) -> dict[str, Any]:
    """The JSON config the form stands for: empty fields are absent, checkboxes booleans, lists
    split on commas or spaces, "every property" ``"all"`` (the listed ones are then left out, but
    kept in the form); a batch size that is no whole number stays text, so the model answers it
    with the API's own message."""

    def text(name: str) -> str:
        return (form.get(name) or [""])[0].strip()

    def names(name: str) -> list[str]:
        return text(name).replace(",", " ").split()

    config: dict[str, Any] = {
        "scanId": text("config.scanId"),
        "type": ["hubspot_deals"],
        "includeAssociations": "config.includeAssociations" in form,
    }
    token = (form.get(TOKEN_FIELD) or [""])[0]
    if connection := text("config.connectionId"):  # a stored connection, unless a token is typed
        config["connectionId"] = connection
    if token or not connection:
        config["auth"] = {"hubspot_access_token": token}
    if organization := text("config.organizationId"):
        config["organizationId"] = organization
    if text(PROPERTIES_FROM) == "all":
        config["properties"] = "all"
    elif properties := names("config.properties"):
        config["properties"] = properties
    if history := names("config.propertiesWithHistory"):
        config["propertiesWithHistory"] = history
    if kinds := form.get("config.associationTypes"):
        config["associationTypes"] = kinds
    if batch := text("config.batchSize"):
        config["batchSize"] = _whole_number(batch)
    if mode := text("config.mode"):
        config["mode"] = mode
    config["refreshAssociations"] = "config.refreshAssociations" in form
    config["includeStageHistory"] = "config.includeStageHistory" in form
    filters: dict[str, Any] = {"includeArchived": "config.filters.includeArchived" in form}
    for name in ("pipelineId", "dealstage"):
        if value := text(f"config.filters.{name}"):
            filters[name] = value
    start, end = (
        text("config.filters.dateFilter.startDate"),
        text("config.filters.dateFilter.endDate"),
    )
    if start or end:
        moment: dict[str, Any] = {
            "property": text("config.filters.dateFilter.property") or "createdate"
        }
        if start:
            moment["startDate"] = start
        if end:
            moment["endDate"] = end
        filters["dateFilter"] = moment
    config["filters"] = filters
    return config


def errors_by_field(errors: dict[str, str]) -> dict[str, list[str]]:
    """The API's ``{path: message}`` map, grouped under the form field each path belongs to
    (``config.properties[2]`` under ``config.properties``); anything else under ``form``."""
    grouped: dict[str, list[str]] = {}
    for path, message in errors.items():
        field = path.split("[", 1)[0]
        while field not in FORM_FIELDS and "." in field:
            field = field.rsplit(".", 1)[0]
        grouped.setdefault(field if field in FORM_FIELDS else "form", []).append(message)
    return grouped


def _form_values(form: dict[str, list[str]]) -> dict[str, Any]:
    """What the form shows again after errors: everything but the token."""
    return {name: values for name, values in form.items() if name != TOKEN_FIELD}


async def _start_page(
    request: Request,
    db: AsyncSession,
    who: Caller,
    values: dict[str, list[str]],
    errors: dict[str, str],
    status_code: int = 200,
) -> HTMLResponse:
    grouped = errors_by_field(errors)
    if who.keyed and "config.organizationId" in grouped:  # no such field under a key
        grouped.setdefault("form", []).extend(grouped.pop("config.organizationId"))
    stored = await connections.listed(db, org_scope(request))
    choices = [(row.id, f"{row.name} ({row.id})") for row in stored]
    return render(
        request,
        "start.html",
        {"caller": who, "values": values, "errors": grouped, "connections": choices},
        status_code,
    )


@router.get("/start", response_class=HTMLResponse)
async def start_form(request: Request, db: Session, who: Who) -> HTMLResponse:
    """The start form with the config's defaults."""
    defaults = {
        PROPERTIES_FROM: ["listed"],
        "config.batchSize": ["100"],
        "config.mode": ["full"],
        "config.filters.dateFilter.property": ["createdate"],
    }
    return await _start_page(request, db, who, defaults, {})


@router.post("/start", dependencies=[SameOrigin])
async def start(request: Request, db: Session, rt: RT, who: Who) -> Response:
    """Validate the form with the API's model and start the scan as the API does; errors are
    shown next to their fields with the API's messages."""
    form = await read_form(request)
    values = _form_values(form)
    try:
        body = StartScanRequest.model_validate({"config": config_from_form(form)})
    except ValidationError as exc:
        return await _start_page(request, db, who, values, field_errors(exc.errors()), 400)
    try:
        await start_for_caller(request, db, rt, body.config)
    except ApiError as exc:
        where = TOKEN_FIELD if exc.code == "HUBSPOT_AUTH_FAILED" else "form"
        errors = exc.errors or {where: exc.message}
        return await _start_page(request, db, who, values, errors, exc.status)
    except service.ConnectionNotFound as exc:
        errors = {"config.connectionId": exc.message}
        return await _start_page(request, db, who, values, errors, 404)
    except service.ScanInProgress as exc:
        return await _start_page(request, db, who, values, {"config.scanId": exc.message}, 409)
    return redirect(request, f"/scans/{body.config.scanId}?notice=started")
