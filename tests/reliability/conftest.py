"""Reliability and security suites: faults, crashes, bad input, tenancy and secrets, load.

Each builds its deployments explicitly (embedded, or PostgreSQL + Redis + workers), so they run
once, in the ordinary pass of the suite. The long ones are marked ``slow``: ``make test`` and CI run
them; ``pytest -m "not slow"`` leaves them out for a quick pass. Each prints its figures
(``pytest -s`` shows them); docs/reliability.md records them.
"""

from tests.e2e.conftest import make_service, portal

__all__ = ["make_service", "portal"]

MODES = ("embedded", "distributed")
