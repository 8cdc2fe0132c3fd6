"""The one rule of the start body that JSON Schema cannot state: a date filter's endDate is not
before its startDate (the document says so in words; the service answers 400). Schema-valid bodies
that break it are not generated, so a 400 for them is not taken for a rejected valid request."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import schemathesis

from hubspot_deals.api.request_auth import TOKEN_RE
from hubspot_deals.api.requests import SCAN_ID_RE


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value if len(value) > 10 else value + "T00:00:00")
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@schemathesis.hook
def filter_body(ctx: Any, body: Any) -> bool:
    try:
        window = body["config"]["filters"]["dateFilter"]
        start, end = _moment(window["startDate"]), _moment(window["endDate"])
    except (KeyError, TypeError):
        return True
    return start is None or end is None or end >= start


@schemathesis.hook
def map_body(ctx: Any, body: Any) -> Any:
    """Half the start bodies carry the sandbox's real token, so fuzzed configurations run as
    scans (and the engine meets them), not only fail HubSpot's authentication."""
    token = os.environ.get("FUZZ_HUBSPOT_TOKEN")
    try:
        auth = body["config"]["auth"]
        drawn = auth["hubspot_access_token"]
    except (KeyError, TypeError):
        return body
    # only where a valid token was drawn: a negative case must stay negative
    valid = isinstance(drawn, str) and len(drawn) <= 512 and TOKEN_RE.match(drawn)
    if token and valid and len(str(body)) % 2:
        auth["hubspot_access_token"] = token
    return body


@schemathesis.hook
def map_path_parameters(ctx: Any, path_parameters: Any) -> Any:
    """Half the reads of a well-formed scan id ask for a completed scan's (FUZZ_SCAN_ID), so
    results and exports answer with their deals and files, not only 404: a fuzzed id names no
    scan. A malformed id stays as drawn (a negative case must stay negative)."""
    target = os.environ.get("FUZZ_SCAN_ID")
    try:
        drawn = path_parameters["scan_id"]
        method = ctx.operation.method.upper()
    except (AttributeError, KeyError, TypeError):
        return path_parameters
    valid = isinstance(drawn, str) and 0 < len(drawn) <= 255 and SCAN_ID_RE.match(drawn)
    if target and method == "GET" and valid and len(drawn) % 2:
        path_parameters["scan_id"] = target
    return path_parameters
