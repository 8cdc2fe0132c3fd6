"""Connect HubSpot: the dashboard's connections page and the OAuth authorization code flow that
makes one (docs/dashboard.md).

``/connect`` sends the browser to HubSpot's authorization page with a fresh ``state`` and a PKCE
challenge; both, with the caller's organization, ride in a cookie only this service can read (the
token cipher seals it) that lives ten minutes and is sent back on HubSpot's redirect (SameSite=Lax:
the callback is a navigation from HubSpot's site, which a Strict cookie, the key's, would miss).
``/connect/callback`` accepts the code only with that cookie and its state, exchanges it with the
verifier, and stores the grant as a connection, checked like one made through the API.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Annotated, Any, Final
from urllib.parse import urlencode

import orjson
from fastapi import Query, Request, Response
from fastapi.responses import HTMLResponse

from hubspot_deals.api.dashboard.pages import RT, Session, Who, redirect, render, router
from hubspot_deals.api.deps import org_scope
from hubspot_deals.api.errors import ApiError
from hubspot_deals.api.presenters import connection_body
from hubspot_deals.jobs import connections
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.jobs.token_check import TokenRefused

#: The flow's cookie: state, PKCE verifier, organization, expiry; sealed by the token cipher.
FLOW_COOKIE: Final = "hsd_connect"
FLOW_SECONDS = 600
NOTICES = {
    "connected": "The portal is connected: scans can use it by its connection id.",
    "deleted": "The connection is deleted.",
}


@router.get("/connections", response_class=HTMLResponse)
async def connections_page(
    request: Request,
    db: Session,
    _: Who,
    rt: RT,
    notice: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    rows = await connections.listed(db, org_scope(request))
    return render(
        request,
        "connections.html",
        {
            "connections": [connection_body(row) for row in rows],
            "can_connect": rt.settings.oauth_app_configured,
            "notice": NOTICES.get(notice or ""),
        },
    )


@router.get("/connect")
async def connect(request: Request, who: Who, rt: RT) -> Response:
    settings = rt.settings
    if not settings.oauth_app_configured:
        raise ApiError(
            404,
            "NOT_FOUND",
            "No HubSpot OAuth app is configured: set HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET "
            "and HUBSPOT_REDIRECT_URI",
        )
    state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    until = time.time() + FLOW_SECONDS
    flow = {"state": state, "verifier": verifier, "org": who.organization, "until": until}
    query = {
        "client_id": settings.hubspot_client_id,
        "redirect_uri": settings.hubspot_redirect_uri,
        "scope": settings.hubspot_oauth_scopes,
        "state": state,
        "code_challenge": _s256(verifier),
        "code_challenge_method": "S256",
    }
    response = redirect(request, f"{settings.hubspot_authorize_url}?{urlencode(query)}")
    response.set_cookie(
        FLOW_COOKIE,
        rt.cipher.encrypt(orjson.dumps(flow).decode()).decode(),
        max_age=FLOW_SECONDS,
        path="/connect",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/connect/callback")
async def callback(
    request: Request,
    db: Session,
    rt: RT,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    state: Annotated[str | None, Query(max_length=256)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    """HubSpot's redirect: a code for the state this browser was given, or why there is none."""
    flow = _flow(request, rt)
    if error is not None:
        raise ApiError(400, "HUBSPOT_AUTH_FAILED", f"HubSpot did not connect the portal: {error}")
    if flow is None or not state or not secrets.compare_digest(state, str(flow["state"])):
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            "This connection was not started from this browser, or it took too long: "
            "start again from Connect HubSpot",
        )
    if not code:
        raise ApiError(400, "VALIDATION_ERROR", "HubSpot sent no authorization code")
    try:
        await connections.connect_with_code(
            db, rt, org=flow.get("org"), code=code, verifier=str(flow["verifier"])
        )
    except TokenRefused as refused:
        raise ApiError(401, "HUBSPOT_AUTH_FAILED", refused.hubspot_error) from None
    response = redirect(request, "/connections?notice=connected")
    response.delete_cookie(FLOW_COOKIE, path="/connect")
    return response


def _flow(request: Request, rt: Runtime) -> dict[str, Any] | None:
    sealed = request.cookies.get(FLOW_COOKIE)
    if not sealed:
        return None
    try:
        flow = orjson.loads(rt.cipher.decrypt(sealed.encode()))
    except (ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(flow, dict) or float(flow.get("until", 0)) < time.time():
        return None
    return flow


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
