"""Hostile and careless input, by hand (schemathesis covers the document's space, these its edges):
huge and deeply nested bodies, numbers past every limit, unicode and control characters in ids,
made-up cursors, pages out of range, repeated parameters, wrong content types. Every answer is the
spec's envelope with a 4xx, never a 500, and the service keeps serving."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from httpx import Response

from hubspot_deals.sandbox.process import SandboxProcess
from tests.e2e.conftest import ServiceProcess
from tests.e2e.test_api_contract import assert_envelope, valid_config

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def done(service: ServiceProcess, portal: SandboxProcess) -> tuple[str, str]:
    """A completed scan (its id and job id): the target of the cursor and paging cases."""
    service.start_scan("bad-input", portal.token)
    status = service.wait("bad-input")
    assert status["status"] == "completed"
    return "bad-input", status["id"]


def encoded(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def post_raw(service: ServiceProcess, content: bytes, headers: dict[str, str]) -> Response:
    return service.request("POST", "/api/v1/scan/start", content=content, headers=headers)


class TestBodies:
    @pytest.mark.parametrize(
        ("content", "field"),
        [
            (b'{"config": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "body"),  # RecursionError
            (b'{"config": {"batchSize": ' + b"9" * 5_000 + b"}}", "body"),  # int digit limit
            (b'{"config": {"batchSize": NaN}}', "config.batchSize"),
            (b'{"config": {"batchSize": 1e400}}', "config.batchSize"),
            (b'\xef\xbb\xbf{"config": {}}', "config.scanId"),  # a byte-order mark: still JSON
            ('{"config": {"scanId": "é"}}'.encode("latin-1"), "body"),  # not UTF-8
            (b'{"config": {"scanId": "a\\u0000b"}}', "config.scanId"),
            (b'{"config": {"scanId": "\\ud800"}}', "config.scanId"),  # a lone surrogate
            (b'"config"', "body"),
            (b"null", "body"),
        ],
        ids=[
            "nested",
            "digits",
            "nan",
            "infinity",
            "bom",
            "latin-1",
            "nul",
            "surrogate",
            "string",
            "null",
        ],
    )
    def test_malformed(self, service: ServiceProcess, content: bytes, field: str) -> None:
        body = assert_envelope(post_raw(service, content, JSON), 400, "VALIDATION_ERROR")
        assert field in body["errors"], body["errors"]

    def test_huge_body_is_refused_whole(self, service: ServiceProcess) -> None:
        """20 MB: 413 after the first megabyte, without reading (or storing) the rest."""
        huge = b'{"config": {"scanId": "' + b"a" * 20_000_000 + b'"}}'
        body = assert_envelope(post_raw(service, huge, JSON), 413, "PAYLOAD_TOO_LARGE")
        assert body["details"]["max_bytes"] == 1_000_000

    def test_thousand_properties_fit(self, service: ServiceProcess) -> None:
        """The cap leaves room for the largest valid config (1,000 property names)."""
        names = [f"custom_property_{i:04d}" for i in range(1000)]
        reply = service.post(
            "/api/v1/scan/start", {"config": valid_config(scanId="many-props", properties=names)}
        )
        assert reply.status_code == 202, reply.text

    @pytest.mark.parametrize(
        "content_type",
        [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/xml",
            "",
        ],
    )
    def test_wrong_content_type(self, service: ServiceProcess, content_type: str) -> None:
        headers = {"Content-Type": content_type} if content_type else {}
        reply = post_raw(service, b'{"config": {}}', headers)
        body = assert_envelope(reply, 400, "VALIDATION_ERROR")
        assert body["errors"] == {"body": "Content-Type must be application/json"}

    def test_json_with_charset_is_json(self, service: ServiceProcess) -> None:
        reply = post_raw(
            service, b'{"config": {}}', {"Content-Type": "application/json; charset=utf-8"}
        )
        assert "config.scanId" in assert_envelope(reply, 400, "VALIDATION_ERROR")["errors"]

    @pytest.mark.parametrize(
        "value",
        [
            "pat-na1-ünïcode",
            "pat na1",
            "pat-na1-\x00",
            "pat-na1-\u202e",
            "x" * 513,
            ["a"],
            {"a": 1},
        ],
        ids=["non-ascii", "space", "nul", "rtl", "long", "list", "object"],
    )
    def test_tokens_that_cannot_be_sent(self, service: ServiceProcess, value: Any) -> None:
        """A token goes into an HTTP header: anything but visible ASCII is refused at the door,
        not carried to a worker that would fail to send it."""
        config = valid_config(scanId="bad-token", auth={"hubspot_access_token": value})
        body = assert_envelope(
            service.post("/api/v1/scan/start", {"config": config}), 400, "VALIDATION_ERROR"
        )
        assert "config.auth.hubspot_access_token" in body["errors"]
        assert str(value) not in str(body)


class TestIdsAndParameters:
    @pytest.mark.parametrize(
        "scan_id",
        [
            "a%00b",
            "%F0%9F%98%80",
            "%E2%80%AEevil",
            "a%0Ab",
            "a" * 256,
            "a" * 30_000,
            "%C3%A9",
            "%FF",
            "'%20OR%201=1--",
        ],
        ids=[
            "nul",
            "emoji",
            "rtl",
            "newline",
            "256",
            "30k",
            "accent",
            "bad-utf8",
            "sql",
        ],
    )
    @pytest.mark.parametrize(
        ("method", "template"),
        [
            ("GET", "/api/v1/scan/status/{}"),
            ("GET", "/api/v1/scan/results/{}"),
            ("POST", "/api/v1/scan/cancel/{}"),
        ],
    )
    def test_hostile_scan_ids(
        self, service: ServiceProcess, scan_id: str, method: str, template: str
    ) -> None:
        reply = service.request(method, template.format(scan_id))
        body = assert_envelope(reply, 400, "VALIDATION_ERROR")
        assert "scan_id" in body["errors"]

    def test_path_traversal_meets_no_route(self, service: ServiceProcess) -> None:
        """An encoded slash makes another path, which no route has: 404 in the envelope."""
        reply = service.get("/api/v1/scan/status/..%2F..%2Fetc%2Fpasswd")
        assert_envelope(reply, 404, "NOT_FOUND")

    def test_hostile_organization_filter_matches_nothing(self, service: ServiceProcess) -> None:
        for value in ("\x01\x02", "\u202e", "' OR 1=1 --", "%", "_"):
            reply = service.get("/api/v1/scan/list", params={"organization_id": value})
            assert reply.status_code == 200
            assert reply.json()["scans"] == []

    @pytest.mark.parametrize(
        "query",
        [
            "page=-5",
            "page=0",
            "page=99999999999999999999999",
            "page=1e3",
            "page_size=-1",
            "page_size=99999999999999999999999",
            "page=%00",
        ],
    )
    def test_pages_out_of_range(
        self, service: ServiceProcess, done: tuple[str, str], query: str
    ) -> None:
        scan_id, _ = done
        for path in (f"/api/v1/scan/results/{scan_id}", "/api/v1/scan/list"):
            assert_envelope(service.get(f"{path}?{query}"), 400, "VALIDATION_ERROR")

    def test_last_possible_page_is_empty_not_an_error(
        self, service: ServiceProcess, done: tuple[str, str]
    ) -> None:
        scan_id, _ = done
        reply = service.get(f"/api/v1/scan/results/{scan_id}?page=10000000&page_size=500")
        assert reply.status_code == 200 and reply.json()["deals"] == []

    @pytest.mark.parametrize(
        "query",
        [
            "page=1&page=2",
            "page_size=10&page_size=10",
            "cursor=a&cursor=b",
            "pipeline=default&pipeline=other",
        ],
    )
    def test_repeated_parameters_are_refused(
        self, service: ServiceProcess, done: tuple[str, str], query: str
    ) -> None:
        """Which of two values the caller meant cannot be guessed: 400, naming the parameter."""
        scan_id, _ = done
        body = assert_envelope(
            service.get(f"/api/v1/scan/results/{scan_id}?{query}"), 400, "VALIDATION_ERROR"
        )
        assert body["errors"] == {query.split("=")[0]: "Given more than once"}
        stats = service.get("/api/v1/stats?period=24h&period=7d")
        assert assert_envelope(stats, 400, "VALIDATION_ERROR")["errors"] == {
            "period": "Given more than once"
        }


class TestCursors:
    @pytest.mark.parametrize(
        ("made_up", "encode"),
        [
            ("%%%", False),
            ("\x00", False),
            ("a" * 200, False),
            (base64.urlsafe_b64encode(b"\xff\xfe:1:2").decode(), False),  # not UTF-8
            ("no-colons", True),
            ("job_x:1:0", True),  # another run's
            ("{job}:" + "9" * 30 + ":5", True),  # past any database integer
            ("{job}:5:" + "9" * 30, True),
            ("{job}:-5:0", True),
            ("{job}:5:-1", True),
            ("{job}:abc:0", True),
        ],
        ids=[
            "percent",
            "nul",
            "long",
            "bytes",
            "shape",
            "foreign",
            "huge-key",
            "huge-offset",
            "negative-key",
            "negative-offset",
            "letters",
        ],
    )
    def test_made_up_cursors(
        self, service: ServiceProcess, done: tuple[str, str], made_up: str, encode: bool
    ) -> None:
        scan_id, job_id = done
        text = made_up.replace("{job}", job_id)
        reply = service.get(
            f"/api/v1/scan/results/{scan_id}", params={"cursor": encoded(text) if encode else text}
        )
        body = assert_envelope(reply, 400, "VALIDATION_ERROR")
        assert "cursor" in body["errors"]

    def test_service_still_serves(self, service: ServiceProcess, done: tuple[str, str]) -> None:
        scan_id, _ = done
        assert service.get("/health").status_code == 200
        assert service.get(f"/api/v1/scan/results/{scan_id}").status_code == 200
        assert "request.crashed" not in service.logs()
