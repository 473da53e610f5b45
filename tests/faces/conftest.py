"""Fixtures shared by the tests of the faces."""

from __future__ import annotations

import pytest


@pytest.fixture(params=[False, True], ids=["on-disk", "in-memory"])
def aiostore_in_memory(request: pytest.FixtureRequest) -> bool:
    """The plugin's services (``aiostore_service``, ``aiostore_sync_service``,
    ``aiostore_pypet_service``) run each test on a file on disk and on one held in memory:
    the same tests, the same semantics."""
    return bool(request.param)
