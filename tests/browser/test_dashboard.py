"""The dashboard as a person uses it: start a scan from the form, watch it finish live, page and
filter its results, download exports, cancel, and work under an API key.

The tests of the open service run in file order on one service: the first scans feed the later
tests (results, exports, overview).
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from dataclasses import replace
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from playwright.sync_api import Page, expect

from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess

from .conftest import shoot

SCAN = "dashboard-demo"
TOKEN_FIELD = "config.auth.hubspot_access_token"


def page_errors(page: Page) -> dict[str, list[str]]:
    """The field errors the page shows, by the field they sit beside."""
    shown: dict[str, list[str]] = {}
    for error in page.locator("[data-error-for]").all():
        shown.setdefault(error.get_attribute("data-error-for") or "", []).append(error.inner_text())
    return shown


def by_field(errors: dict[str, str]) -> dict[str, list[str]]:
    """The API's errors as the form shows them: ``config.properties[1]`` beside the properties."""
    grouped: dict[str, list[str]] = {}
    for path, message in errors.items():
        grouped.setdefault(path.split("[", 1)[0], []).append(message)
    return grouped


def progress_value(page: Page) -> float | None:
    value = page.locator("#scan-live progress").get_attribute("value")
    return float(value) if value is not None else None


def deal_ids(page: Page) -> list[str]:
    return [
        row.get_attribute("data-deal") or "" for row in page.locator("table.deals tbody tr").all()
    ]


def api_results(service: ServiceProcess, scan_id: str, **params: Any) -> dict[str, Any]:
    reply = service.get(f"/api/v1/scan/results/{scan_id}", params=params)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def mark_window(page: Page) -> None:
    """A value that survives only as long as the page is not reloaded."""
    page.evaluate("window.__notReloaded = true")


def not_reloaded(page: Page) -> bool:
    return bool(page.evaluate("window.__notReloaded === true"))


class TestStartForm:
    def test_errors_beside_their_fields(self, page: Page, service: ServiceProcess) -> None:
        """A bad form is refused with the API's messages, each beside its field; the values
        come back, the token never does."""
        canary = "pat-na1-canary-0000-never-shown"
        page.goto(f"{service.url}/start")
        page.fill("[name='config.scanId']", "not valid!")
        page.fill(f"[name='{TOKEN_FIELD}']", canary)
        page.fill("[name='config.properties']", "dealname, Deal Name")
        page.fill("[name='config.batchSize']", "500")
        page.fill("[name='config.filters.dateFilter.startDate']", "2025-02-01")
        page.fill("[name='config.filters.dateFilter.endDate']", "2025-01-01")
        page.select_option("[name='config.mode']", "incremental")
        page.check("[name='config.refreshAssociations']")  # without associations: refused
        page.get_by_role("button", name="Start scan").click()
        expect(page.locator("[data-form-errors]")).to_be_visible()

        api = service.start_scan(
            "not valid!",
            canary,
            properties=["dealname", "Deal", "Name"],
            batchSize=500,
            filters={
                "includeArchived": False,
                "dateFilter": {
                    "property": "createdate",
                    "startDate": "2025-02-01",
                    "endDate": "2025-01-01",
                },
            },
            includeAssociations=False,
            mode="incremental",
            refreshAssociations=True,
            includeStageHistory=False,
        )
        assert api.status_code == 400
        assert "config.refreshAssociations" in api.json()["errors"]
        errors = api.json()["errors"]
        assert {"config.properties[1]", "config.properties[2]"} <= set(errors)
        assert "'Deal'" in errors["config.properties[1]"]
        assert page_errors(page) == by_field(errors)
        for name in ("config.scanId", "config.properties", "config.batchSize"):
            field = page.locator(".field", has=page.locator(f"[name='{name}']"))
            expect(field.locator(f"[data-error-for='{name}']").first).to_be_visible()
            expect(page.locator(f"[name='{name}']")).to_have_attribute("aria-invalid", "true")
        refresh = page.locator(".field", has=page.locator("[name='config.refreshAssociations']"))
        expect(refresh.locator("[data-error-for='config.refreshAssociations']")).to_be_visible()
        expect(page.locator("[name='config.scanId']")).to_have_value("not valid!")
        expect(page.locator("[name='config.mode']")).to_have_value("incremental")
        expect(page.locator(f"[name='{TOKEN_FIELD}']")).to_have_value("")
        assert canary not in page.content()
        shoot(page, "start-errors")

    def test_scan_in_progress_is_a_field_error(
        self, page: Page, service: ServiceProcess, slow_portal: SandboxProcess
    ) -> None:
        """Starting a scan id that is running shows the API's 409 message beside the scan id."""
        assert service.start_scan("busy", slow_portal.token, batchSize=1).status_code == 202
        page.goto(f"{service.url}/start")
        page.fill("[name='config.scanId']", "busy")
        page.fill(f"[name='{TOKEN_FIELD}']", slow_portal.token)
        page.get_by_role("button", name="Start scan").click()
        expect(page.locator("[data-error-for='config.scanId']")).to_have_text(
            "Extraction already in progress"
        )
        assert service.post("/api/v1/scan/cancel/busy").status_code == 200


