"""The repository checks its own rules: import directions, documented settings and flags."""

from __future__ import annotations

import ast
import re
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
        "config",
    },  # the client knows nothing of our database, Prometheus (it has on_call) or settings
    "sandbox": {
        "hubspot",
        "store",
        "api",
        "engine",
        "jobs",
    },  # the stand-in shares no code with the client
    "engine": {"api"},
    "store": {"engine", "jobs", "api"},  # the store answers questions; it drives nothing
    "jobs": {"api"},
}
#: What HTTP code may not touch: it asks the jobs services (jobs/), which own the questions.
STORE_INTERNALS = {"JobRepository", "DealRepository", "KeyRepository"}
RAW_SQL = {"text", "select", "insert", "update", "delete"}


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


def imported_names(path: Path, module_prefix: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(module_prefix):
            names |= {alias.name for alias in node.names}
    return names


def test_http_code_asks_the_services() -> None:
    """Routes, views and dependencies call jobs/ functions: no repository, no SQL of their own."""
    offenders = {
        str(path.relative_to(PACKAGE)): found
        for path in (PACKAGE / "api").rglob("*.py")
        if (
            found := (imported_names(path, "hubspot_deals.store") & STORE_INTERNALS)
            | (imported_names(path, "sqlalchemy") & RAW_SQL)
        )
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


CAMEL = re.compile(r"^[a-z]+[A-Z]\w*$")


def camel_case_reads(path: Path) -> list[str]:
    """``x["scanId"]`` and ``x.get("batchSize")``: a config's keys read out of a dict."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        key = None
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            key = node.slice.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            key = node.args[0].value
        if isinstance(key, str) and CAMEL.match(key):
            found.append(f"{path.name}:{node.lineno} {key}")
    return found


def test_below_the_api_nothing_reads_a_config_dict() -> None:
    """The engine, the jobs services and the store ask the typed ScanSpec, built at the API edge."""
    offenders = [
        hit
        for layer in ("engine", "jobs", "store")
        for path in (PACKAGE / layer).rglob("*.py")
        if "migrations" not in path.parts
        for hit in camel_case_reads(path)
    ]
    assert not offenders


#: Modules that are data tables (fixed metadata, vocabularies), exempt from the size rule.
DATA_TABLES = {"sandbox/catalog.py", "sandbox/words.py"}
MAX_MODULE_LINES = 400


def test_modules_stay_small() -> None:
    """One owner a module: none over 400 lines but the data tables."""
    oversized = {
        name: lines
        for path in PACKAGE.rglob("*.py")
        if (name := str(path.relative_to(PACKAGE))) not in DATA_TABLES
        and "migrations" not in path.parts
        and (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not oversized


def _locked() -> dict[str, str]:
    pins = re.findall(
        r"^([A-Za-z0-9._-]+)==([^\s]+)", (ROOT / "requirements.lock").read_text(), re.M
    )
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in pins}


def test_every_dependency_is_locked_and_installed_from_the_lock() -> None:
    """requirements.lock pins every dependency (direct and transitive, dev included); make
    installs with it as constraints; and this very environment holds the pinned versions."""
    from importlib.metadata import PackageNotFoundError, version

    locked = _locked()
    project = (ROOT / "pyproject.toml").read_text()
    direct = re.findall(r'^\s+"([A-Za-z0-9._-]+)(?:\[[^\]]*\])?[<>=!~ ;]', project, re.M)
    assert direct, "no dependencies found in pyproject.toml"
    missing = {d for d in direct if re.sub(r"[-_.]+", "-", d).lower() not in locked}
    assert not missing, missing
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet -c $(LOCK) -e '.[dev]'" in makefile
    assert "-c requirements.lock" in (ROOT / "Dockerfile").read_text()
    drift = {}
    for name, pinned in locked.items():
        try:
            installed = version(name)
        except PackageNotFoundError:  # a platform-specific dependency of another platform
            continue
        if installed != pinned:
            drift[name] = (installed, pinned)
    assert not drift, drift


def test_docs_api_is_the_complete_reference(tmp_path: Path) -> None:
    """Every operation of the OpenAPI document is documented in docs/api.md (`GET /path`), and no
    doc sends readers to a contract file outside the repository."""
    from hubspot_deals.api.app import create_app

    document = create_app(Settings(data_dir=tmp_path)).openapi()
    reference = (ROOT / "docs" / "api.md").read_text()
    missing = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method in operations
        if f"{method.upper()} {path}" not in reference
    ]
    assert not missing, missing
    for doc in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        text = doc.read_text()
        assert "api-spec.md" not in text and "../shared" not in text, doc.name
