"""Every property, typed, with property history and merges, as the dashboard shows them: a scan
of every property with history started from the form, property columns picked from the run's
definitions, a deal's history opened, the history export, and a re-run's schema changes; each
compared with the API's answer for the same scan.

The tests run in file order on one portal and service: the first scan feeds the later tests.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from hubspot_deals.sandbox.custom_properties import generated_property
from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess
from tests.conftest import LATEST_ONLY, NO_LIMITS

from .conftest import service_env, shoot
from .test_dashboard import TOKEN_FIELD, api_results

SCAN = "every-property"
#: A number and a single-choice enumeration of ``--custom-properties``: their histories.
HISTORY = (generated_property(2).name, generated_property(7).name)
#: A text and a date property: the columns picked.
COLUMNS = (generated_property(0).name, generated_property(4).name)
PAGE_SIZE = 25  # the dashboard's first page
NOTHING = "\N{EN DASH}"  # a cell without a value


@pytest.fixture(scope="module")
def wide_portal() -> Iterator[SandboxProcess]:
    """200 deals and 40 custom properties of every type; some deals updated and merged before
    the scan, so histories have several values and some rows ``merged_from``."""
    running = SandboxProcess.start(
        "--deals", "200", "--custom-properties", "40", *NO_LIMITS, *LATEST_ONLY
    )
    running.churn(update=80, merge=3)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def wide_service(
    wide_portal: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    running = ServiceProcess(tmp_path_factory.mktemp("wide"), service_env(wide_portal)).start()
    yield running
    running.stop()


def when(moment: str) -> str:
    """A time as the dashboard writes it."""
    return moment.replace("T", " ").removesuffix("Z") + " UTC"


def cells(page: Page, selector: str) -> list[list[str]]:
    """Each cell's deal, property and text, read at once."""
    script = "cs => cs.map(c => [c.closest('tr').dataset.deal, c.dataset.property, c.textContent])"
    return list(page.eval_on_selector_all(selector, script))


def schema(service: ServiceProcess) -> list[dict[str, Any]]:
    reply = service.get(f"/api/v1/scan/schema/{SCAN}")
    assert reply.status_code == 200, reply.text
    return list(reply.json()["properties"])


