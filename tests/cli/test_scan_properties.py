"""``scan start --all-properties`` and ``--history``, ``scan schema``, ``scan export --table
property_history`` and the schema changes ``scan status`` shows, against a small portal of its
own with custom properties of every type (its schema is changed by the last tests)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hubspot_deals.sandbox.process import SandboxProcess
from hubspot_deals.service_process import ServiceProcess
from tests.cli.conftest import Cli, Run, keyed
from tests.cli.test_scan_commands import assert_error_line, json_out
from tests.cli.test_scan_incremental import fields
from tests.conftest import LATEST_ONLY, NO_LIMITS
from tests.e2e.conftest import service_env
from tests.e2e.test_all_properties import definitions

#: Custom properties beside the portal's own: the twelve kinds twice.
CUSTOM = 24
#: What the history scan asks, ``--history amount --history dealstage,dealname``.
HISTORY = ["amount", "dealstage", "dealname"]
Definitions = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def wide_portal() -> Iterator[SandboxProcess]:
    running = SandboxProcess.start(
        "--deals", "300", "--custom-properties", str(CUSTOM),
        *NO_LIMITS, *LATEST_ONLY,
    )  # fmt: skip
    yield running
    running.stop()


@pytest.fixture(scope="module")
def wide_service(
    wide_portal: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    running = ServiceProcess(tmp_path_factory.mktemp("wide"), service_env(wide_portal)).start()
    yield keyed(running)
    running.stop()


@pytest.fixture(scope="module")
def wide_cli(wide_service: ServiceProcess, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return Cli(wide_service.url, wide_service.api_key, tmp_path_factory.mktemp("wide-cwd"))


def start(cli: Cli, portal: SandboxProcess, scan_id: str, *flags: str) -> Run:
    run = cli(
        "scan", "start", scan_id, "--token", portal.token, *flags, "--wait", "--interval", "0.2"
    )
    assert run.returncode == 0, (run.stdout, run.stderr)
    return run


def all_rows(cli: Cli, scan_id: str) -> list[dict[str, Any]]:
    run = cli("scan", "results", scan_id, "--all", "--ndjson")
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()]


@pytest.fixture(scope="module")
def every_property(wide_cli: Cli, wide_portal: SandboxProcess) -> Definitions:
    """``cli-all`` scanned with --all-properties; the portal's definitions as it started."""
    defined = definitions(wide_portal)
    start(wide_cli, wide_portal, "cli-all", "--all-properties")
    return defined


class TestAllProperties:
    def test_rows_hold_every_property(
        self, wide_cli: Cli, wide_portal: SandboxProcess, every_property: Definitions
    ) -> None:
        assert sum(not d["hubspotDefined"] for d in every_property.values()) >= CUSTOM
        truth = {d["id"]: d["properties"] for d in wide_portal.truth() if not d["archived"]}
        rows = all_rows(wide_cli, "cli-all")
        assert sorted(r["deal_id"] for r in rows) == sorted(truth)
        for row in rows:
            wanted = truth[row["deal_id"]]
            assert row["properties"] == {n: wanted.get(n) for n in every_property}, row["deal_id"]

    @pytest.mark.parametrize(
        ("flags", "fragment"),
        [
            (("--all-properties", "-p", "dealname"), "give --all-properties or --properties"),
            (("--history", ",".join(f"p{i}" for i in range(51))), "config.propertiesWithHistory: "),
        ],
        ids=["all-and-named", "history-over-50"],
    )
    def test_refused_exit_2(
        self, cli: Cli, fast_portal: SandboxProcess, flags: tuple[str, ...], fragment: str
    ) -> None:
        """Both property flags: said before asking; 51 history names: the service's 400. (The
        suite's shared service: no scan starts.)"""
        run = cli("scan", "start", "cli-refused", "--token", fast_portal.token, *flags)
        assert_error_line(run, 2, fragment)


def marks(definition: dict[str, Any]) -> str:
    return ", ".join(m for m in ("hidden", "calculated") if definition.get(m)) or "-"


class TestSchema:
    def test_json_is_the_api_answer_and_the_portals_definitions(
        self, wide_cli: Cli, wide_service: ServiceProcess, every_property: Definitions
    ) -> None:
        body = json_out(wide_cli("scan", "schema", "cli-all", "--json"))
        assert body == wide_service.get("/api/v1/scan/schema/cli-all").json()
        assert body["scanId"] == "cli-all" and body["status"] == "completed"
        assert {p["name"]: p for p in body["properties"]} == {
            name: {
                "name": name,
                "label": d["label"],
                "type": d["type"],
                "fieldType": d["fieldType"],
                "group": d["groupName"],
                "options": [{"value": o["value"], "label": o["label"]} for o in d["options"]],
                "hidden": d["hidden"],
                "calculated": d["calculated"],
                "hubspotDefined": d["hubspotDefined"],
            }
            for name, d in every_property.items()
        }

    def test_table(self, wide_cli: Cli, every_property: Definitions) -> None:
        """A row per definition, cell for cell the portal's; the counts and the run below it."""
        run = wide_cli("scan", "schema", "cli-all")
        assert run.returncode == 0, run.stderr
        header, _, *lines = run.stdout.splitlines()
        assert header.split() == ["name", "label", "type", "field", "type", "group", "options",
                                  "marks"]  # fmt: skip
        rows = [re.split(r"\s{2,}", line.strip()) for line in lines]
        assert sorted(rows) == sorted(
            [
                name, d["label"], d["type"], d["fieldType"], d["groupName"],
                f"{len(d['options'])}" if d["options"] else "-", marks(d),
            ]
            for name, d in every_property.items()
        )  # fmt: skip
        custom = sum(not d["hubspotDefined"] for d in every_property.values())
        hidden = sum(d["hidden"] for d in every_property.values())
        calculated = sum(d["calculated"] for d in every_property.values())
        said = f"({custom} custom, {hidden} hidden, {calculated} calculated) of run job_"
        assert f"{len(every_property)} properties {said}" in run.stderr
        assert run.stderr.rstrip().endswith(", completed")

    def test_80_columns_keep_names_and_types(
        self, wide_cli: Cli, every_property: Definitions
    ) -> None:
        run = wide_cli("scan", "schema", "cli-all", COLUMNS="80")
        assert run.returncode == 0, run.stderr
        lines = run.stdout.splitlines()
        assert all(len(line) <= 80 for line in lines), lines
        rows = [line.split()[:3] for line in lines[2:]]
        assert sorted(rows) == sorted(
            [n, d["type"], d["fieldType"]] for n, d in every_property.items()
        )

    def test_unknown_scan_exits_5(self, cli: Cli) -> None:
        assert_error_line(cli("scan", "schema", "cli-nothing"), 5, "SCAN_NOT_FOUND")


