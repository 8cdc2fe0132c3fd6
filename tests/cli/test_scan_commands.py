"""``hubspot-deals scan start|status|list|cancel|results``, run as a user runs them: exit codes,
tables, JSON compared with the sandbox's ground truth, and every failure as one line."""

from __future__ import annotations

import json
import re
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from hubspot_deals.sandbox.process import SandboxProcess, free_port
from hubspot_deals.service_process import ServiceProcess
from tests.cli.conftest import KINDS, PROPS, Cli, Run
from tests.e2e.test_extraction import Expectation, assert_rows_match, comparable


def assert_error_line(run: Run, code: int, *fragments: str, after_progress: bool = False) -> str:
    """The command failed with ``code`` and said why in one line on standard error, nothing else
    (but, ``after_progress``, the progress bar as it stood when the failure came)."""
    assert run.returncode == code, (run.returncode, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 + after_progress and lines[-1].startswith("error: "), run.stderr
    for fragment in fragments:
        assert fragment in lines[-1]
    return lines[-1]


def json_out(run: Run) -> Any:
    assert run.returncode == 0, (run.stdout, run.stderr)
    return json.loads(run.stdout)


def live(expect: Expectation) -> set[str]:
    return {i for i, d in expect.truth.items() if not d["archived"]}


class TestStart:
    def test_flags_and_wait(
        self, flags_scan: Run, fast_portal: SandboxProcess, expect: Expectation
    ) -> None:
        """Exit 0 once completed, the progress bar on standard error, the status table on
        standard output; the stored deals are the ground truth, flag for flag."""
        assert flags_scan.returncode == 0, flags_scan.stderr
        total = len(expect.truth)
        assert "started scan cli-flags (job job_" in flags_scan.stderr
        assert "cli-flags completed" in flags_scan.stderr
        assert f"{total:,}/{total:,} deals" in flags_scan.stderr and "━" in flags_scan.stderr
        assert f"scan cli-flags completed: {total:,} of {total:,} deals (100%)" in flags_scan.stderr
        assert "completed" in flags_scan.stdout and f"{total:,}" in flags_scan.stdout
        assert fast_portal.token not in flags_scan.stdout + flags_scan.stderr

    def test_flags_reach_the_config(self, cli: Cli, flags_scan: Run, expect: Expectation) -> None:
        """Every flag made it into the scan: all deals, the asked properties and associations."""
        run = cli("scan", "results", "cli-flags", "--all", "--ndjson")
        assert run.returncode == 0, run.stderr
        rows = [json.loads(line) for line in run.stdout.splitlines()]
        assert_rows_match(rows, expect, set(expect.truth), PROPS, KINDS)
        assert f"{len(rows):,} deals" in run.stderr

    def test_config_file_with_flags_over_it(
        self, cli: Cli, fast_portal: SandboxProcess, expect: Expectation, tmp_path: Path
    ) -> None:
        """--config {"config": ...}; flags override its fields; the token from the environment."""
        path = tmp_path / "scan.json"
        config = {
            "scanId": "cli-config",
            "type": ["hubspot_deals"],
            "properties": ["dealname", "amount"],
            "filters": {"pipelineId": "default", "dealstage": "closedlost"},
            "batchSize": 50,
        }
        path.write_text(json.dumps({"config": config}))
        run = cli(
            "scan",
            "start",
            "--config",
            str(path),
            "--dealstage",
            "closedwon",
            "--batch-size",
            "20",
            "--wait",
            "--json",
            HUBSPOT_ACCESS_TOKEN=fast_portal.token,
        )
        status = json_out(run)  # standard output is the final status and nothing else
        assert status["status"] == "completed" and status["scanId"] == "cli-config"
        rows = json_out(cli("scan", "results", "cli-config", "--all", "--json"))
        wanted = {
            i
            for i in live(expect)
            if expect.truth[i]["properties"]["pipeline"] == "default"
            and expect.truth[i]["properties"]["dealstage"] == "closedwon"
        }
        assert_rows_match(rows, expect, wanted, ["dealname", "amount"], None)

    def test_bare_config_on_standard_input(self, cli: Cli, fast_portal: SandboxProcess) -> None:
        """--config - reads a bare config; without --wait, --json prints the 202 answer."""
        config = {
            "scanId": "cli-stdin",
            "type": ["hubspot_deals"],
            "auth": {"hubspot_access_token": fast_portal.token},
        }
        started = json_out(
            cli("scan", "start", "--config", "-", "--json", stdin=json.dumps(config))
        )
        assert started["scanId"] == "cli-stdin" and started["status"] == "started"
        assert started["jobId"].startswith("job_")
        waited = json_out(cli("scan", "status", "cli-stdin", "--wait", "--json"))
        assert waited["status"] == "completed" and waited["id"] == started["jobId"]

    def test_refused_token_exits_1(self, cli: Cli, fast_portal: SandboxProcess) -> None:
        """A token HubSpot refuses: the start is refused, exit 1 naming the error code. The
        file's token beats the environment's."""
        config = {"config": {"scanId": "cli-refused", "type": ["hubspot_deals"]}}
        config["config"]["auth"] = {"hubspot_access_token": "pat-na1-not-a-real-token"}
        run = cli(
            "scan",
            "start",
            "--config",
            "-",
            "--wait",
            stdin=json.dumps(config),
            HUBSPOT_ACCESS_TOKEN=fast_portal.token,
        )
        assert_error_line(run, 1, "HUBSPOT_AUTH_FAILED", "rejected", "status_code=401")
        assert run.stdout == ""

    def test_80_columns(self, cli: Cli, fast_portal: SandboxProcess) -> None:
        """At 80 columns no line is wider, the progress is one line, and a scan id too long
        for the line is printed whole (before it, and in the list) rather than cut."""
        scan_id = "a-rather-long-scan-id-for-an-80-column-terminal-of-2025-q3"
        run = cli("scan", "start", scan_id, "--token", fast_portal.token, "--wait", COLUMNS="80")
        assert run.returncode == 0, run.stderr
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        assert f"following {scan_id}" in lines
        bars = [line for line in lines if "━" in line]
        assert bars and all(len(line) <= 80 and "deals" in line for line in bars), bars
        listed = cli("scan", "list", "--page-size", "100", COLUMNS="80")
        assert listed.returncode == 0, listed.stderr
        assert all(len(line) <= 80 for line in listed.stdout.splitlines())
        assert any(line.startswith(scan_id) for line in listed.stdout.splitlines())

    def test_status_shows_warnings(self, cli: Cli, fast_portal: SandboxProcess) -> None:
        """A property the portal lacks: the scan completes, and its status says so."""
        started = cli(
            "scan", "start", "cli-typo", "--token", fast_portal.token,
            "--properties", "dealname,amout", "--wait",
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        shown = cli("scan", "status", "cli-typo", COLUMNS="80")
        assert shown.returncode == 0, shown.stderr
        assert "warning" in shown.stdout and "'amout'" in shown.stdout

    def test_token_flag_beats_the_file(self, cli: Cli, fast_portal: SandboxProcess) -> None:
        config = {
            "scanId": "cli-token-flag",
            "type": ["hubspot_deals"],
            "auth": {"hubspot_access_token": "pat-na1-not-a-real-token"},
        }
        run = cli(
            "scan",
            "start",
            "--config",
            "-",
            "--token",
            fast_portal.token,
            "--wait",
            stdin=json.dumps(config),
        )
        assert run.returncode == 0, run.stderr

    def test_invalid_config_exits_2_with_the_field_errors(
        self, cli: Cli, fast_portal: SandboxProcess
    ) -> None:
        """The service's field errors, all on one line; nothing on standard output."""
        run = cli(
            "scan",
            "start",
            "cli-invalid",
            "--token",
            fast_portal.token,
            "--batch-size",
            "500",
            "--start-date",
            "2024-13-45",
        )
        assert_error_line(
            run,
            2,
            "VALIDATION_ERROR",
            "config.batchSize: ",
            "config.filters.dateFilter.startDate: ",
        )

    @pytest.mark.parametrize(
        ("args", "stdin", "fragment"),
        [
            (("cli-x",), None, "no HubSpot credential"),
            (("--token", "t"), None, "no scan id"),
            (("cli-x", "--token", "t", "--config", "-"), "{not json", "is not JSON"),
            (("cli-x", "--token", "t", "--config", "-"), "[1, 2]", "must hold a JSON object"),
            (("cli-x", "--token", "t", "--config", "/nonexistent/scan.json"), None, "cannot read"),
        ],
    )
    def test_local_mistakes_exit_2(
        self, cli: Cli, args: tuple[str, ...], stdin: str | None, fragment: str
    ) -> None:
        """What the command can tell without asking the service, said in one line."""
        assert_error_line(cli("scan", "start", *args, stdin=stdin), 2, fragment)


class TestStatusAndList:
    def test_status_table(self, cli: Cli, flags_scan: Run, expect: Expectation) -> None:
        run = cli("scan", "status", "cli-flags")
        assert run.returncode == 0, run.stderr
        total = len(expect.truth)
        for fragment in ("cli-flags", "completed", "job_", f"{total:,} of {total:,} deals (100%)"):
            assert fragment in run.stdout
        archived = sum(1 for d in expect.truth.values() if d["archived"])
        assert any(
            line.split()[:2] == ["archived", "deals"] and line.split()[-1] == f"{archived:,}"
            for line in run.stdout.splitlines()
        )

    def test_status_json_is_the_api_answer(
        self, cli: Cli, flags_scan: Run, service: ServiceProcess
    ) -> None:
        assert json_out(cli("scan", "status", "cli-flags", "--json")) == service.status("cli-flags")

    def test_status_of_an_unknown_scan_exits_5(self, cli: Cli) -> None:
        assert_error_line(cli("scan", "status", "cli-nothing"), 5, "no scan cli-nothing")
        run = cli("scan", "status", "cli-nothing", "--json")
        assert run.returncode == 5 and json.loads(run.stdout)["status"] == "not_found"

    def test_list_table(self, cli: Cli, flags_scan: Run, expect: Expectation) -> None:
        run = cli("scan", "list", "--status", "completed", "--page-size", "100")
        assert run.returncode == 0, run.stderr
        row = next(line for line in run.stdout.splitlines() if line.startswith("cli-flags "))
        assert row.split()[1] == "completed" and f"{len(expect.truth):,}" in row.split()
        assert re.search(r"^page 1 of 1 \(\d+ scans?\)$", run.stderr.strip()), run.stderr
        # a list with nothing to show says so (not "page 1 of 0 (0 scans)")
        none = cli("scan", "list", "--status", "pending")
        assert none.returncode == 0 and none.stderr.strip() == "no scans", none.stderr

    def test_list_json_is_the_api_answer(
        self, cli: Cli, flags_scan: Run, service: ServiceProcess
    ) -> None:
        body = json_out(cli("scan", "list", "--page-size", "5", "--sort-order", "asc", "--json"))
        api = service.get("/api/v1/scan/list", params={"page_size": 5, "sort_order": "asc"})
        assert body == api.json()
        started = [scan["started_at"] for scan in body["scans"] if scan["started_at"]]
        assert started and started == sorted(started)  # oldest first, as asked


class TestResults:
    def test_table_page(self, cli: Cli, flags_scan: Run, expect: Expectation) -> None:
        """A page as a table: the ground truth's deals of that page, in deal id order."""
        run = cli("scan", "results", "cli-flags", "--page", "2", "--page-size", "10")
        assert run.returncode == 0, run.stderr
        ids = sorted(expect.truth, key=int)[10:20]
        lines = [line for line in run.stdout.splitlines() if line[:11].isdigit()]
        assert [line.split()[0] for line in lines] == ids
        for line, deal_id in zip(lines, ids, strict=True):
            row = expect.row(deal_id, PROPS, KINDS)
            if row["amount"] is not None:
                assert f"{row['amount']:,.2f} {row['currency']}" in line
            assert (row["close_date"] or "-")[:10] in line
        pages = -(-len(expect.truth) // 10)
        assert f"page 2 of {pages} ({len(expect.truth):,} deals); next: --page 3" in run.stderr
        assert all(len(line) <= 80 for line in run.stderr.splitlines())  # the cursor on its own

    def test_json_page_and_cursor(self, cli: Cli, flags_scan: Run, expect: Expectation) -> None:
        """--json prints the API's page; its next_cursor leads to the next page."""
        first = json_out(cli("scan", "results", "cli-flags", "--page-size", "25", "--json"))
        ids = sorted(expect.truth, key=int)
        assert [d["deal_id"] for d in first["deals"]] == ids[:25]
        for deal in first["deals"]:
            assert comparable(deal) == expect.row(deal["deal_id"], PROPS, KINDS)
        cursor = first["pagination"]["next_cursor"]
        second = json_out(
            cli("scan", "results", "cli-flags", "--page-size", "25", "--cursor", cursor, "--json")
        )
        assert [d["deal_id"] for d in second["deals"]] == ids[25:50]
        assert second["pagination"]["current_page"] == 2

    def test_all_filtered_as_a_json_array(
        self, cli: Cli, flags_scan: Run, expect: Expectation
    ) -> None:
        """--all --json: one array of every deal the filters keep, across pages."""
        in_stage = [
            d
            for d in expect.truth.values()
            if d["properties"]["pipeline"] == "default"
            and d["properties"]["dealstage"] == "closedwon"
        ]
        owners = Counter(d["properties"]["hubspot_owner_id"] for d in in_stage)
        owner = next(o for o, _ in owners.most_common() if o)
        rows = json_out(
            cli(
                "scan",
                "results",
                "cli-flags",
                "--all",
                "--json",
                "--page-size",
                "3",
                "--pipeline",
                "default",
                "--dealstage",
                "closedwon",
                "--owner-id",
                owner,
            )
        )
        wanted = {d["id"] for d in in_stage if d["properties"]["hubspot_owner_id"] == owner}
        assert len(wanted) > 3  # more than one page
        assert_rows_match(rows, expect, wanted, PROPS, KINDS)

    def test_unknown_scan_exits_5(self, cli: Cli) -> None:
        assert_error_line(cli("scan", "results", "cli-nothing"), 5, "SCAN_NOT_FOUND", "HTTP 404")

    @pytest.mark.parametrize(
        ("args", "fragment"),
        [
            (("--all",), "--all needs --json or --ndjson"),
            (("--json", "--ndjson"), "not both"),
            (("--all", "--json", "--page", "2"), "give --cursor, not --page"),
        ],
    )
    def test_contradictory_flags_exit_2(
        self, cli: Cli, args: tuple[str, ...], fragment: str
    ) -> None:
        assert_error_line(cli("scan", "results", "cli-flags", *args), 2, fragment)

    def test_typer_usage_errors_exit_2(self, cli: Cli) -> None:
        run = cli("scan", "results", "cli-flags", "--page-size", "0")
        assert run.returncode == 2 and "Traceback" not in run.stderr and run.stdout == ""


class TestRunningScans:
    """On the slow portal: scans that are still running when the command acts on them."""

    def test_conflicts_while_running_exit_8(
        self, slow_cli: Cli, slow_portal: SandboxProcess
    ) -> None:
        """Results before the end, and the same scan started again: exit 8, one line each."""
        started = slow_cli("scan", "start", "cli-busy", "--token", slow_portal.token)
        assert started.returncode == 0 and started.stdout == ""
        assert "started scan cli-busy" in started.stderr
        assert_error_line(slow_cli("scan", "results", "cli-busy"), 8, "SCAN_NOT_READY")
        again = slow_cli("scan", "start", "cli-busy", "--token", slow_portal.token)
        assert_error_line(again, 8, "SCAN_IN_PROGRESS", "HTTP 409")
        assert slow_cli("scan", "cancel", "cli-busy").returncode == 0

    def test_cancel(self, slow_cli: Cli, slow_portal: SandboxProcess) -> None:
        """cancel exits 0; a second cancel 8; waiting on the cancelled scan exits 3."""
        assert slow_cli("scan", "start", "cli-cancel", "--token", slow_portal.token).returncode == 0
        cancelled = json_out(slow_cli("scan", "cancel", "cli-cancel", "--json"))
        assert cancelled["status"] == "cancelled" and cancelled["scanId"] == "cli-cancel"
        again = slow_cli("scan", "cancel", "cli-cancel")
        assert_error_line(again, 8, "INVALID_CANCELLATION", "currentStatus=cancelled")
        waited = slow_cli("scan", "status", "cli-cancel", "--wait")
        assert waited.returncode == 3 and "scan cli-cancel cancelled after" in waited.stderr
        assert_error_line(slow_cli("scan", "cancel", "cli-nothing"), 5, "SCAN_NOT_FOUND")

    def interrupt(self, cli: Cli, token: str, scan_id: str, *flags: str) -> tuple[int, str]:
        """``scan start --wait``, then Ctrl-C once it follows the scan (its "started scan" line is
        on stderr): its exit code and stderr."""
        waiting = cli.popen("scan", "start", scan_id, "--token", token, "--wait", *flags)
        assert waiting.stderr is not None
        seen = [waiting.stderr.readline()]  # blocks until the line: no guessed delay
        assert f"started scan {scan_id}" in seen[0], seen
        waiting.send_signal(signal.SIGINT)
        _, rest = waiting.communicate(timeout=30)
        return waiting.returncode, seen[0] + rest

    def test_ctrl_c_leaves_the_scan_running(
        self, slow_cli: Cli, slow_portal: SandboxProcess, slow_service: ServiceProcess
    ) -> None:
        code, stderr = self.interrupt(slow_cli, slow_portal.token, "cli-interrupted")
        assert code == 130 and "Traceback" not in stderr
        assert "scan cli-interrupted keeps running" in stderr
        assert slow_service.status("cli-interrupted")["status"] in ("pending", "running")
        assert slow_cli("scan", "cancel", "cli-interrupted").returncode == 0

    def test_ctrl_c_with_cancel_on_interrupt(
        self, slow_cli: Cli, slow_portal: SandboxProcess, slow_service: ServiceProcess
    ) -> None:
        code, stderr = self.interrupt(
            slow_cli, slow_portal.token, "cli-interrupt-cancels", "--cancel-on-interrupt"
        )
        assert code == 3 and "cancelled scan cli-interrupt-cancels" in stderr
        assert slow_service.status("cli-interrupt-cancels")["status"] == "cancelled"


class TestFailures:
    def test_service_down_exits_4(self, cli: Cli) -> None:
        run = cli("scan", "list", "--url", f"http://127.0.0.1:{free_port()}")
        assert_error_line(run, 4, "cannot reach the service at http://127.0.0.1:")

    @pytest.mark.parametrize("key", [None, "hsd_not-a-key"])
    def test_missing_or_wrong_api_key_exits_7(self, cli: Cli, key: str | None) -> None:
        run = cli("scan", "status", "cli-flags", HUBSPOT_DEALS_API_KEY=key)
        assert_error_line(run, 7, "UNAUTHORIZED", "HTTP 401")

    def test_rate_limited_exits_6(self, slow_cli: Cli, slow_service: ServiceProcess) -> None:
        """A key that spent its minute: exit 6, the wait the service asked for in the line."""
        key = slow_service.cli("keys", "create", "--org", "org_cli", "--name", "spent")
        with httpx.Client(base_url=slow_service.url, headers={"X-API-Key": key}) as client:
            for _ in range(400):
                if client.get("/api/v1/scan/list").status_code == 429:
                    break
            else:
                pytest.fail("the key was never limited")
        run = slow_cli("scan", "list", HUBSPOT_DEALS_API_KEY=key)
        assert_error_line(run, 6, "RATE_LIMIT_EXCEEDED", "HTTP 429", "retry")

    def test_bad_url_is_a_usage_error(self, cli: Cli) -> None:
        run = cli("scan", "list", "--url", "localhost:8000")
        assert run.returncode == 2 and "http://" in run.stderr and "Traceback" not in run.stderr
