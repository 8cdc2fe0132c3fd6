"""The connection endpoints: a HubSpot credential stored once, used by scans by id."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.api import presenters
from hubspot_deals.api.deps import (
    bound_organization,
    runtime_dependency,
    same_origin,
    scope_dependency,
    session,
)
from hubspot_deals.api.errors import ApiError
from hubspot_deals.api.request_auth import Auth
from hubspot_deals.api.requests import ORGANIZATION_PATTERN, ORGANIZATION_RE
from hubspot_deals.api.schemas import (
    ConnectionList,
    ConnectionResponse,
    DeletedConnection,
    ErrorResponse,
)
from hubspot_deals.api.starting import auth_failed
from hubspot_deals.api.strict import Strict
from hubspot_deals.jobs import connections
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.jobs.token_check import TokenRefused
from hubspot_deals.store.jobs import OrgScope

router = APIRouter(prefix="/connections", tags=["connections"])
Session = Annotated[AsyncSession, Depends(session)]
Scope = Annotated[OrgScope, Depends(scope_dependency)]
Rt = Annotated[Runtime, Depends(runtime_dependency)]
ConnectionId = Annotated[str, Path(max_length=64)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No connection of this id (for the caller)"}
}
REFUSED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "HubSpot refused the credential"},
    403: {"model": ErrorResponse, "description": "It may not read deals (missing_scopes)"},
    502: {"model": ErrorResponse, "description": "HubSpot could not be reached to check it"},
}


class CreateConnection(Strict):
    name: str = Field(
        min_length=1,
        max_length=255,
        description="How people call it.",
        json_schema_extra={"pattern": ORGANIZATION_PATTERN},
    )
    organizationId: str | None = Field(
        None, min_length=1, max_length=255, json_schema_extra={"pattern": ORGANIZATION_PATTERN}
    )
    auth: Auth

    @field_validator("name", "organizationId")
    @classmethod
    def _visible(cls, value: str | None) -> str | None:
        if value is not None and not ORGANIZATION_RE.fullmatch(value):
            raise ValueError("Must be visible characters, nothing blank at either end")
        return value


@router.post(
    "",
    status_code=201,
    response_model=ConnectionResponse,
    dependencies=[Depends(same_origin)],
    responses=REFUSED,
)
async def create(body: CreateConnection, request: Request, db: Session, rt: Rt) -> dict[str, Any]:
    """Check a HubSpot credential and store it (encrypted): scans use it by ``connectionId``."""
    bound = bound_organization(request)
    if bound is not None and body.organizationId not in (None, bound):
        raise ApiError(
            403,
            "FORBIDDEN",
            "Your API key does not act for this organization",
            errors={"organizationId": "Must be the organization of your API key"},
        )
    token, grant = body.auth.hubspot_access_token, body.auth.oauth
    secret = token.get_secret_value() if token is not None else grant
    assert secret is not None  # Auth's own check: one kind or the other
    try:
        row = await connections.create(
            db, rt, org=bound or body.organizationId, name=body.name, secret=secret
        )
    except TokenRefused as refused:
        raise auth_failed(refused) from None
    return presenters.connection_body(row)


@router.get("", response_model=ConnectionList)
async def list_connections(db: Session, scope: Scope) -> dict[str, Any]:
    """The caller's connections, newest first."""
    rows = await connections.listed(db, scope)
    return {"connections": [presenters.connection_body(row) for row in rows]}


@router.get("/{connection_id}", response_model=ConnectionResponse, responses=NOT_FOUND)
async def show(connection_id: ConnectionId, db: Session, scope: Scope) -> dict[str, Any]:
    return presenters.connection_body(await connections.find(db, connection_id, scope))


@router.post(
    "/{connection_id}/test",
    response_model=ConnectionResponse,
    dependencies=[Depends(same_origin)],
    responses=NOT_FOUND | REFUSED,
)
async def test(connection_id: ConnectionId, db: Session, scope: Scope, rt: Rt) -> dict[str, Any]:
    """Check the connection against HubSpot again: its portal and the reads it may do."""
    row = await connections.find(db, connection_id, scope)
    try:
        return presenters.connection_body(await connections.test(db, rt, row))
    except TokenRefused as refused:
        raise auth_failed(refused) from None


@router.delete(
    "/{connection_id}",
    response_model=DeletedConnection,
    dependencies=[Depends(same_origin)],
    responses=NOT_FOUND
    | {409: {"model": ErrorResponse, "description": "A scan is using it (CONNECTION_IN_USE)"}},
)
async def delete(connection_id: ConnectionId, db: Session, scope: Scope, rt: Rt) -> dict[str, Any]:
    """Forget a connection and its secrets (refused while a scan uses it)."""
    await connections.delete(db, rt, connection_id, scope)
    return {"message": "Connection deleted", "connectionId": connection_id}
