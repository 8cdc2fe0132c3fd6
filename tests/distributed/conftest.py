"""Tests of the distributed mode itself: they build their deployments explicitly, so they run once,
in the ordinary pass of the suite (PostgreSQL and Redis on 127.0.0.1)."""

from tests.e2e.conftest import make_service, portal

__all__ = ["make_service", "portal"]