class TestScanPage:
    def test_start_and_watch_it_complete(
        self, page: Page, service: ServiceProcess, slow_portal: SandboxProcess
    ) -> None:
        """Started from the form, the scan's page moves its progress bar and then shows the
        results table, all without a reload."""
        page.goto(f"{service.url}/start")
        page.fill("[name='config.scanId']", SCAN)
        page.fill(f"[name='{TOKEN_FIELD}']", slow_portal.token)
        page.fill("[name='config.batchSize']", "5")
        # every call stalls: the scan takes seconds however its reads are spread over list and
        # search (idle search workers take over list walks, which alone took seconds)
        slow_portal.set_faults(1.0, ["stall"])
        try:
            page.get_by_role("button", name="Start scan").click()
            page.wait_for_url(f"**/scans/{SCAN}?notice=started")
            expect(page.locator("[role=status]")).to_have_text("Scan started.")
            mark_window(page)

            seen: list[float] = []
            shot = False
            deadline = time.monotonic() + 60
            while page.locator("#scan-live").get_attribute("data-live") == "yes":
                assert time.monotonic() < deadline, "the scan did not finish"
                value = progress_value(page)
                if value is not None and (not seen or seen[-1] != value):
                    seen.append(value)
                if not shot and value is not None and 15 < value < 80:
                    shoot(page, "scan-running")
                    shot = True
                page.wait_for_timeout(150)
        finally:
            slow_portal.set_faults(0.0)
        assert not_reloaded(page)
        assert len([v for v in seen if 0 < v < 100]) >= 2, seen  # moved while running
        assert seen == sorted(seen)

        expect(page.locator("#scan-live")).to_have_attribute("data-status", "completed")
        assert progress_value(page) == 100
        status = service.status(SCAN)
        assert status["status"] == "completed"
        deals = status["results"]["deals_extracted"]
        expect(page.locator("[data-figure=deals_extracted]")).to_have_text(f"{deals:,}")
        expect(page.locator("[data-total]")).to_contain_text(f"{deals:,} deals")
        assert deal_ids(page) == [
            d["deal_id"] for d in api_results(service, SCAN, page_size=25)["deals"]
        ]
        assert not_reloaded(page)  # the results came by the same poll

    def test_page_and_filter_results(self, page: Page, service: ServiceProcess) -> None:
        """Pages and filters show exactly the rows the results endpoint serves for them."""
        page.goto(f"{service.url}/scans/{SCAN}")
        assert deal_ids(page) == [
            d["deal_id"] for d in api_results(service, SCAN, page_size=25)["deals"]
        ]
        page.locator("a[rel=next]").first.click()
        page.wait_for_url("**page=2*")
        second = api_results(service, SCAN, page=2, page_size=25)
        assert deal_ids(page) == [d["deal_id"] for d in second["deals"]]
        expect(page.locator("[data-page]")).to_have_text(
            f"Page 2 of {second['pagination']['total_pages']}"
        )

        sample = second["deals"][0]
        choose(page, "pipeline", sample["pipeline_id"])
        choose(page, "dealstage", sample["deal_stage"])
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**dealstage=*")
        where = {"pipeline": sample["pipeline_id"], "dealstage": sample["deal_stage"]}
        filtered = api_results(service, SCAN, page_size=25, **where)
        assert deal_ids(page) == [d["deal_id"] for d in filtered["deals"]]
        total = filtered["pagination"]["total_items"]
        expect(page.locator("[data-total]")).to_contain_text(f"{total:,} deal")
        stages = {c.get_attribute("data-stage") for c in page.locator("td[data-stage]").all()}
        assert stages == {sample["deal_stage"]}
        shoot(page, "scan-results")

        page.select_option("[name=page_size]", "50")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**page_size=50*")
        wider = api_results(service, SCAN, page_size=50, **where)
        assert deal_ids(page) == [d["deal_id"] for d in wider["deals"]]

        page.get_by_role("link", name="Clear").click()
        expect(page.locator("[data-total]")).not_to_contain_text("matching")

    def test_download_exports(self, page: Page, service: ServiceProcess) -> None:
        """Each export button downloads the scan's deals under the filters on screen."""
        pipeline = api_results(service, SCAN, page_size=1)["deals"][0]["pipeline_id"]
        page.goto(f"{service.url}/scans/{SCAN}?pipeline={pipeline}")
        total = api_results(service, SCAN, pipeline=pipeline)["pagination"]["total_items"]
        assert total > 0
        files = {}
        for fmt in ("csv", "ndjson", "parquet"):
            with page.expect_download() as started:
                page.locator(f"[data-export={fmt}]").click()
            download = started.value
            assert download.suggested_filename == f"{SCAN}.{fmt}"
            files[fmt] = download.path().read_bytes()
        assert files["csv"].startswith(b"\xef\xbb\xbf")  # the byte order mark spreadsheets read
        rows = list(csv.DictReader(io.StringIO(files["csv"].decode("utf-8-sig"))))
        lines = [json.loads(line) for line in files["ndjson"].splitlines()]
        table = pq.read_table(io.BytesIO(files["parquet"]))
        assert len(rows) == len(lines) == table.num_rows == total
        assert {r["pipeline_id"] for r in rows} == {pipeline}
        assert [r["deal_id"] for r in rows] == [d["deal_id"] for d in lines]

    def test_cancel(self, page: Page, service: ServiceProcess, slow_portal: SandboxProcess) -> None:
        """Cancel on a running scan's page stops it, as the API's cancel does."""
        page.goto(f"{service.url}/start")
        page.fill("[name='config.scanId']", "to-cancel")
        page.fill(f"[name='{TOKEN_FIELD}']", slow_portal.token)
        page.fill("[name='config.batchSize']", "1")
        page.get_by_role("button", name="Start scan").click()
        page.wait_for_url("**/scans/to-cancel?notice=started")
        page.get_by_role("button", name="Cancel scan").click()
        page.wait_for_url("**/scans/to-cancel?notice=cancelled")
        expect(page.locator("[role=status]")).to_contain_text("Scan cancelled")
        expect(page.locator("#scan-live")).to_have_attribute("data-status", "cancelled")
        expect(page.get_by_role("button", name="Cancel scan")).to_have_count(0)
        assert service.status("to-cancel")["status"] == "cancelled"
        # its results are withheld, as the API's are, until asked for; then marked partial
        expect(page.locator("[data-results=withheld]")).to_contain_text("incomplete")
        page.locator("[data-partial]").click()
        page.wait_for_url("**/scans/to-cancel?partial=true")
        expect(page.locator("#results .notice")).to_contain_text("the deals it stored")
        stored = service.all_deals("to-cancel", partial="true")
        expect(page.locator("[data-total] strong")).to_have_text(f"{len(stored):,}")
        export = page.locator("[data-export=ndjson]").get_attribute("href")
        assert export is not None and "partial=true" in export

    def test_results_fit_a_1280_px_window(self, page: Page, service: ServiceProcess) -> None:
        """Long names wrap, long labels and emails end in an ellipsis with the whole text as a
        tooltip: the results table needs no sideways scrolling at 1280 px."""
        page.goto(f"{service.url}/scans/{SCAN}?page_size=100")
        frame = page.locator("#results .table-wrap")
        assert frame.evaluate("e => e.scrollWidth <= e.clientWidth"), "the table scrolls sideways"
        owner = page.locator("td[data-owner]").first
        assert owner.get_attribute("title") == owner.inner_text()

    def test_run_history_and_warnings(
        self, page: Page, service: ServiceProcess, slow_portal: SandboxProcess
    ) -> None:
        """Every run of a scan id is listed on its page and opens; a property the portal does
        not have is named in the run's warnings, with the closest one."""
        for _ in range(2):
            reply = service.start_scan(
                "history-demo", slow_portal.token, properties=["dealname", "amout"]
            )
            assert reply.status_code == 202, reply.text
            service.wait("history-demo")
        page.goto(f"{service.url}/scans/history-demo")
        runs = page.locator("table.runs tbody tr")
        expect(runs).to_have_count(2)
        expect(page.locator("[data-warning]")).to_contain_text("did you mean 'amount'?")
        shoot(page, "scan-history")
        older = runs.nth(1).get_attribute("data-run")
        runs.nth(1).locator("a").click()
        page.wait_for_url(f"**run={older}")
        expect(page.locator("#scan-live")).to_contain_text(older or "?")
        expect(page.locator("[data-earlier-run]")).to_be_visible()
        expect(page.locator("table.runs tr[aria-current=true]")).to_have_attribute(
            "data-run", older or "?"
        )


