"""Every command's help at 80 columns: click's plain layout, no type column (``<bool>``), no line
past the terminal's width."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

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
    ("scan", "cancel"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "hubspot-deals")
def test_help_fits_80_columns(command: tuple[str, ...]) -> None:
    run = subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
        [sys.executable, "-m", "hubspot_deals", *command, "--help"],
        capture_output=True,
        text=True,
        env=os.environ | {"COLUMNS": "80"},
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "<bool>" not in run.stdout and "list[str]" not in run.stdout
    too_long = [line for line in run.stdout.splitlines() if len(line) > 80]
    assert not too_long, too_long
