"""The scan: fetch plan, transformation to result rows, checkpoints, progress, cancellation."""

from hubspot_deals.engine.context import ScanContext
from hubspot_deals.engine.rows import (
    DEFAULT_ASSOCIATIONS,
    DEFAULT_PROPERTIES,
    requested_of,
    wants_stage_history,
)
from hubspot_deals.engine.scan import Claimed, claim_scan, run_claimed

__all__ = [
    "DEFAULT_ASSOCIATIONS",
    "DEFAULT_PROPERTIES",
    "Claimed",
    "ScanContext",
    "claim_scan",
    "requested_of",
    "run_claimed",
    "wants_stage_history",
]