class TestListPage:
    def test_rows_update_live(
        self, page: Page, service: ServiceProcess, slow_portal: SandboxProcess
    ) -> None:
        """A running scan's row moves to completed on the list without a reload."""
        assert service.start_scan("list-demo", slow_portal.token, batchSize=10).status_code == 202
        page.goto(f"{service.url}/")
        row = page.locator("tr[data-scan='list-demo']")
        expect(row.locator("[data-status]")).to_have_text("running")
        mark_window(page)
        bar = row.locator("progress")
        expect(bar).to_have_attribute("value", re.compile(r"^(?!0(\.0)?$)"))  # under way
        shoot(page, "list")
        expect(row.locator("[data-status]")).to_have_text("completed", timeout=60_000)
        expect(page.locator("#scans-live")).to_have_attribute("data-live", "no")
        assert not_reloaded(page)
        deals = service.status("list-demo")["results"]["deals_extracted"]
        expect(row.locator("[data-deals]")).to_have_text(f"{deals:,}")
        for scan_id in (SCAN, "to-cancel", "busy"):
            expect(page.locator(f"tr[data-scan='{scan_id}']")).to_have_count(1)

    def test_overview_equals_health_and_stats(self, page: Page, service: ServiceProcess) -> None:
        """The overview's figures are /health's and /stats' (24 h)."""
        page.goto(f"{service.url}/")
        health, stats = service.get("/health").json(), service.get("/stats").json()
        figures = page.locator("[data-figure][data-value]").all()
        assert len(figures) == 10
        for figure in figures:
            path = (figure.get_attribute("data-figure") or "").split(".")
            expected: Any = {"health": health, "stats": stats}[path[0]]
            for part in path[1:]:
                expected = expected[part]
            shown = figure.get_attribute("data-value") or ""
            if isinstance(expected, int | float):  # the JSON model writes 5 as 5.0
                assert float(shown) == expected, path
            else:
                assert shown == expected, path
        expect(page.locator("[data-figure='health.status']")).to_have_text(health["status"])


