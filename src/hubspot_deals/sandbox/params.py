"""Reading a request the way HubSpot's edge does: repeated and comma-separated list parameters,
booleans, bounded integers, and the opaque paging cursors."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from starlette.requests import Request

DEAL_TYPES = frozenset({"deals", "deal", "0-3"})
MAX_LIST_LIMIT = 100
MAX_BATCH_READ = 100
#: With ``propertiesWithHistory``, a list page holds at most this many deals (fact sheet section 1).
MAX_WITH_HISTORY = 50
HISTORY_LIMIT_MESSAGE = (
    f"You can only request at most {MAX_WITH_HISTORY} objects with property history."
)
MAX_ASSOCIATION_BATCH = 1_000
ASSOCIATION_PAGE = 500
MAX_OWNERS_LIMIT = 500

V4_TYPES = {  # canonical type -> (typeId, label) of each v4 association type, primary first
    "contacts": ((3, None),),
    "companies": ((5, "Primary"), (341, None)),
    "line_items": ((19, None),),
}


#: The API editions HubSpot serves: dated ones (``/crm/objects/2026-09/deals``) and the numeric
#: paths of v3 and v4 (``legacy``). The sandbox serves all of them unless told otherwise.
EDITIONS = ("2026-09", "2026-03", "legacy")


def dated(request: Request) -> bool:
    """Whether the request came through a dated edition's path (``/crm/objects/2026-09/...``):
    those answer a batch read with missing ids 200, and association ids as strings."""
    return not request.url.path.startswith(("/crm/v", "/account-info/v", "/oauth/v"))


class BadRequest(Exception):
    """A malformed parameter: HubSpot answers 400 VALIDATION_ERROR."""


def list_param(request: Request, name: str) -> list[str]:
    """Comma-separated and repeated forms, as HubSpot accepts both."""
    return [
        v.strip() for raw in request.query_params.getlist(name) for v in raw.split(",") if v.strip()
    ]


def bool_param(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false").lower()
    if raw not in ("true", "false"):
        raise BadRequest(f"{name} must be true or false.")
    return raw == "true"


def int_param(request: Request, name: str, default: int, top: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 0 < int(raw) <= top:
        raise BadRequest(f"{name} must be an integer between 1 and {top}.")
    return int(raw)


def encode_cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode("-".join(map(str, parts)).encode()).decode()


def decode_offset(cursor: str | None) -> int:
    """The offset inside an opaque per-record association cursor."""
    if not cursor:
        return 0
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode().rsplit("-", 1)[1])
    except (ValueError, IndexError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest("after is not a valid paging cursor.") from exc


async def json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest("Invalid input JSON on line 1.") from exc
