"""Reliability and security suites: faults, crashes, bad input, tenancy and secrets, load.

Each builds its deployments explicitly (embedded, or PostgreSQL + Redis + workers), so they run
once, in the ordinary pass of the suite. The long ones are marked ``slow``: ``make test`` and CI run
them; ``pytest -m "not slow"`` leaves them out for a quick pass. Each prints its figures
(``pytest -s`` shows them); docs/reliability.md records them.
"""

import pytest

from tests.e2e.conftest import make_service, portal

__all__ = ["make_service", "portal"]

MODES = ("embedded", "distributed")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that takes ``mode`` runs in each mode its module names in ``MODES``: a file can hand
    its tests' distributed runs to another test process by re-exporting them from a file of their
    own with ``MODES = ("distributed",)`` (the test processes take whole files)."""
    if "mode" in metafunc.fixturenames:
        metafunc.parametrize("mode", getattr(metafunc.module, "MODES", MODES))
