"""The repository checks its own rules: import directions, documented settings and flags."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import typer.main

from hubspot_deals.cli import app
from hubspot_deals.config import Settings

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "hubspot_deals"

#: layer -> the hubspot_deals layers it must never import
FORBIDDEN = {
    "hubspot": {
        "sandbox",
        "store",
        "api",
        "engine",
        "jobs",
        "metrics",
    },  # the client knows nothing of our database (nor of Prometheus: it has on_call)
    "sandbox": {
        "hubspot",
        "store",
        "api",
        "engine",
        "jobs",
    },  # the stand-in shares no code with the client
    "engine": {"api"},
}


def imported_layers(path: Path) -> set[str]:
    layers = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "hubspot_deals" and len(parts) > 1:
                layers.add(parts[1])
    return layers


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_import_directions(layer: str) -> None:
    """hubspot/ and sandbox/ stay independent of each other and of the service's layers."""
    offenders = {
        str(path.relative_to(PACKAGE)): found
        for path in (PACKAGE / layer).rglob("*.py")
        if (found := imported_layers(path) & FORBIDDEN[layer])
    }
    assert not offenders


def test_every_setting_is_documented() -> None:
    """Each environment variable Settings reads appears in the README's configuration table."""
    readme = (ROOT / "README.md").read_text()
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in readme]
    assert not missing


def test_every_sandbox_flag_is_documented() -> None:
    """Each ``hubspot-deals sandbox`` option appears in docs/sandbox.md."""
    doc = (ROOT / "docs" / "sandbox.md").read_text()
    command = typer.main.get_command(app).commands["sandbox"]  # type: ignore[attr-defined]
    flags = [opt for param in command.params for opt in param.opts if opt.startswith("--")]
    assert flags
    assert [flag for flag in flags if f"`{flag}" not in doc] == []