def oldest_first(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """HubSpot's history (newest first) as the rows carry it."""
    return [
        {
            "value": e["value"],
            "timestamp": e["timestamp"].replace(".000Z", "Z"),
            "source": e["sourceType"],
            "source_id": e.get("sourceId"),
        }
        for e in reversed(entries)
    ]


@pytest.fixture(scope="module")
def history_rows(wide_cli: Cli, wide_portal: SandboxProcess) -> list[dict[str, Any]]:
    """``cli-history``: --history repeated and comma-separated; its rows."""
    history = ("--history", "amount", "--history", "dealstage,dealname")
    start(wide_cli, wide_portal, "cli-history", "-p", "amount,dealstage", *history)
    return all_rows(wide_cli, "cli-history")


class TestHistory:
    def test_rows_carry_every_value(
        self, history_rows: list[dict[str, Any]], wide_portal: SandboxProcess
    ) -> None:
        truth = {
            d["id"]: d["propertiesWithHistory"]
            for d in wide_portal.truth(history=HISTORY)
            if not d["archived"]
        }
        assert len(history_rows) == len(truth) and any(
            len(r["property_history"]["dealstage"]) > 1 for r in history_rows
        )
        for row in history_rows:
            kept = truth[row["deal_id"]]
            got = {
                name: [v | {"timestamp": v["timestamp"].replace(".000Z", "Z")} for v in values]
                for name, values in row["property_history"].items()
            }
            assert got == {n: oldest_first(kept.get(n, [])) for n in HISTORY}, row["deal_id"]

    def test_export_table_property_history(
        self, wide_cli: Cli, history_rows: list[dict[str, Any]], tmp_path: Path
    ) -> None:
        """A line per value, in the rows' order, in the file the service names."""
        run = wide_cli(
            "scan", "export", "cli-history", "--table", "property_history", "-f", "ndjson",
            cwd=tmp_path,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert run.stdout == "cli-history.property_history.ndjson\n"
        assert f"wrote the history of {len(history_rows):,} deals, " in run.stderr
        text = (tmp_path / "cli-history.property_history.ndjson").read_text(encoding="utf-8")
        assert [json.loads(line) for line in text.splitlines()] == [
            {"deal_id": row["deal_id"], "property": name} | value
            for row in history_rows
            for name, values in row["property_history"].items()
            for value in values
        ]

    def test_a_scan_without_history_has_no_such_table(
        self, wide_cli: Cli, every_property: Definitions, tmp_path: Path
    ) -> None:
        run = wide_cli("scan", "export", "cli-all", "--table", "property_history", cwd=tmp_path)
        assert_error_line(run, 2, "VALIDATION_ERROR", "table: ")
        assert list(tmp_path.iterdir()) == []


# -- last: these change the portal's schema ---------------------------------------------------


@pytest.fixture(scope="module")
def evolved(
    wide_cli: Cli, wide_portal: SandboxProcess, wide_service: ServiceProcess
) -> tuple[Run, Run, dict[str, Any], str]:
    """``cli-evolving`` of every property; a property created and a text one made a number; an
    incremental run. Both runs' output, the API's status and the retyped name."""
    first = start(wide_cli, wide_portal, "cli-evolving", "--all-properties")
    text = next(
        n
        for n, d in definitions(wide_portal).items()
        if d["fieldType"] == "text" and not d["hubspotDefined"]
    )
    wide_portal.change_properties(
        create=[{"name": "x_new", "label": "X new", "type": "string", "fieldType": "text"}],
        retype={text: {"type": "number", "fieldType": "number"}},
    )
    again = start(
        wide_cli, wide_portal, "cli-evolving", "--all-properties", "--mode", "incremental"
    )
    return first, again, wide_service.status("cli-evolving"), text


class TestSchemaChanges:
    def test_status_says_what_changed(
        self, wide_cli: Cli, evolved: tuple[Run, Run, dict[str, Any], str]
    ) -> None:
        """The counts, the names, and the values that no longer fit their type; the same in
        ``start --wait``'s table and ``scan status``'s, none of it after a first run."""
        first, again, status, text = evolved
        untyped = status["results"]["untyped_values"]
        assert status["schema_changes"]["added"] == ["x_new"] and untyped > 0, status
        assert not {"schema", "untyped values"} & set(fields(first.stdout))
        shown = fields(wide_cli("scan", "status", "cli-evolving").stdout)
        for table in (fields(again.stdout), shown):
            assert table["schema"] == "1 added, 1 retyped since the previous run"
            assert table["added properties"] == "x_new"
            assert table["retyped properties"] == f"{text} (string/text → number/number)"
            assert "removed properties" not in table
            assert table["untyped values"] == f"{untyped:,} (kept as text)"
