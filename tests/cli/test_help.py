"""Every command's help at 80 columns: click's plain layout, no type column (``<bool>``), no line
past the terminal's width. In process: help is click's formatting of the app, no server involved."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hubspot_deals.cli import app

COMMANDS = [
    (),
    ("serve",),
    ("worker",),
    ("sandbox",),
    ("keys", "create"),
    ("scan",),
    ("scan", "start"),
    ("scan", "status"),
    ("scan", "list"),
    ("scan", "results"),
    ("scan", "export"),
    ("scan", "schema"),
    ("scan", "changes"),
    ("scan", "cancel"),
    ("connection",),
    ("connection", "create"),
    ("schedule",),
    ("schedule", "create"),
    ("schedule", "update"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "hubspot-deals")
def test_help_fits_80_columns(command: tuple[str, ...]) -> None:
    run = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "80"}, color=False)
    assert run.exit_code == 0, run.output
    assert "<bool>" not in run.stdout and "list[str]" not in run.stdout
    too_long = [line for line in run.stdout.splitlines() if len(line) > 80]
    assert not too_long, too_long
