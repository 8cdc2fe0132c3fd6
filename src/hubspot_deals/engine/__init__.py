"""The scan: fetch plan, transformation to result rows, checkpoints, progress, cancellation."""

from hubspot_deals.engine.rows import DEFAULT_PROPERTIES
from hubspot_deals.engine.scan import (
    DEFAULT_ASSOCIATIONS,
    Claimed,
    ScanContext,
    claim_scan,
    run_claimed,
)

__all__ = [
    "DEFAULT_ASSOCIATIONS",
    "DEFAULT_PROPERTIES",
    "Claimed",
    "ScanContext",
    "claim_scan",
    "run_claimed",
]
