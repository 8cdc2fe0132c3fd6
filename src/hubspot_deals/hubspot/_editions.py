"""HubSpot's API editions: the path of every endpoint the client calls, per edition.

Since March 2026 HubSpot versions its APIs by date in the path (``/crm/objects/2026-09/deals``);
the numeric paths (``/crm/v3``, ``/crm/v4``) are the legacy edition, unsupported from September
2027. The answers' shapes are the same for a reader, but for one thing: the dated editions answer
a batch read with missing ids 200 (the errors in the body), where v3 and v4 answered 207. Both
are read the same way. The rate-limit exemptions are the same in every edition (search and the
association batch read are outside the ten-second window).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Edition = Literal["2026-09", "2026-03", "legacy"]
#: Newest first; the first is the default (HubSpot tells new integrations to use the latest).
EDITIONS: tuple[Edition, ...] = ("2026-09", "2026-03", "legacy")
LATEST: Edition = EDITIONS[0]


@dataclass(frozen=True)
class Paths:
    """The paths of one edition; ``associations`` takes ``{to_type}``."""

    deals: str
    associations: str
    properties: str
    pipelines: str
    owners: str
    account_details: str
    oauth: str  #: the token endpoint (refresh and code exchange)


def paths_for(edition: Edition) -> Paths:
    if edition == "legacy":
        return Paths(
            deals="/crm/v3/objects/deals",
            associations="/crm/v4/associations/deals/{to_type}/batch/read",
            properties="/crm/v3/properties/deals",
            pipelines="/crm/v3/pipelines/deals",
            owners="/crm/v3/owners",
            account_details="/account-info/v3/details",
            oauth="/oauth/v3/token",
        )
    if edition not in EDITIONS:
        raise ValueError(f"HubSpot API edition must be one of {EDITIONS}, not {edition!r}")
    return Paths(
        deals=f"/crm/objects/{edition}/deals",
        associations=f"/crm/associations/{edition}/deals/{{to_type}}/batch/read",
        properties=f"/crm/properties/{edition}/deals",
        pipelines=f"/crm/pipelines/{edition}/deals",
        owners=f"/crm/owners/{edition}",
        account_details=f"/account-info/{edition}/details",
        oauth=f"/oauth/{edition}/token",
    )
