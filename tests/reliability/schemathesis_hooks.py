"""The one rule of the start body that JSON Schema cannot state: a date filter's endDate is not
before its startDate (the document says so in words; the service answers 400). Schema-valid bodies
that break it are not generated, so a 400 for them is not taken for a rejected valid request."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import schemathesis

from hubspot_deals.api.schemas import TOKEN_RE


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
