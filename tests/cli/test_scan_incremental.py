"""``scan start --mode incremental`` and what ``scan status`` and ``scan list`` say of incremental
runs, against a portal that keeps changing (``--churn``): the mode, the reason a run read
everything, and the change counts, each equal to the API's JSON for the same run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess
from tests.cli.conftest import Cli, Run, keyed
from tests.cli.test_scan_commands import assert_error_line, json_out
from tests.conftest import ROOT
from tests.e2e.conftest import service_env


@pytest.fixture(scope="module")
def churning_service(
    churning_portal: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    running = ServiceProcess(
        tmp_path_factory.mktemp("incremental-service"), service_env(churning_portal)
    ).start()
    yield keyed(running)
    running.stop()


@pytest.fixture(scope="module")
def inc_cli(churning_service: ServiceProcess, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return Cli(
        churning_service.url, churning_service.api_key, tmp_path_factory.mktemp("incremental")
    )


def fields(table: str) -> dict[str, str]:
    """``scan status``'s field/value rows (a value may hold single spaces, never two)."""
    rows = (re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in table.splitlines())
    return {row[0]: row[1] for row in rows if len(row) == 2}


def list_rows(table: str, scan_id: str) -> list[list[str]]:
    """``scan list``'s rows of one scan, newest first, as cells."""
    return [
        re.split(r"\s{2,}", line.strip())
        for line in table.splitlines()
        if line.startswith(f"{scan_id} ")
    ]


def words(changes: dict[str, int]) -> str:
    return ", ".join(f"{changes[k]:,} {k}" for k in ("added", "updated", "archived", "removed"))


def compact(changes: dict[str, int]) -> str:
    text = f"+{changes['added']:,} ~{changes['updated']:,} -{changes['removed']:,}"
    return f"{text} archived {changes['archived']:,}" if changes["archived"] else text


def start(cli: Cli, token: str, scan_id: str, *flags: str) -> Run:
    run = cli(
        "scan",
        "start",
        scan_id,
        "--token",
        token,
        "--include-associations",
        "--include-stage-history",
        *flags,
        "--wait",
        "--interval",
        "0.2",
    )
    assert run.returncode == 0, (run.stdout, run.stderr)
    return run


@pytest.fixture(scope="module")
def full_then_incremental(
    inc_cli: Cli, churning_portal: SandboxProcess, churning_service: ServiceProcess
) -> tuple[Run, Run, dict[str, Any]]:
    """A full run of ``cli-inc``, changes to the portal, then an incremental run (with every deal's
    associations refreshed): both as the CLI printed them, and the API's final status."""
    full = start(inc_cli, churning_portal.token, "cli-inc")
    churning_portal.churn(create=5, update=20, archive=3)
    incremental = start(
        inc_cli, churning_portal.token, "cli-inc", "--mode", "incremental", "--refresh-associations"
    )
    return full, incremental, churning_service.status("cli-inc")


