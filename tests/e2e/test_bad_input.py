"""Hostile and careless input, by hand (schemathesis covers the document's space, these its edges):
huge and deeply nested bodies, numbers past every limit, unicode and control characters in ids,
made-up cursors, pages out of range, repeated parameters, wrong content types; the export's
formats, flags and filters; the dashboard's form posts. Every answer of the API is the spec's
envelope with a 4xx, every answer of the dashboard a page (or a redirect), never a 500, and the
service keeps serving."""

from __future__ import annotations

import base64
import html
import io
import re
from typing import Any

import pyarrow.parquet as pq
import pytest
from httpx import Response

from hubspot_deals.sandbox.process import SandboxProcess
from tests.e2e.conftest import ServiceProcess
from tests.e2e.test_api_contract import assert_envelope, valid_config

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
FIELD_ERROR = re.compile(r'data-error-for="([^"]+)">([^<]*)</p>')
ERROR_BOX = re.compile(r"data-error>([^<]*)<")
EXPORT = "/api/v1/scan/results/{}/export"
FORMATS = ("csv", "ndjson", "parquet")
#: Scan ids no route may take (path-encoded as sent): control characters, unicode, lengths.
HOSTILE_IDS = {
    "nul": "a%00b",
    "emoji": "%F0%9F%98%80",
    "rtl": "%E2%80%AEevil",
    "newline": "a%0Ab",
    "tab": "a%09b",
    "escape": "a%1Bb",
    "256": "a" * 256,
    "30k": "a" * 30_000,
    "accent": "%C3%A9",
    "bad-utf8": "%FF",
    "sql": "'%20OR%201=1--",
}


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

    def test_thousand_properties_fit(self, service: ServiceProcess, portal: SandboxProcess) -> None:
        """The cap leaves room for the largest valid config (1,000 property names)."""
        names = [f"custom_property_{i:04d}" for i in range(1000)]
        config = valid_config(
            scanId="many-props", properties=names, auth={"hubspot_access_token": portal.token}
        )
        reply = service.post("/api/v1/scan/start", {"config": config})
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
    @pytest.mark.parametrize("scan_id", list(HOSTILE_IDS.values()), ids=list(HOSTILE_IDS))
    @pytest.mark.parametrize(
        ("method", "template"),
        [
            ("GET", "/api/v1/scan/status/{}"),
            ("GET", "/api/v1/scan/results/{}"),
            ("POST", "/api/v1/scan/cancel/{}"),
            ("GET", EXPORT),
            ("GET", EXPORT + "?format=parquet"),
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
        """A NUL too: PostgreSQL refuses one as a parameter (that answered 500 in the
        distributed mode); it is text no organization id has."""
        for value in ("\x01\x02", "\u202e", "' OR 1=1 --", "%", "_", "\x00", "org\x00"):
            reply = service.get("/api/v1/scan/list", params={"organization_id": value})
            assert reply.status_code == 200
            assert reply.json()["scans"] == []
            stats = service.get("/api/v1/stats", params={"organization_id": value})
            assert stats.status_code == 200
            assert stats.json()["summary"]["total_scans"] == 0

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
            ("job_x:{query}:1:0", True),  # another run's
            ("{job}:{query}:" + "9" * 30 + ":5", True),  # past any database integer
            ("{job}:{query}:5:" + "9" * 30, True),
            ("{job}:{query}:-5:0", True),
            ("{job}:{query}:5:-1", True),
            ("{job}:{query}:abc:0", True),
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
        text = made_up.replace("{job}", job_id).replace("{query}", query_of(service, scan_id))
        reply = service.get(
            f"/api/v1/scan/results/{scan_id}", params={"cursor": encoded(text) if encode else text}
        )
        body = assert_envelope(reply, 400, "VALIDATION_ERROR")
        assert "cursor" in body["errors"]

    def test_other_filters_or_a_page(self, service: ServiceProcess, done: tuple[str, str]) -> None:
        """A cursor belongs to its query: with other filters, or beside a page, it is a 400."""
        scan_id, _ = done
        path = f"/api/v1/scan/results/{scan_id}"
        cursor = service.get(path, params={"page_size": 1}).json()["pagination"]["next_cursor"]
        assert service.get(path, params={"cursor": cursor, "page_size": 7}).status_code == 200
        for other in ({"pipeline": "default"}, {"dealstage": "x"}, {"owner_id": "1"}):
            body = assert_envelope(
                service.get(path, params={"cursor": cursor} | other), 400, "VALIDATION_ERROR"
            )
            assert "other filters" in body["errors"]["cursor"]
        body = assert_envelope(
            service.get(path, params={"cursor": cursor, "page": 1}), 400, "VALIDATION_ERROR"
        )
        assert body["errors"] == {"cursor": "Give cursor or page, not both"}
        filtered = service.get(path, params={"page_size": 1, "pipeline": "default"}).json()
        again = {
            "cursor": filtered["pagination"]["next_cursor"],
            "pipeline": "default",
            "page_size": 1,
        }
        assert service.get(path, params=again).json()["pagination"]["current_page"] == 2

    def test_service_still_serves(self, service: ServiceProcess, done: tuple[str, str]) -> None:
        scan_id, _ = done
        assert service.get("/health").status_code == 200
        assert service.get(f"/api/v1/scan/results/{scan_id}").status_code == 200
        assert "request.crashed" not in service.logs()


def query_of(service: ServiceProcess, scan_id: str) -> str:
    """The query part of a real cursor of the unfiltered results (made-up cursors use it)."""
    path = f"/api/v1/scan/results/{scan_id}"
    cursor = service.get(path, params={"page_size": 1}).json()["pagination"]["next_cursor"]
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split(":")[1]


def assert_page(reply: Response, status: int) -> str:
    """A dashboard answer: the status, a page of ours (HTML with the dashboard's security
    headers: no traceback, no JSON), its text."""
    assert reply.status_code == status, reply.text[:1000]
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert reply.headers["x-frame-options"] == "DENY"
    return reply.text


SCAN_ID, BATCH = "config.scanId", "config.batchSize"
ALNUM = "Must be alphanumeric with hyphens/underscores only"
DATE = "Must be a date (YYYY-MM-DD) or an ISO-8601 datetime"
NOT_A_KEY = "This is not a valid API key (mistyped, or revoked)"


def shown_errors(page: str) -> dict[str, str]:
    """The messages a page shows: beside each form field by its name, and its error box as
    ``page``."""
    shown = {field: html.unescape(text) for field, text in FIELD_ERROR.findall(page)}
    if box := ERROR_BOX.search(page):
        shown["page"] = html.unescape(box.group(1))
    return shown


class TestExports:
    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("format=xml", "format"),
            ("format=json", "format"),
            ("format=CSV", "format"),
            ("format=", "format"),
            ("format=%00", "format"),
            ("format=csv%20", "format"),
            ("format=parquet%0A", "format"),
            ("format=" + "csv" * 10_000, "format"),
            ("bom=maybe", "bom"),
            ("bom=", "bom"),
            ("bom=2", "bom"),
            ("bom=%00", "bom"),
            ("bom=true%20", "bom"),
            ("format=ndjson&bom=" + "t" * 10_000, "bom"),
        ],
    )
    def test_bad_format_and_bom(
        self, service: ServiceProcess, done: tuple[str, str], query: str, field: str
    ) -> None:
        scan_id, _ = done
        reply = service.get(f"{EXPORT.format(scan_id)}?{query}")
        assert field in assert_envelope(reply, 400, "VALIDATION_ERROR")["errors"]
        # the dashboard's export button takes the same parameters: its page names the field
        assert field in assert_page(service.get(f"/scans/{scan_id}/export?{query}"), 400)

    @pytest.mark.parametrize(
        "query",
        [
            "format=csv&format=ndjson",
            "format=parquet&format=parquet",
            "bom=true&bom=false",
            "pipeline=default&pipeline=other",
            "owner_id=1&owner_id=1",
        ],
    )
    def test_repeated_parameters_are_refused(
        self, service: ServiceProcess, done: tuple[str, str], query: str
    ) -> None:
        """Which of two formats the caller meant cannot be guessed: 400, naming it."""
        scan_id, _ = done
        for path in (EXPORT.format(scan_id), f"/scans/{scan_id}/export"):
            body = assert_envelope(service.get(f"{path}?{query}"), 400, "VALIDATION_ERROR")
            assert body["errors"] == {query.split("=")[0]: "Given more than once"}

    @pytest.mark.parametrize(
        ("field", "limit"),
        [("pipeline", 255), ("dealstage", 255), ("owner_id", 64)],
    )
    @pytest.mark.parametrize("fmt", FORMATS)
    def test_over_long_filters(
        self, service: ServiceProcess, done: tuple[str, str], field: str, limit: int, fmt: str
    ) -> None:
        scan_id, _ = done
        for value in ("x" * (limit + 1), "é" * (limit + 1), "x" * 30_000):
            params = {"format": fmt, field: value}
            reply = service.get(EXPORT.format(scan_id), params=params)
            body = assert_envelope(reply, 400, "VALIDATION_ERROR")
            assert body["errors"] == {field: f"Must be at most {limit} characters"}
            page = assert_page(service.get(f"/scans/{scan_id}/export", params=params), 400)
            assert f"Must be at most {limit} characters" in page
        longest = service.get(EXPORT.format(scan_id), params={"format": fmt, field: "x" * limit})
        assert longest.status_code == 200 and longest.headers["x-total-count"] == "0"

    @pytest.mark.parametrize("name", ["pipeline", "dealstage", "owner_id"])
    def test_filters_with_nul_match_nothing(
        self, service: ServiceProcess, done: tuple[str, str], name: str
    ) -> None:
        """PostgreSQL's text cannot hold a NUL and refuses one as a parameter: such a filter
        answered 500 in the distributed mode (results, exports, the dashboard). It is text no
        deal has: nothing matches, in both modes."""
        scan_id, _ = done
        for value in ("\x00", "default\x00", "\x00" * 64):
            params = {name: value}
            results = service.get(f"/api/v1/scan/results/{scan_id}", params=params)
            assert results.status_code == 200, results.text
            assert results.json()["pagination"]["total_items"] == 0
            for fmt in FORMATS:
                for path in (EXPORT.format(scan_id), f"/scans/{scan_id}/export"):
                    reply = service.get(path, params=params | {"format": fmt})
                    assert reply.status_code == 200, (path, reply.text)
                    assert reply.headers["x-total-count"] == "0"
                    if fmt == "parquet":
                        assert pq.read_table(io.BytesIO(reply.content)).num_rows == 0
                    else:  # the CSV's header line alone; no NDJSON line
                        assert len(reply.text.splitlines()) == (fmt == "csv")
            assert_page(service.get(f"/scans/{scan_id}", params=params), 200)
            assert_page(service.get(f"/fragments/scans/{scan_id}", params=params), 200)

    @pytest.mark.parametrize("scan_id", ["never-existed", "a" * 255, "-", "_"])
    @pytest.mark.parametrize("fmt", FORMATS)
    def test_made_up_scan_ids(self, service: ServiceProcess, scan_id: str, fmt: str) -> None:
        """Well-formed but no scan's: 404 in the envelope (the dashboard: its "not found" page)."""
        reply = service.get(EXPORT.format(scan_id), params={"format": fmt})
        assert assert_envelope(reply, 404, "SCAN_NOT_FOUND")["details"] == {"scanId": scan_id}
        page = service.get(f"/scans/{scan_id}/export", params={"format": fmt})
        assert "Scan not found" in assert_page(page, 404)


