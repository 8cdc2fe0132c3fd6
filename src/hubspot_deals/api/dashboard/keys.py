"""The dashboard's key page: a key given once is kept in a session cookie, checked like the
API's header; forgetting it drops the cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response
from fastapi.responses import HTMLResponse

from hubspot_deals.api.dashboard.pages import (
    KEY_COOKIE,
    RT,
    SameOrigin,
    Session,
    drop_key_cookie,
    read_form,
    redirect,
    render,
    router,
)
from hubspot_deals.api.deps import (
    bind_key,
    keys_required,
)
from hubspot_deals.api.errors import ApiError

KEY_REASONS = {
    "required": "This service uses API keys: enter yours to see your organization's scans.",
    "invalid": "Your API key is not valid any more (revoked, or mistyped): enter a valid one.",
    "forgotten": "The key is forgotten: this browser holds no key now.",
}


# -- the key --------------------------------------------------------------------------------------


@router.get("/key", response_class=HTMLResponse)
async def key_form(
    request: Request,
    db: Session,
    rt: RT,
    reason: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """Where a browser gives its API key; while the service runs open, there is nothing to give."""
    if reason != "forgotten" and not await keys_required(rt, db):
        return redirect(request, "/")
    return render(request, "key.html", {"reason": KEY_REASONS.get(reason or ""), "errors": {}})


@router.post("/key", dependencies=[SameOrigin])
async def give_key(request: Request) -> Response:
    """Check the key as the API would, then keep it in a session cookie the page's scripts cannot
    read (HttpOnly) and other sites' requests do not carry (SameSite=Strict)."""
    key = ((await read_form(request)).get("api_key") or [""])[0].strip()
    error = "Enter your API key" if not key else None
    if key:
        try:
            await bind_key(request, key)
        except ApiError:
            error = "This is not a valid API key (mistyped, or revoked)"
    if error is not None:
        return render(request, "key.html", {"reason": None, "errors": {"api_key": error}}, 401)
    response = redirect(request, "/")
    response.set_cookie(
        KEY_COOKIE,
        key,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/key/forget", dependencies=[SameOrigin])
async def forget_key(request: Request) -> Response:
    """Drop the browser's key."""
    response = redirect(request, "/key?reason=forgotten")
    drop_key_cookie(request, response)
    return response