class TestEveryProperty:
    def test_columns_and_history(
        self, page: Page, wide_service: ServiceProcess, wide_portal: SandboxProcess
    ) -> None:
        """Started from the form with every property and two histories; two custom property
        columns picked (through the picker's filter) show the results endpoint's values, and a
        deal's history shows its property_history."""
        service = wide_service
        page.goto(f"{service.url}/start")
        page.fill("[name='config.scanId']", SCAN)
        page.fill(f"[name='{TOKEN_FIELD}']", wide_portal.token)
        page.check("[name=properties_from][value=all]")
        page.fill("[name='config.propertiesWithHistory']", ", ".join(HISTORY))
        page.get_by_role("button", name="Start scan").click()
        page.wait_for_url(f"**/scans/{SCAN}?notice=started")
        expect(page.locator("#scan-live")).to_have_attribute("data-status", "completed")
        expect(page.locator("table.deals tbody tr").first).to_be_visible()

        definitions = schema(service)
        assert len(definitions) > 40  # the portal's own and the 40 custom ones
        picker = page.locator("[data-column-picker]")
        picker.locator("summary").click()
        expect(picker.locator("[data-column-choice]")).to_have_count(len(definitions))
        hidden = sum(d["hidden"] for d in definitions)
        expect(picker.locator("[data-hidden-property]")).to_have_count(hidden)
        first = picker.locator(f"[data-column-choice='{COLUMNS[0]}']")
        expect(first).to_contain_text(generated_property(0).label)
        expect(first).to_contain_text("string")
        for name in COLUMNS:  # the filter narrows the choices; what is ticked stays ticked
            page.fill("[name=find]", name)
            expect(picker.locator("[data-column-choice='dealname']")).to_be_hidden()
            picker.locator(f"[data-column-choice='{name}'] input").check()
        expect(first.locator("input")).to_be_checked()
        expect(first).to_be_hidden()
        page.get_by_role("button", name="Show these columns").click()
        page.wait_for_url("**columns=*")
        shown = parse_qs(urlsplit(page.url).query)["columns"][0].split(",")
        assert sorted(shown) == sorted(COLUMNS)
        expect(page.locator("th[data-column]")).to_have_count(2)

        rows = api_results(service, SCAN, page_size=PAGE_SIZE)["deals"]
        assert all(len(row["properties"]) == len(definitions) for row in rows)
        assert cells(page, "td[data-property]") == [
            [row["deal_id"], name, row["properties"][name] or NOTHING]
            for row in rows
            for name in shown
        ]

        row = max(rows, key=lambda r: sum(map(len, r["property_history"].values())))
        assert set(row["property_history"]) == set(HISTORY)
        history = page.locator(f"tr[data-deal='{row['deal_id']}'] td[data-property-history]")
        history.locator("summary").click()
        for name, entries in row["property_history"].items():
            listed = history.locator(f"[data-history-property='{name}'] [data-history-entry]")
            expect(listed).to_have_count(len(entries))
            for item, entry in zip(listed.all(), entries, strict=True):
                assert item.get_attribute("data-value") == entry["value"]
                expect(item).to_contain_text(when(entry["timestamp"]))
                expect(item.locator("[data-source]")).to_contain_text(entry["source"])
        frame = page.locator("#results .table-wrap")  # the picked columns and the history
        frame.evaluate("e => { e.scrollLeft = e.scrollWidth }")
        shoot(page, "scan-properties")

    def test_merges_and_the_history_export(
        self, page: Page, wide_service: ServiceProcess, tmp_path: Path
    ) -> None:
        """A deal others were merged into says so; the property history export downloads the
        long table of every value."""
        service = wide_service
        deals = service.all_deals(SCAN)
        merged = [(n, deal) for n, deal in enumerate(deals) if deal["merged_from"]]
        assert merged
        index, deal = merged[0]
        page.goto(f"{service.url}/scans/{SCAN}?page={index // PAGE_SIZE + 1}")
        expect(
            page.locator(f"tr[data-deal='{deal['deal_id']}'] [data-merged-from]")
        ).to_have_attribute("data-merged-from", " ".join(deal["merged_from"]))

        with page.expect_download() as download:
            page.locator("[data-export=history-csv]").click()
        saved = tmp_path / "history.csv"
        download.value.save_as(saved)
        lines = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
        assert download.value.suggested_filename == f"{SCAN}.property_history.csv"
        assert len(lines) == sum(len(v) for d in deals for v in d["property_history"].values())
        first = next(d for d in deals if any(d["property_history"].values()))
        name, entries = next((k, v) for k, v in first["property_history"].items() if v)
        line = next(x for x in lines if x["deal_id"] == first["deal_id"] and x["property"] == name)
        assert line["value"] == entries[0]["value"] and line["source"] == entries[0]["source"]

    def test_schema_changes_and_untyped_values(
        self, page: Page, wide_service: ServiceProcess, wide_portal: SandboxProcess
    ) -> None:
        """After the portal's definitions changed, the re-run's page names what changed and how
        many values no longer fit their type, as its status does."""
        service = wide_service
        wide_portal.change_properties(
            create=[
                {
                    "name": "buying_roles",
                    "label": "Buying roles",
                    "type": "string",
                    "fieldType": "text",
                    "groupName": "deal_custom",
                }
            ],
            archive=[generated_property(12).name],
            retype={COLUMNS[0]: {"type": "number", "fieldType": "number"}},
        )
        reply = service.start_scan(
            SCAN, wide_portal.token, properties="all", propertiesWithHistory=list(HISTORY)
        )
        assert reply.status_code == 202, reply.text
        status = service.wait(SCAN)
        changes, untyped = status["schema_changes"], status["results"]["untyped_values"]
        assert changes["added"] == ["buying_roles"] and untyped > 0, status

        page.goto(f"{service.url}/scans/{SCAN}")
        block = page.locator("[data-schema-changes]")
        expect(block).to_contain_text("1 added, 1 removed, 1 retyped")
        block.locator("summary").click()
        expect(block.locator("[data-schema-added]")).to_have_text(", ".join(changes["added"]))
        expect(block.locator("[data-schema-removed]")).to_have_text(", ".join(changes["removed"]))
        retyped = changes["retyped"][0]
        expect(block.locator("[data-schema-retyped]")).to_have_text(
            f"{retyped['name']}: string/text → number/number"
        )
        expect(page.locator("[data-untyped]")).to_contain_text(f"{untyped:,} property values")


pytestmark = pytest.mark.timeout(120)