class TestIncremental:
    def test_incremental_scan_from_the_form(
        self, page: Page, churning_service: ServiceProcess, churning_portal: SandboxProcess
    ) -> None:
        """After a full run, an incremental one started from the form: its page shows the sync
        block and the change counts of the API's status, the results their stage histories, and
        the list each run's mode and changes."""
        service, scan = churning_service, "dashboard-incremental"
        config = {"includeAssociations": True, "includeStageHistory": True, "batchSize": 50}
        assert service.start_scan(scan, churning_portal.token, **config).status_code == 202
        first = service.wait(scan)
        assert first["status"] == "completed" and first["sync"]["mode"] == "full"
        churning_portal.churn(create=5, update=20, archive=3)  # the portal changes meanwhile

        page.goto(f"{service.url}/start")
        expect(page.locator("[name='config.mode']")).to_have_value("full")  # the default
        page.fill("[name='config.scanId']", scan)
        page.fill(f"[name='{TOKEN_FIELD}']", churning_portal.token)
        page.check("[name='config.includeAssociations']")
        page.check("[name='config.includeStageHistory']")
        page.fill("[name='config.batchSize']", "50")
        page.select_option("[name='config.mode']", "incremental")
        page.check("[name='config.refreshAssociations']")
        page.get_by_role("button", name="Start scan").click()
        page.wait_for_url(f"**/scans/{scan}?notice=started")
        expect(page.locator("#scan-live")).to_have_attribute("data-status", "completed")

        status = service.status(scan)
        sync, results = status["sync"], status["results"]
        assert sync["requested_mode"] == sync["mode"] == "incremental", sync
        assert sync["base_job_id"] == first["id"]
        changes = results["changes"]
        assert sum(changes.values()) > 0, changes
        figure = page.locator
        expect(figure("[data-figure='sync.mode']")).to_have_text("incremental")
        expect(page.locator("[data-progress]")).to_contain_text(
            f"changed deals · {results['deals_held']:,} held"
        )
        expect(figure("[data-figure='sync.base_job_id']")).to_have_text(first["id"])
        for name in ("modified_since", "high_water_mark"):
            expect(figure(f"[data-figure='sync.{name}']")).to_have_attribute(
                "data-value", sync[name]
            )
        for kind, count in changes.items():
            expect(figure(f"[data-figure='changes.{kind}']")).to_have_text(f"{count:,}")
        expect(figure("[data-figure=deals_held]")).to_have_text(f"{results['deals_held']:,}")
        expect(figure("[data-sync-reason]")).to_have_count(0)

        rows = api_results(service, scan, page_size=25)["deals"]
        cells = page.locator("td[data-stage-history]")
        expect(cells).to_have_count(len(rows))
        for cell, row in zip(cells.all(), rows, strict=True):
            history = row["stage_history"]
            assert cell.get_attribute("data-stage-history") == " ".join(
                span["stage"] for span in history
            )
            if history:
                labels = [span["stage_label"] or span["stage"] for span in history]
                assert cell.inner_text().startswith(labels[0])
                assert cell.inner_text().endswith(labels[-1])
                title = cell.get_attribute("title") or ""
                assert len(title.splitlines()) == len(history)
                assert history[0]["entered_at"].replace("T", " ").removesuffix("Z") in title
        shoot(page, "scan-incremental")

        page.goto(f"{service.url}/")
        newer, older = page.locator(f"tr[data-scan='{scan}']").all()
        expect(newer.locator("[data-mode]")).to_have_text("incremental")
        shown = newer.locator("[data-changes]")
        assert {k: int(shown.get_attribute(f"data-{k}") or "") for k in changes} == changes
        expect(shown).to_contain_text(f"+{changes['added']:,} ~{changes['updated']:,}")
        expect(older.locator("[data-mode]")).to_have_text("full")
        expect(older.locator("[data-changes]")).to_have_count(0)
        shoot(page, "list-incremental")

    def test_incremental_without_an_earlier_run_says_why(
        self, page: Page, churning_service: ServiceProcess, churning_portal: SandboxProcess
    ) -> None:
        """The reason an incremental scan read everything stands on its page; rows without
        stage history get no stage history column."""
        scan = "dashboard-first-incremental"
        reply = churning_service.start_scan(scan, churning_portal.token, mode="incremental")
        assert reply.status_code == 202
        sync = churning_service.wait(scan)["sync"]
        assert sync["mode"] == "full" and sync["reason"]
        page.goto(f"{churning_service.url}/scans/{scan}")
        expect(page.locator("[data-figure='sync.mode']")).to_have_text(
            "full (incremental requested)"
        )
        expect(page.locator("[data-sync-reason]")).to_have_text(
            f"Ran as a full scan: {sync['reason']}"
        )
        expect(page.locator("[data-changes]")).to_have_count(0)
        expect(page.locator("table.deals tbody tr").first).to_be_visible()
        expect(page.locator("td[data-stage-history]")).to_have_count(0)
        expect(page.locator("table.deals th", has_text="Stage history")).to_have_count(0)


