"""Fixtures shared by the robustness tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from filling import small_disk

SMALL_DISK_BYTES = 6 * 2**20


@pytest.fixture
def disk(request: pytest.FixtureRequest, tmp_path: Path, mountable: None) -> Iterator[Path]:
    """A tmpfs of the test's own, unmounted at its end: ``DISK_BYTES`` of the test's module
    big, else 6 MiB."""
    size = getattr(request.module, "DISK_BYTES", SMALL_DISK_BYTES)
    with small_disk(tmp_path / "disk", size) as folder:
        yield folder
