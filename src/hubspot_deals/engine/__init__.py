"""The scan: fetch plan, transformation to result rows, checkpoints, progress, cancellation."""

from hubspot_deals.engine.context import ScanContext
from hubspot_deals.engine.filters import ScanFilters, day_bounds_ms
from hubspot_deals.engine.rows import DEFAULT_ASSOCIATIONS, DEFAULT_PROPERTIES
from hubspot_deals.engine.scan import Claimed, claim_scan, run_claimed
from hubspot_deals.engine.spec import ScanSpec, spec_of

__all__ = [
    "DEFAULT_ASSOCIATIONS",
    "DEFAULT_PROPERTIES",
    "Claimed",
    "ScanContext",
    "ScanFilters",
    "ScanSpec",
    "claim_scan",
    "day_bounds_ms",
    "run_claimed",
    "spec_of",
]