class TestCrossSite:
    def test_forms_of_other_sites_are_refused(
        self, service: ServiceProcess, slow_portal: SandboxProcess
    ) -> None:
        """A form another site posts (the browser says so) starts and cancels nothing."""
        form = {"config.scanId": "csrf", TOKEN_FIELD: slow_portal.token}
        for origin in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
            reply = httpx.post(f"{service.url}/start", data=form, headers=origin)
            assert reply.status_code == 403
            cancel = httpx.post(f"{service.url}/scans/{SCAN}/cancel", headers=origin)
            assert cancel.status_code == 403
        assert service.status("csrf")["status"] == "not_found"


class TestApiKeys:
    def test_key_flow(
        self, page: Page, keyed_service: ServiceProcess, slow_portal: SandboxProcess
    ) -> None:
        """With keys in use the dashboard asks for one, keeps it in an HttpOnly, SameSite=Strict
        session cookie, shows only its organization's scans, and forgets it on request."""
        service = keyed_service
        key_a = service.cli("keys", "create", "--org", "org_a")
        key_b = service.cli("keys", "create", "--org", "org_b")
        as_b = replace(service, api_key=key_b)
        assert as_b.start_scan("b-only", slow_portal.token).status_code == 202

        page.goto(f"{service.url}/")
        page.wait_for_url("**/key?reason=required")
        expect(page.locator("[data-reason]")).to_contain_text("uses API keys")
        shoot(page, "key")

        page.fill("[name=api_key]", "hsd_not-a-key")
        page.get_by_role("button", name="Use this key").click()
        expect(page.locator("[data-error-for=api_key]")).to_have_text(
            "This is not a valid API key (mistyped, or revoked)"
        )
        page.fill("[name=api_key]", key_a)
        page.get_by_role("button", name="Use this key").click()
        page.wait_for_url(f"{service.url}/")
        expect(page.locator("[data-org]")).to_have_text("org_a")
        assert key_a not in page.content()
        assert page.evaluate("document.cookie") == ""  # HttpOnly: no script reads it
        (cookie,) = page.context.cookies()
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert cookie["expires"] == -1  # a session cookie
        expect(page.locator("tr[data-scan='b-only']")).to_have_count(0)

        page.goto(f"{service.url}/start")
        expect(page.locator("[name='config.organizationId']")).to_have_count(0)
        page.fill("[name='config.scanId']", "a-scan")
        page.fill(f"[name='{TOKEN_FIELD}']", slow_portal.token)
        page.get_by_role("button", name="Start scan").click()
        page.wait_for_url("**/scans/a-scan?notice=started")
        as_a = replace(service, api_key=key_a)
        assert as_a.status("a-scan")["organizationId"] == "org_a"
        as_a.wait("a-scan")
        as_b.wait("b-only")

        page.goto(f"{service.url}/scans/b-only")  # another organization's: not found, as the API
        expect(page.locator("h1")).to_have_text("Not found")
        page.goto(f"{service.url}/scans/b-only/export?format=csv")
        expect(page.locator("h1")).to_have_text("Not found")

        service.cli("keys", "revoke", key_id(service, key_a))  # revoked while the browser holds it
        page.goto(f"{service.url}/")
        page.wait_for_url("**/key?reason=invalid")
        expect(page.locator("[data-reason]")).to_contain_text("not valid any more")
        assert page.context.cookies() == []
        page.fill("[name=api_key]", key_b)
        page.get_by_role("button", name="Use this key").click()
        page.wait_for_url(f"{service.url}/")
        expect(page.locator("tr[data-scan='b-only']")).to_have_count(1)
        expect(page.locator("tr[data-scan='a-scan']")).to_have_count(0)

        page.get_by_role("button", name="Forget key").click()
        page.wait_for_url("**/key?reason=forgotten")
        assert page.context.cookies() == []
        page.goto(f"{service.url}/")
        page.wait_for_url("**/key?reason=required")


def key_id(service: ServiceProcess, key: str) -> str:
    listing = service.cli("keys", "list")
    return next(line.split("\t")[0] for line in listing.splitlines() if key[:12] in line)


def choose(page: Page, name: str, value: str) -> None:
    """Pick a filter value: from its list when the page offers one, else typed."""
    control = page.locator(f"[name={name}]")
    if control.evaluate("e => e.tagName") == "SELECT":
        control.select_option(value)
    else:
        control.fill(value)


pytestmark = pytest.mark.timeout(120)
