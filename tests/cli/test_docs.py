"""docs/cli.md keeps up with the commands: every option of every ``scan`` command, every exit code."""

from __future__ import annotations

from pathlib import Path

import typer.main

from hubspot_deals.cli import app
from hubspot_deals.console.exit_codes import ExitCode

DOC = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()


def test_every_scan_option_is_documented() -> None:
    scan = typer.main.get_command(app).commands["scan"]  # type: ignore[attr-defined]
    flags = {
        opt
        for command in scan.commands.values()
        for param in command.params
        for opt in (*param.opts, *param.secondary_opts)
        if opt.startswith("-") and opt != "--help"
    }
    assert len(scan.commands) == 8 and "--cancel-on-interrupt" in flags
    assert [name for name in scan.commands if f"## `scan {name}" not in DOC] == []
    assert sorted(flag for flag in flags if f"`{flag}" not in DOC) == []


def test_every_schedule_command_and_option_is_documented() -> None:
    group = typer.main.get_command(app).commands["schedule"]  # type: ignore[attr-defined]
    flags = {
        opt
        for command in group.commands.values()
        for param in command.params
        for opt in (*param.opts, *param.secondary_opts)
        if opt.startswith("-") and opt != "--help"
    }
    assert len(group.commands) == 7 and "--every" in flags
    assert [name for name in group.commands if f"`schedule {name}" not in DOC] == []
    assert sorted(flag for flag in flags if f"`{flag}" not in DOC) == []


def test_every_exit_code_is_in_the_table() -> None:
    assert [code for code in ExitCode if f"\n| {code.value} | " not in DOC] == []
