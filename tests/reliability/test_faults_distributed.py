"""test_faults.py's tests in the distributed mode, in a file of their own so that another test process
runs them beside the embedded ones (the processes take whole files)."""

from __future__ import annotations

from tests.reliability.test_faults import (
    test_every_deal_once_under_faults,
    test_retries_exhausted_mid_scan,
)

MODES = ("distributed",)

__all__ = ["test_every_deal_once_under_faults", "test_retries_exhausted_mid_scan"]
