"""A small typed client of our REST API (``/api/v1``): what the command line talks to.

One error family, built from the response (or from httpx's failure to get one):

    ClientError
    ├── ApiError            the service answered with an error: the envelope's error_code, message,
    │                       details and field errors, with the HTTP status and Retry-After
    └── ServiceUnreachable  no answer: connection refused, timed out, or dropped mid-answer

Bodies are returned as the JSON the service sent (``dict``), untouched, so ``--json`` can print
exactly what the API answered; the API key is sent as ``X-API-Key`` and never appears in an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import quote

import httpx

JSON = dict[str, Any]
DEFAULT_URL = "http://127.0.0.1:8000"
API = "/api/v1"


def _user_agent() -> str:
    try:
        return f"hubspot-deals-cli/{version('hubspot-deals')}"
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "hubspot-deals-cli"


class ClientError(Exception):
    """Base of every error this client raises."""


class ApiError(ClientError):
    """The service answered with an error; its envelope, parsed (see api-spec.md)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: JSON | None = None,
        errors: dict[str, str] | None = None,
        request_id: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or {}
        self.errors = errors or {}
        self.request_id, self.retry_after = request_id, retry_after

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """Read the envelope; a body that is not one (a proxy's HTML page) keeps the status."""
        retry_after = response.headers.get("Retry-After", "")
        retry = int(retry_after) if retry_after.isdigit() else None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("error_code"), str):
            reason = response.reason_phrase or "error"
            return cls(
                response.status_code,
                f"HTTP_{response.status_code}",
                f"the service answered HTTP {response.status_code} {reason}",
                retry_after=retry,
            )
        details = body.get("details")
        errors = body.get("errors")
        return cls(
            response.status_code,
            body["error_code"],
            str(body.get("message") or body["error_code"]),
            details=details if isinstance(details, dict) else None,
            errors={str(k): str(v) for k, v in errors.items()}
            if isinstance(errors, dict)
            else None,
            request_id=body.get("request_id") or response.headers.get("X-Request-ID"),
            retry_after=retry,
        )

    def __str__(self) -> str:
        return f"{self.message} ({self.code}, HTTP {self.status})"


