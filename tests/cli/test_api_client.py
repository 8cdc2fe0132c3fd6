"""The CLI's API client and its error lines, over a mock transport: what it sends, and what every
kind of answer (envelope, proxy page, garbage, silence) becomes."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from hubspot_deals.console.api_client import ApiError, ClientError, ScanApi, ServiceUnreachable
from hubspot_deals.console.exit_codes import ExitCode, exit_code_of
from hubspot_deals.console.render import error_line

Handler = Callable[[httpx.Request], httpx.Response]


def api(handler: Handler, key: str | None = "hsd_k") -> ScanApi:
    return ScanApi("http://service.test/", key, transport=httpx.MockTransport(handler))


def envelope(status: int, code: str, message: str, **extra: object) -> httpx.Response:
    body = {"status": "error", "error_code": code, "message": message, "details": {}} | extra
    return httpx.Response(status, json=body | {"request_id": "req_1"})


def failure(response: httpx.Response) -> ClientError:
    with api(lambda _: response) as client, pytest.raises(ClientError) as caught:
        client.status("x")
    return caught.value


class TestRequests:
    def test_key_path_and_filters(self) -> None:
        """X-API-Key on every call; a scan id is one path segment; only given filters are sent."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200, json={"deals": [], "pagination": {"next_cursor": None}})

        with api(handler) as client:
            client.results("../stats", page_size=5)
        request = seen[0]
        assert request.headers["X-API-Key"] == "hsd_k"
        assert request.url.raw_path == b"/api/v1/scan/results/..%2Fstats?page_size=5"

    def test_no_key_no_header(self) -> None:
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200, json={"status": "not_found"})

        with api(handler, key=None) as client:
            client.status("x")
        assert "X-API-Key" not in seen[0].headers

    def test_iter_pages_follows_the_cursor(self) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            cursor = request.url.params.get("cursor")
            following = {None: "c1", "c1": "c2", "c2": None}[cursor]
            return httpx.Response(
                200, json={"deals": [cursor], "pagination": {"next_cursor": following}}
            )

        with api(handler) as client:
            pages = list(client.iter_pages("x"))
        assert [p["deals"] for p in pages] == [[None], ["c1"], ["c2"]]


class TestErrors:
    def test_envelope_with_field_errors(self) -> None:
        error = failure(
            envelope(
                400,
                "VALIDATION_ERROR",
                "Input validation failed",
                errors={"config.batchSize": "Must be at most 100", "config.scanId": "Required"},
            )
        )
        assert isinstance(error, ApiError) and exit_code_of(error) == ExitCode.USAGE
        assert error_line(error) == (
            "Input validation failed (VALIDATION_ERROR, HTTP 400) - "
            "config.batchSize: Must be at most 100; config.scanId: Required"
        )

    def test_rate_limit_says_when_to_retry(self) -> None:
        response = envelope(429, "RATE_LIMIT_EXCEEDED", "Too many requests")
        response.headers["Retry-After"] = "17"
        error = failure(response)
        assert exit_code_of(error) == ExitCode.RATE_LIMITED
        assert error_line(error).endswith(" - retry after 17 s")

    def test_server_error_names_the_request(self) -> None:
        error = failure(envelope(500, "INTERNAL_ERROR", "Unexpected server error"))
        assert exit_code_of(error) == ExitCode.SERVICE_ERROR
        assert error_line(error).endswith(" - request req_1")

    @pytest.mark.parametrize(
        ("response", "code"),
        [
            (httpx.Response(502, text="<h1>bad gateway</h1>"), ExitCode.UNREACHABLE),
            (httpx.Response(404, text="nope"), ExitCode.NOT_FOUND),
            (httpx.Response(418, json={"detail": "teapot"}), ExitCode.SERVICE_ERROR),
            (httpx.Response(200, text="not json"), ExitCode.SERVICE_ERROR),
            (httpx.Response(200, json=[1, 2]), ExitCode.SERVICE_ERROR),
        ],
    )
    def test_answers_that_are_not_the_envelope(
        self, response: httpx.Response, code: ExitCode
    ) -> None:
        """A proxy's page, a body of the wrong shape: still an ApiError, by the HTTP status."""
        error = failure(response)
        assert isinstance(error, ApiError) and exit_code_of(error) == code
        assert "\n" not in error_line(error)

    @pytest.mark.parametrize(
        "raised",
        [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("x")],
    )
    def test_no_answer(self, raised: httpx.TransportError) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            raise raised

        with api(handler) as client, pytest.raises(ServiceUnreachable) as caught:
            client.list_scans()
        assert exit_code_of(caught.value) == ExitCode.UNREACHABLE
        assert str(caught.value).startswith("cannot reach the service at http://service.test: ")

    def test_the_key_is_never_in_an_error(self) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            return envelope(401, "UNAUTHORIZED", "A valid X-API-Key is required")

        with api(handler, key="hsd_secret") as client, pytest.raises(ApiError) as caught:
            client.start({"auth": {"hubspot_access_token": "pat-secret"}})
        line = error_line(caught.value)
        assert "secret" not in line and "secret" not in json.dumps(caught.value.details)
        assert exit_code_of(caught.value) == ExitCode.UNAUTHORIZED
