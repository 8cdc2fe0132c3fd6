"""The dashboard's plumbing: its router, whose failures are pages and whose answers carry the
security headers; page, error and redirect answers; who is asking (the key cookie); forms."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, Final
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from hubspot_deals.api.dashboard.filters import templates
from hubspot_deals.api.deps import (
    bind_key,
    bound_organization,
    runtime_dependency,
    same_origin,
    session,
)
from hubspot_deals.api.errors import STATUS, ApiError
from hubspot_deals.api.json_body import MAX_BODY_BYTES
from hubspot_deals.api.validation import field_errors
from hubspot_deals.jobs import service
from hubspot_deals.jobs.runtime import Runtime
from hubspot_deals.store.outages import is_outage

#: A session cookie (no Max-Age): the key is forgotten when the browser closes.
KEY_COOKIE: Final = "hsd_key"
#: Pages are self-contained (our script and stylesheet only): nothing inline runs, nothing
#: frames them (the cancel button cannot be clickjacked), no referrer carries a scan id away.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class KeyNeeded(Exception):
    """The request needs an API key the browser does not hold (or holds wrongly)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DashboardRoute(APIRoute):
    """A route whose failures are pages a person reads, not JSON envelopes, and whose every
    answer carries the dashboard's security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except KeyNeeded as exc:
                response = to_key_page(request, exc.reason)
            except ApiError as exc:
                response = error_page(request, exc.status, exc.message, exc.errors)
            except service.ScanError as exc:
                response = error_page(request, STATUS.get(type(exc), 400), exc.message)
            except RequestValidationError as exc:
                errors = field_errors(exc.errors(), strip_first=True)
                response = error_page(request, 400, "Input validation failed", errors)
            except Exception as exc:
                if not is_outage(exc):
                    raise  # the middleware answers it (500, logged)
                response = error_page(
                    request, 503, "The service's database or Redis does not answer; retry later"
                )
            response.headers.update(SECURITY_HEADERS)
            return response

        return route


router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
Session = Annotated[AsyncSession, Depends(session)]
RT = Annotated[Runtime, Depends(runtime_dependency)]


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def error_page(
    request: Request, status: int, message: str, errors: dict[str, str] | None = None
) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {"status_code": status, "message": message, "errors": errors or {}},
        status,
    )


def redirect(request: Request, url: str) -> Response:
    """See other: after a form post, or for htmx (which follows ``HX-Redirect`` instead)."""
    if request.headers.get("hx-request"):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def to_key_page(request: Request, reason: str) -> Response:
    response = redirect(request, f"/key?reason={reason}")
    if reason == "invalid":
        drop_key_cookie(request, response)
    return response


def drop_key_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        KEY_COOKIE, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )


# -- who is asking --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """The browser's standing: whether it holds a key (keys are in use), and for whom."""

    keyed: bool
    organization: str | None


async def caller(request: Request) -> Caller:
    """The session cookie's key, checked and bound like the API's header; without a valid one
    while keys are in use, the key page."""
    key = request.cookies.get(KEY_COOKIE) or None
    try:
        await bind_key(request, key)
    except ApiError:
        raise KeyNeeded("invalid" if key else "required") from None
    return Caller(keyed=key is not None, organization=bound_organization(request))


Who = Annotated[Caller, Depends(caller)]


SameOrigin = Depends(same_origin)


async def read_form(request: Request) -> dict[str, list[str]]:
    """A URL-encoded form, capped like the API's start body (nothing past the cap is read)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise ApiError(400, "VALIDATION_ERROR", "Send the dashboard's form")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", "The form is too large")
    try:
        return parse_qs(raw.decode(), keep_blank_values=True, max_num_fields=2000)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "VALIDATION_ERROR", "The form could not be read") from None