class ServiceUnreachable(ClientError):
    """No answer from the service at ``url``: ``reason`` says how the attempt ended."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the service at {url}: {reason}")
        self.url, self.reason = url, reason


def _reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time (timed out)"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc or 'connection refused'})"
    return f"the connection broke ({type(exc).__name__}: {exc})"


@dataclass(frozen=True)
class DealFilter:
    """The results and export filters (``pipeline``, ``dealstage``, ``owner_id``)."""

    pipeline: str | None = None
    dealstage: str | None = None
    owner_id: str | None = None

    def params(self) -> dict[str, str]:
        given = {"pipeline": self.pipeline, "dealstage": self.dealstage, "owner_id": self.owner_id}
        return {k: v for k, v in given.items() if v is not None}


class ScanApi:
    """The scan endpoints of one service; a context manager (it holds a connection pool)."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": _user_agent(), "Accept": "application/json"}
        if api_key:
            headers["X-API-Key"] = api_key
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
        )

    def __enter__(self) -> ScanApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- the endpoints ------------------------------------------------------------------------------

    def start(self, config: JSON) -> JSON:
        """``POST /scan/start`` with ``{"config": config}``: the 202 answer."""
        return self._call("POST", "/scan/start", json={"config": config})

    def status(self, scan_id: str) -> JSON:
        """``GET /scan/status/{id}``: the newest run (``status: not_found`` when none)."""
        return self._call("GET", f"/scan/status/{_segment(scan_id)}")

    def cancel(self, scan_id: str) -> JSON:
        return self._call("POST", f"/scan/cancel/{_segment(scan_id)}")

    def create_connection(self, body: JSON) -> JSON:
        """``POST /connections``: the credential checked against HubSpot, then stored."""
        return self._call("POST", "/connections", json=body)

    def connections(self) -> JSON:
        return self._call("GET", "/connections")

    def connection(self, connection_id: str, action: str = "") -> JSON:
        """``GET /connections/{id}``, or with ``action`` ``test`` its POST, ``delete`` its DELETE."""
        path = f"/connections/{_segment(connection_id)}"
        if action == "test":
            return self._call("POST", f"{path}/test")
        return self._call("DELETE" if action == "delete" else "GET", path)

    def create_schedule(self, body: JSON) -> JSON:
        """``POST /schedules``: a scan run by the clock, every interval or at a cron's times."""
        return self._call("POST", "/schedules", json=body)

    def schedules(self) -> JSON:
        return self._call("GET", "/schedules")

    def schedule(self, schedule_id: str, action: str = "") -> JSON:
        """``GET /schedules/{id}``; ``pause`` and ``resume`` their POST, ``delete`` its DELETE."""
        path = f"/schedules/{_segment(schedule_id)}"
        if action in ("pause", "resume"):
            return self._call("POST", f"{path}/{action}")
        return self._call("DELETE" if action == "delete" else "GET", path)

    def update_schedule(self, schedule_id: str, body: JSON) -> JSON:
        """``PATCH /schedules/{id}``: new timing or a new config, from the next run on."""
        return self._call("PATCH", f"/schedules/{_segment(schedule_id)}", json=body)

    def results(
        self,
        scan_id: str,
        *,
        page: int | None = None,
        page_size: int | None = None,
        cursor: str | None = None,
        where: DealFilter = DealFilter(),
        partial: bool = False,
    ) -> JSON:
        """One page of deals, by ``page`` number or by a ``cursor`` from ``next_cursor``;
        ``partial`` for those of a run that did not complete."""
        params: dict[str, Any] = {"page": page, "page_size": page_size, "cursor": cursor}
        params = {k: v for k, v in params.items() if v is not None} | where.params()
        if partial:
            params["partial"] = "true"
        return self._call("GET", f"/scan/results/{_segment(scan_id)}", params=params)

    def schema(self, scan_id: str, *, partial: bool = False) -> JSON:
        """``GET /scan/schema/{id}``: the property definitions the served run read when it
        started; ``partial`` for those of a run that did not complete."""
        params = {"partial": "true"} if partial else {}
        return self._call("GET", f"/scan/schema/{_segment(scan_id)}", params=params)

    def changes(self, scan_id: str, *, cursor: str | None = None, limit: int = 1000) -> JSON:
        """``GET /scan/changes/{id}``: the feed's events past ``cursor`` (from the start without
        one), with the ``next_cursor`` to keep."""
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        return self._call("GET", f"/scan/changes/{_segment(scan_id)}", params=params)

    def iter_pages(
        self,
        scan_id: str,
        *,
        page_size: int = 500,
        cursor: str | None = None,
        where: DealFilter = DealFilter(),
        partial: bool = False,
    ) -> Iterator[JSON]:
        """Every page from ``cursor`` (or the first) on, following ``next_cursor`` (keyset pages
        cost the same at any depth); one page in memory at a time."""
        while True:
            body = self.results(
                scan_id, page_size=page_size, cursor=cursor, where=where, partial=partial
            )
            yield body
            cursor = body.get("pagination", {}).get("next_cursor")
            if not cursor:
                return

    def list_scans(
        self,
        *,
        status: str | None = None,
        organization_id: str | None = None,
        page: int = 1,
        page_size: int = 20,
        sort_by: str = "created_at",
        sort_order: str = "desc",
    ) -> JSON:
        params: dict[str, Any] = {
            "status": status,
            "organization_id": organization_id,
            "page": page,
            "page_size": page_size,
            "sort_by": sort_by,
            "sort_order": sort_order,
        }
        return self._call(
            "GET", "/scan/list", params={k: v for k, v in params.items() if v is not None}
        )

    @contextmanager
    def export(
        self,
        scan_id: str,
        *,
        file_format: str = "csv",
        table: str = "deals",
        where: DealFilter = DealFilter(),
        bom: bool = False,
        partial: bool = False,
    ) -> Iterator[httpx.Response]:
        """``GET /scan/results/{id}/export``, streamed: the open response, its body not yet read.
        ``table`` is sent only when it is not the deals, which every version of the service
        serves.

        Errors while the body is read (the connection dropping mid-file) surface as
        ``ServiceUnreachable`` from inside the ``with`` block, like every other failure."""
        params = {"format": file_format} | where.params() | ({"bom": "true"} if bom else {})
        if table != "deals":
            params["table"] = table
        if partial:
            params["partial"] = "true"
        path = f"{API}/scan/results/{_segment(scan_id)}/export"
        try:
            with self._client.stream("GET", path, params=params) as response:
                if response.is_error:
                    response.read()
                    raise ApiError.from_response(response)
                yield response
        except httpx.TransportError as exc:
            raise ServiceUnreachable(self.base_url, _reason(exc)) from exc

    # -- one call -----------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> JSON:
        try:
            response = self._client.request(method, f"{API}{path}", **kwargs)
        except httpx.TransportError as exc:
            raise ServiceUnreachable(self.base_url, _reason(exc)) from exc
        if response.is_error:
            raise ApiError.from_response(response)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ApiError(
                response.status_code, "BAD_RESPONSE", "the service's answer is not a JSON object"
            )
        return body


def _segment(scan_id: str) -> str:
    """A scan id as one path segment: ``/`` or ``..`` in it cannot reach another endpoint."""
    return quote(scan_id, safe="")
