"""FastAPI dependencies: the runtime, a session per request, the caller's organization scope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.api.errors import ApiError
from hubspot_deals.jobs import access
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.store.jobs import ANY_ORG, OrgScope

#: An organization id no scan can have (ids are never empty): another organization's view.
NO_ORG = ""


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


# FastAPI runs a plain ``def`` dependency in a worker thread: a thread hop per dependency and
# request, which cost more CPU than the work of most requests. Dependencies that only read the
# request are therefore ``async`` (these two wrap the plain functions that code calls directly).


async def runtime_dependency(request: Request) -> Runtime:
    return runtime(request)


async def scope_dependency(request: Request) -> OrgScope:
    return org_scope(request)


async def session(request: Request) -> AsyncIterator[AsyncSession]:
    async with runtime(request).sessions() as db:
        yield db


async def authenticate(request: Request, db: Annotated[AsyncSession, Depends(session)]) -> None:
    """With keys in use, every /api/v1 call needs X-API-Key; the key binds it to its organization.
    It asks in the request's own session (the one its route gets): one session a request."""
    await bind_key(request, request.headers.get("x-api-key"), db)


async def bind_key(request: Request, key: str | None, db: AsyncSession | None = None) -> None:
    """Bind the request to ``key``'s organization (what ``org_scope`` and ``requested_scope``
    read), or raise 401 when the key is wrong, or missing while keys are in use. Shared by the
    API (the header) and the dashboard (its session cookie), so both scope callers alike."""
    if db is None:
        async with runtime(request).sessions() as own:
            await bind_key(request, key, own)
    elif key:
        try:
            request.state.organization_id = await access.key_organization(db, key)
        except access.UnknownKey:
            raise ApiError(
                401, "UNAUTHORIZED", "The X-API-Key header does not hold a valid key"
            ) from None
    elif await keys_required(runtime(request), db):
        raise ApiError(401, "UNAUTHORIZED", "An X-API-Key header is required")


async def keys_required(rt: Runtime, db: AsyncSession) -> bool:
    """Keys are in use once one is active, or from the start with REQUIRE_API_KEY."""
    return await access.keys_in_use(db, required=rt.settings.require_api_key)


def bound_organization(request: Request) -> str | None:
    """The organization of the caller's API key, None when the service runs open."""
    org: str | None = getattr(request.state, "organization_id", None)
    return org


def requested_scope(request: Request, organization_id: str | None) -> OrgScope:
    """A list or stats filter, never wider than the caller's own organization."""
    bound = bound_organization(request)
    if bound is None:
        return organization_id if organization_id is not None else ANY_ORG
    return bound if organization_id in (None, bound) else NO_ORG


def org_scope(request: Request) -> OrgScope:
    """Unscoped while the service runs open; with an API key, the key's organization."""
    org: OrgScope = getattr(request.state, "organization_id", ANY_ORG)
    return org


async def same_origin(request: Request) -> None:
    """Changes from our own pages or from non-browser clients only: an open service has no key or
    cookie to withhold, so a form on another site could otherwise post to it. Browsers say where
    a request comes from in ``Sec-Fetch-Site``, older ones in ``Origin``; a client sending
    neither is no browser."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        allowed = site in ("same-origin", "none")
    else:
        origin = request.headers.get("origin")
        allowed = origin is None or urlsplit(origin).netloc == request.headers.get("host")
    if not allowed:
        raise ApiError(403, "FORBIDDEN", "Requests from other sites' pages are refused")