class TestDashboard:
    @pytest.mark.parametrize("scan_id", list(HOSTILE_IDS.values()), ids=list(HOSTILE_IDS))
    @pytest.mark.parametrize(
        ("method", "template"),
        [
            ("GET", "/scans/{}"),
            ("GET", "/fragments/scans/{}"),
            ("GET", "/scans/{}/export?format=ndjson"),
            ("POST", "/scans/{}/cancel"),
        ],
    )
    def test_hostile_scan_ids(
        self, service: ServiceProcess, scan_id: str, method: str, template: str
    ) -> None:
        """The API's rule and message for a scan id, on a page; the id is not written back."""
        page = assert_page(service.request(method, template.format(scan_id)), 400)
        assert "scan_id" in page and "Must be alphanumeric with hyphens/underscores only" in page
        if len(scan_id) > 255:
            assert scan_id not in page

    @pytest.mark.parametrize(
        ("content", "status", "field", "message"),
        [
            (b"", 400, SCAN_ID, "Field is required"),
            (b"%%%&&&===", 400, SCAN_ID, "Field is required"),
            (b"config.scanId=%FF%FE&config.auth.hubspot_access_token=x", 400, SCAN_ID, ALNUM),
            (b"config.scanId=\xff\xfe", 400, "page", "The form could not be read"),
            (b"config.scanId=a%00b&config.auth.hubspot_access_token=%00", 400, SCAN_ID, ALNUM),
            (b"&".join(b"f%d=1" % i for i in range(3000)), 400, "page", "The form could not be read"),
            (b"config.scanId=" + b"a" * 900_000, 400, SCAN_ID, "Must be at most 255 characters"),
            (b"config.properties=" + b"a," * 400_000, 400, "config.properties", "List should have at most 1000 items after validation, not 400000"),
            (b"config.associationTypes=contacts&" * 1_500, 400, "config.associationTypes", "List should have at most 3 items after validation, not 1500"),
            (b"config.batchSize=" + b"9" * 5_000, 400, BATCH, "Must be less than or equal to 100"),
            (b"config.batchSize=" + b"0" * 5_000 + b"7", 400, BATCH, None),  # 7: a good size
            (b"config.batchSize=%D9%A3", 400, BATCH, "Must be an integer"),  # an Arabic-Indic 3
            (b"config.batchSize=%C2%B2", 400, BATCH, "Must be an integer"),  # a superscript 2
            (b"config.filters.dateFilter.startDate=9999-99-99", 400, "config.filters.dateFilter.startDate", DATE),
            (b"config.filters.dateFilter.endDate=%00", 400, "config.filters.dateFilter.endDate", DATE),
            (b"config.scanId=" + b"a" * 2_000_000, 413, "page", "The form is too large"),
        ],
        ids=[
            "empty", "garbage", "bad-utf8", "raw-bytes", "nul", "3000-fields", "900k-field",
            "400k-properties", "1500-fields", "5000-digits", "leading-zeros", "arabic-digit",
            "superscript", "bad-date", "nul-date", "2MB",
        ],
    )  # fmt: skip
    def test_malformed_start_forms(
        self,
        service: ServiceProcess,
        content: bytes,
        status: int,
        field: str,
        message: str | None,
    ) -> None:
        """Each is the start form again with the API's messages beside their fields (a form
        that cannot be read, or is too large: a page saying so), never a 500."""
        reply = service.request("POST", "/start", content=content, headers=FORM)
        assert shown_errors(assert_page(reply, status)).get(field) == message

    def test_batch_of_5000_digits_is_answered_as_the_api_answers_it(
        self, service: ServiceProcess, portal: SandboxProcess
    ) -> None:
        """Python's int() refuses 4,300 digits or more: the form answered 500 (a ValueError)."""
        form = (
            b"config.scanId=bad-form-batch&config.auth.hubspot_access_token="
            + portal.token.encode()
            + b"&config.batchSize="
            + b"9" * 5_000
        )
        page = assert_page(service.request("POST", "/start", content=form, headers=FORM), 400)
        assert "Must be less than or equal to 100" in page
        assert service.status("bad-form-batch")["status"] == "not_found"

    def test_huge_form_is_refused_whole(self, service: ServiceProcess) -> None:
        """20 MB: 413 after the first megabyte, as the API's start body."""
        for path in ("/start", "/key"):
            content = b"config.scanId=" + b"a" * 20_000_000
            assert "too large" in assert_page(
                service.request("POST", path, content=content, headers=FORM), 413
            )

    @pytest.mark.parametrize(
        ("content_type", "content"),
        [
            ("application/json", b'{"config": {"scanId": "x"}}'),
            ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="config.scanId"\r\n\r\nx\r\n--x--\r\n'),
            ("multipart/form-data; boundary=x", b"--x\r\nContent-Dis"),
            ("text/plain", b"config.scanId=x"),
            ("application/xml", b"<config/>"),
            ("application/x-www-form-urlencodedx", b"config.scanId=x"),
            ("", b"config.scanId=x"),
        ],
        ids=["json", "multipart", "multipart-cut", "text", "xml", "near-miss", "none"],
    )  # fmt: skip
    def test_wrong_content_types(
        self, service: ServiceProcess, content_type: str, content: bytes
    ) -> None:
        headers = {"Content-Type": content_type} if content_type else {}
        for path in ("/start", "/key"):
            reply = service.request("POST", path, content=content, headers=headers)
            assert shown_errors(assert_page(reply, 400)) == {"page": "Send the dashboard's form"}

    @pytest.mark.parametrize(
        ("content", "status", "message"),
        [
            (b"", 401, "Enter your API key"),
            (b"api_key=", 401, "Enter your API key"),
            (b"api_key=%20%09", 401, "Enter your API key"),
            (b"api_key=%00", 401, NOT_A_KEY),
            (b"api_key=%FF%FE", 401, NOT_A_KEY),
            (b"api_key=\xff\xfe", 400, "The form could not be read"),
            (b"api_key=" + b"a" * 900_000, 401, NOT_A_KEY),
            (b"api_key=a&api_key=b", 401, NOT_A_KEY),
            (b"%%%&&&===", 401, "Enter your API key"),
            (b"&".join(b"f%d=1" % i for i in range(3000)), 400, "The form could not be read"),
        ],
        ids=[
            "empty", "blank", "spaces", "nul", "bad-utf8", "raw-bytes", "900k", "twice",
            "garbage", "3000-fields",
        ],
    )  # fmt: skip
    def test_malformed_key_forms(
        self, service: ServiceProcess, content: bytes, status: int, message: str
    ) -> None:
        """No key is valid here (the service runs open, with no key): the key form again with
        its error (401), or 400 when the form cannot be read; no cookie is set."""
        reply = service.request("POST", "/key", content=content, headers=FORM)
        shown = shown_errors(assert_page(reply, status))
        assert shown.get("api_key", shown.get("page")) == message
        assert "set-cookie" not in reply.headers

    @pytest.mark.parametrize(
        ("content_type", "content"),
        [
            ("application/json", b"{"),
            ("multipart/form-data; boundary=x", b"--x\r\nbroken"),
            ("application/x-www-form-urlencoded", b"%%%" + b"a=" * 10_000),
            ("text/plain", b"\x00" * 1000),
        ],
        ids=["json", "multipart", "form", "text"],
    )
    def test_bodies_of_forms_that_take_none(
        self, service: ServiceProcess, done: tuple[str, str], content_type: str, content: bytes
    ) -> None:
        """Cancel and Forget key read no body: whatever is sent, the same answer as without."""
        scan_id, _ = done
        headers = {"Content-Type": content_type}
        forget = service.request("POST", "/key/forget", content=content, headers=headers)
        assert forget.status_code == 303 and forget.headers["location"] == "/key?reason=forgotten"
        cancel = service.request(
            "POST", f"/scans/{scan_id}/cancel", content=content, headers=headers
        )
        assert cancel.status_code == 303  # finished: nothing to cancel
        assert cancel.headers["location"] == f"/scans/{scan_id}?notice=not-cancellable"
        unknown = service.request(
            "POST", "/scans/never-existed/cancel", content=content, headers=headers
        )
        assert "Scan not found" in assert_page(unknown, 404)

    def test_service_still_serves(self, service: ServiceProcess, done: tuple[str, str]) -> None:
        scan_id, _ = done
        assert_page(service.get("/"), 200)
        assert_page(service.get(f"/scans/{scan_id}"), 200)
        assert service.get(EXPORT.format(scan_id)).status_code == 200
        assert "request.crashed" not in service.logs()
