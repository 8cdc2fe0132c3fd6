"""A scan's config from the command line: a JSON file (``--config``) with the flags laid over
it, the token from a flag or the environment, checked where the API would refuse it."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from hubspot_deals.console.api_client import JSON
from hubspot_deals.console.common import fail
from hubspot_deals.console.exit_codes import ExitCode


def read_config(path: Path) -> JSON:
    """A config file: ``{"config": {...}}`` (a start request body) or the bare config."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read --config {path}: {exc}", ExitCode.USAGE)
    try:
        data = json.loads(text)
    except ValueError as exc:
        fail(f"--config {path} is not JSON: {exc}", ExitCode.USAGE)
    if isinstance(data, dict) and isinstance(data.get("config"), dict):
        data = data["config"]
    if not isinstance(data, dict):
        fail(f"--config {path} must hold a JSON object (a scan config)", ExitCode.USAGE)
    return data


def split_list(values: list[str] | None) -> list[str] | None:
    """Repeatable options that also take comma-separated lists: ``-p a,b -p c`` is a, b, c."""
    if values is None:
        return None
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def chosen_properties(names: list[str] | None, every: bool) -> list[str] | str | None:
    """``config.properties`` of ``--properties`` or ``--all-properties`` ("all"); both is a
    mistake said here, as the service could only see one of them."""
    if every and names is not None:
        fail("give --all-properties or --properties, not both", ExitCode.USAGE)
    return "all" if every else names


def from_command_line(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` was typed, not taken from its environment variable."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def build_config(base: JSON, token: str | None, token_from_flag: bool, **flags: Any) -> JSON:
    """The config to send: the file's, then each given flag over it (None means "not given").

    ``auth`` is a token or an OAuth grant (``--client-id``, ``--client-secret``,
    ``--refresh-token``). The order is flags over the file's ``auth`` over the environment
    (HUBSPOT_ACCESS_TOKEN, HUBSPOT_CLIENT_ID...): an explicit file beats an ambient variable, an
    explicit flag beats both; ``--token`` beats a grant, and a grant beats a token from the
    environment."""
    config = dict(base)
    config.setdefault("type", ["hubspot_deals"])
    top = {
        "scanId": flags["scan_id"],
        "type": flags["scan_type"],
        "organizationId": flags["organization_id"],
        "properties": flags["properties"],
        "propertiesWithHistory": flags["properties_with_history"],
        "includeAssociations": flags["include_associations"],
        "associationTypes": flags["association_types"],
        "batchSize": flags["batch_size"],
        "mode": flags["mode"],
        "refreshAssociations": flags["refresh_associations"],
        "includeStageHistory": flags["include_stage_history"],
    }
    config |= {k: v for k, v in top.items() if v is not None}
    filters = {
        "includeArchived": flags["include_archived"],
        "pipelineId": flags["pipeline_id"],
        "dealstage": flags["dealstage"],
    }
    dates = {
        "property": flags["date_property"],
        "startDate": flags["start_date"],
        "endDate": flags["end_date"],
    }
    if any(v is not None for v in (*filters.values(), *dates.values())):
        merged = config.get("filters")
        merged = dict(merged) if isinstance(merged, dict) else {}
        merged |= {k: v for k, v in filters.items() if v is not None}
        if any(v is not None for v in dates.values()):
            date_filter = merged.get("dateFilter")
            date_filter = dict(date_filter) if isinstance(date_filter, dict) else {}
            merged["dateFilter"] = date_filter | {k: v for k, v in dates.items() if v is not None}
        config["filters"] = merged
    grant = {k: flags[k] for k in ("client_id", "client_secret", "refresh_token") if flags[k]}
    if flags.get("connection_id"):  # a stored credential: no secret from the environment
        config["connectionId"] = flags["connection_id"]
        token = token if token_from_flag else None
        grant = grant if flags.get("grant_from_flag") else {}
    auth = config.get("auth")
    in_file = isinstance(auth, dict) and bool(auth)
    if token and (token_from_flag or not (in_file or grant)):
        config["auth"] = {"hubspot_access_token": token}
    elif grant and (flags.get("grant_from_flag") or not in_file):
        config["auth"] = grant
    return config


class ScanMode(StrEnum):
    full = "full"
    incremental = "incremental"
