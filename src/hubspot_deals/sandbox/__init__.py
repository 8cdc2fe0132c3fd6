"""A faithful stand-in for HubSpot's CRM deal APIs, for tests, benchmarks and the zero-set-up demo.

Run it with ``hubspot-deals sandbox``; build it in process with ``Sandbox(SandboxConfig(...))``.
``ground_truth(deals=..., seed=...)`` yields what an unchurned portal holds, deal by deal.
"""

from collections.abc import Iterator
from typing import Any

from hubspot_deals.sandbox.app import DEMO_TOKEN, Sandbox, SandboxConfig, create_app
from hubspot_deals.sandbox.gateway import FAULT_KINDS
from hubspot_deals.sandbox.portal import Portal


def ground_truth(
    *, deals: int, seed: int = SandboxConfig.seed, custom_properties: int = 0
) -> Iterator[dict[str, Any]]:
    """Every deal of a fresh sandbox with these settings, as ``GET /_sandbox/deals`` streams them."""
    return Portal(deals=deals, seed=seed, custom_properties=custom_properties).ground_truth()


__all__ = ["DEMO_TOKEN", "FAULT_KINDS", "Sandbox", "SandboxConfig", "create_app", "ground_truth"]
