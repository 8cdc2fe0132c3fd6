"""The sandbox's own tests reach every edition it serves (legacy paths included)."""

from __future__ import annotations

import pytest


@pytest.fixture
def sandbox_editions() -> tuple[str, ...]:
    return ()
