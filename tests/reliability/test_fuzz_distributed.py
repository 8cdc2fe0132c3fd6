"""test_fuzz.py's tests in the distributed mode, in a file of their own so that another test process
runs them beside the embedded ones (the processes take whole files)."""

from __future__ import annotations

from tests.reliability.test_fuzz import test_schemathesis_every_check_every_operation

MODES = ("distributed",)

__all__ = ["test_schemathesis_every_check_every_operation"]