class TestIncremental:
    def test_wait_shows_mode_and_changes(
        self, full_then_incremental: tuple[Run, Run, dict[str, Any]]
    ) -> None:
        """start --wait's status table: the mode, the run it started from and the change counts
        the API gives; the summary line ends with them, compact."""
        full, incremental, status = full_then_incremental
        assert fields(full.stdout)["mode"] == "full"
        assert "changes" not in fields(full.stdout)
        sync, results = status["sync"], status["results"]
        assert sync["requested_mode"] == sync["mode"] == "incremental", sync
        changes = results["changes"]
        assert sum(changes.values()) > 0, changes  # the portal churned between the runs
        shown = fields(incremental.stdout)
        assert shown["mode"] == "incremental"
        assert shown["base run"] == sync["base_job_id"]
        assert shown["modified since"] == sync["modified_since"]
        assert shown["high-water mark"] == sync["high_water_mark"]
        assert shown["changes"] == words(changes)
        assert shown["deals held"] == f"{results['deals_held']:,}"
        assert "why full" not in shown
        assert "scan cli-inc completed: " in incremental.stderr
        # the changed deals it read, and what it holds: never "0 of 0 deals" beside 4,897 held
        read = status["progress"]["processed_items"]
        held = f"changed deals (100%), {results['deals_held']:,} held"
        assert f"{read:,} of {read:,} {held}" in incremental.stderr or read == 0
        assert shown["progress"].endswith(f"{results['deals_held']:,} held")
        assert incremental.stderr.rstrip().endswith(f"; incremental: {compact(changes)}")

    def test_status_and_list(
        self,
        inc_cli: Cli,
        churning_service: ServiceProcess,
        full_then_incremental: tuple[Run, Run, dict[str, Any]],
    ) -> None:
        """scan status and scan list show the same mode and counts as the API's JSON; --json is
        that JSON."""
        _, _, status = full_then_incremental
        changes = status["results"]["changes"]
        shown = fields(inc_cli("scan", "status", "cli-inc").stdout)
        assert shown["mode"] == "incremental" and shown["changes"] == words(changes)
        assert json_out(inc_cli("scan", "status", "cli-inc", "--json")) == status

        run = inc_cli("scan", "list", "--page-size", "100")
        assert run.returncode == 0, run.stderr
        newer, older = list_rows(run.stdout, "cli-inc")
        assert newer[1:3] == ["completed", "incremental"] and compact(changes) in newer
        assert older[1:3] == ["completed", "full"] and "-" in older
        api = churning_service.get("/api/v1/scan/list", params={"page_size": 100}).json()
        assert json_out(inc_cli("scan", "list", "--page-size", "100", "--json")) == api
        entries = [s for s in api["scans"] if s["scanId"] == "cli-inc"]
        assert [(s["mode"], s["changes"]) for s in entries] == [
            ("incremental", changes),
            ("full", None),
        ]

    def test_rows_carry_stage_history(
        self,
        inc_cli: Cli,
        churning_service: ServiceProcess,
        full_then_incremental: tuple[Run, Run, dict[str, Any]],
    ) -> None:
        """--include-stage-history reached the config: every row has its stages."""
        run = inc_cli("scan", "results", "cli-inc", "--all", "--ndjson")
        assert run.returncode == 0, run.stderr
        rows = [json.loads(line) for line in run.stdout.splitlines()]
        assert rows and all(isinstance(r["stage_history"], list) for r in rows)
        assert any(len(r["stage_history"]) > 1 for r in rows)
        assert rows == churning_service.all_deals("cli-inc")

    def test_incremental_without_an_earlier_run_says_why_it_ran_full(
        self, inc_cli: Cli, churning_portal: SandboxProcess, churning_service: ServiceProcess
    ) -> None:
        run = start(inc_cli, churning_portal.token, "cli-inc-first", "--mode", "incremental")
        sync = churning_service.status("cli-inc-first")["sync"]
        assert sync["mode"] == "full" and sync["reason"]
        shown = fields(run.stdout)
        assert shown["mode"] == "full (incremental requested)"
        assert shown["why full"] == sync["reason"]
        assert "changes" not in shown and "base run" not in shown
        assert "; incremental:" not in run.stderr
        listed = inc_cli("scan", "list", "--page-size", "100").stdout
        (row,) = list_rows(listed, "cli-inc-first")
        assert row[2] == "full"

    def test_the_readmes_example_runs_incrementally(
        self, inc_cli: Cli, churning_portal: SandboxProcess, churning_service: ServiceProcess
    ) -> None:
        """The README's two `scan start q3` lines, as written: the second reads only changes."""
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        lines = re.findall(r"^hubspot-deals (scan start q3 [^#\n]*?)\s*(?:#.*)?$", readme, re.M)
        assert len(lines) == 2 and "--mode incremental" in lines[1], lines
        for line in lines:
            run = inc_cli(*line.split(), HUBSPOT_ACCESS_TOKEN=churning_portal.token)
            assert run.returncode == 0, run.stderr
        sync = churning_service.status("q3")["sync"]
        assert sync["requested_mode"] == sync["mode"] == "incremental", sync

    def test_refresh_associations_needs_associations(
        self, inc_cli: Cli, churning_portal: SandboxProcess
    ) -> None:
        """The service's field error, one line, exit 2."""
        run = inc_cli(
            "scan",
            "start",
            "cli-inc-refused",
            "--token",
            churning_portal.token,
            "--mode",
            "incremental",
            "--refresh-associations",
        )
        assert_error_line(run, 2, "VALIDATION_ERROR", "config.refreshAssociations: Needs")

    def test_unknown_mode_is_a_usage_error(self, inc_cli: Cli) -> None:
        run = inc_cli("scan", "start", "cli-inc-x", "--token", "t", "--mode", "partial")
        assert run.returncode == 2 and "Traceback" not in run.stderr and run.stdout == ""
